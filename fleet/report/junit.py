"""JUnit XML from a summary document, for GitLab's and Jenkins' test reports.

One ``<testcase>`` per host. Hosts where the operation was attempted and did not succeed are
``<failure>``s; hosts where fleet could not carry the operation out at all (unreachable, refused
credentials, a garbled answer, a bug in fleet contained to the host, an interrupted run) are
``<error>``s; skipped hosts are ``<skipped/>``. Built from the document rather than the models,
so merged shard summaries render the same way.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from fleet.models import Outcome

FAILURE_OUTCOMES = frozenset({
    Outcome.FAILED, Outcome.TIMED_OUT, Outcome.REJECTED, Outcome.PRECHECK_FAILED, Outcome.AMBIGUOUS,
})
ERROR_OUTCOMES = frozenset({
    Outcome.UNREACHABLE, Outcome.AUTH_FAILED, Outcome.PROTOCOL_ERROR, Outcome.INTERNAL_ERROR, Outcome.INTERRUPTED,
})

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# Everything XML 1.0 cannot carry, even as a character reference (C0 controls except TAB/LF/CR,
# lone surrogates, U+FFFE and U+FFFF).
_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids replaced by U+FFFD."""
    return _FORBIDDEN.sub("\ufffd", text)


def junit_xml(doc: Mapping[str, Any]) -> bytes:
    """A UTF-8 JUnit XML report (``<testsuites>`` with one ``<testsuite>``) for a summary document."""
    counts = _counts(doc)
    seconds = _seconds(doc["duration_ms"])
    root = _element("testsuites", name="fleet", time=seconds, **counts)
    suite = _sub(root, "testsuite", name=f"fleet {doc['operation']}", time=seconds,
                 timestamp=doc["started_at"].removesuffix("Z"), **counts)
    properties = _sub(suite, "properties")
    for name in ("operation", "inventory", "limit", "shard", "journal", "fleet_version", "interrupted"):
        if doc.get(name) is not None:
            _sub(properties, "property", name=name, value=_text(doc[name]))
    for host in doc["hosts"]:
        _contained_testcase(suite, host)
    if doc.get("error"):
        _sub(suite, "system-err").text = xml_safe(f"fleet error: {doc['error']}")
    ET.indent(root)
    return _DECLARATION + ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n"


def _contained_testcase(suite: ET.Element, host: Mapping[str, Any]) -> None:
    """The host's testcase; one whose values break it becomes an error testcase saying so (the
    report of every other host is still written)."""
    try:
        scratch = ET.Element("scratch")  # built apart: a half-built testcase is never kept
        _testcase(scratch, host)
        suite.append(scratch[0])
    except (ValueError, TypeError, LookupError, ArithmeticError, AttributeError, RecursionError) as exc:
        name = host.get("host") if isinstance(host, Mapping) else None
        port = host.get("port") if isinstance(host, Mapping) else None
        case = _sub(suite, "testcase", name=f"{name}:{port}"[:300], classname="ungrouped", time="0.000")
        _sub(case, "error", message="fleet could not read this host's entry",
             type="unreadable").text = xml_safe(f"{type(exc).__name__}: {exc}"[:300])


def _testcase(suite: ET.Element, host: Mapping[str, Any]) -> None:
    groups = host["groups"]
    case = _sub(suite, "testcase", name=f"{host['host']}:{host['port']}",
                classname=groups[0] if groups else "ungrouped", time=_seconds(host["duration_ms"]))
    outcome = Outcome(host["outcome"])
    if outcome is Outcome.SKIPPED:
        _sub(case, "skipped", message=_message(host))
    elif outcome in FAILURE_OUTCOMES or outcome in ERROR_OUTCOMES:
        tag = "failure" if outcome in FAILURE_OUTCOMES else "error"
        _sub(case, tag, message=_message(host), type=outcome.value).text = xml_safe(_details(host))
    _sub(case, "system-out").text = xml_safe(_system_out(host))


def _message(host: Mapping[str, Any]) -> str:
    """``"errCode: message"`` when the agent said why, else whatever is known."""
    error = host["error"]
    if error is None:
        outcome: str = host["outcome"]
        return outcome
    if error.get("errCode"):
        return f"{error['errCode']}: {error['message']}"
    return str(error["message"]) or host["outcome"]


def _details(host: Mapping[str, Any]) -> str:
    lines = [f"outcome: {host['outcome']}"]
    error = host["error"]
    if error is not None:
        lines.append(f"error: status={error['status']} code={error['code']} "
                     f"errCode={error['errCode']} message={error['message']}")
    dag = host["dag"]
    if dag is not None:
        lines.append(f"dag: {dag['id']} {dag['name']} state={dag['state']} operator={dag['operator']} "
                     f"stage={dag['stage']}/{dag['max_stage']}")
    for task in host["failed_tasks"]:
        agent = f" on {task['execute_agent']}" if task["execute_agent"] else ""
        lines.append(f"failed task: {task['node']} / {task['task']}{agent}")
        lines.extend(f"  {line}" for line in task["task_logs"])
    return "\n".join(lines)


def _system_out(host: Mapping[str, Any]) -> str:
    dag = host["dag"]
    lines = [
        f"address: {host['address']}:{host['port']}",
        f"dag: {dag['id'] if dag is not None else '-'}",
        f"trace_ids: {' '.join(host['trace_ids']) or '-'}",
        f"agent_version: {host['agent_version'] or '-'}",
        f"polls: {host['polls']}",
    ]
    if host["resumed"]:
        lines.append("resumed: true")
    return "\n".join(lines)


def _counts(doc: Mapping[str, Any]) -> dict[str, str]:
    outcomes = [Outcome(host["outcome"]) for host in doc["hosts"]]
    return {
        "tests": str(len(outcomes)),
        "failures": str(sum(outcome in FAILURE_OUTCOMES for outcome in outcomes)),
        "errors": str(sum(outcome in ERROR_OUTCOMES for outcome in outcomes)),
        "skipped": str(outcomes.count(Outcome.SKIPPED)),
    }


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _element(tag: str, **attributes: str) -> ET.Element:
    return ET.Element(tag, {key: xml_safe(value) for key, value in attributes.items()})


def _sub(parent: ET.Element, tag: str, **attributes: str) -> ET.Element:
    return ET.SubElement(parent, tag, {key: xml_safe(value) for key, value in attributes.items()})
