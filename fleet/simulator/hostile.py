"""Hostile agent behaviours, as fault settings: answers crafted to break or flood a client.

Each setting rewrites the answer an otherwise faithful agent (:mod:`fleet.simulator.agent`)
has built, after it acted, so DAGs and counters stay true to obshell while the bytes on the
wire are hostile. Configured under ``faults: {hostile: {...}}``::

    bad_offset: true              # every envelope timestamp has the offset +99:00
    deep_nesting: [info]          # these routes answer 200,000 nested '['
    info_version: "4.3.²"         # /api/v1/info reports this version (or 5,000 digits, ...)
    huge_trace_id: 3800000        # every answer's traceId is this many characters
    failed_sub_tasks: 95000       # a detailed FAILED DAG lists this many failed sub-tasks, with logs
    echo_password: [start]        # these routes fail with "wrong password <pw>"; every error
                                  # message and failed task log echoes the password too
    control_chars: true           # ANSI/OSC escapes, newlines and U+202E in messages, names, logs
    bad_ids: true                 # DAG polls answer a 5,000-digit id and a non-integer dag_id
    gateway_error: [start]        # these routes act, then answer 502 with an HTML page (a proxy
                                  # in front of the agent gave up waiting for it)
    foreign_dag: [start, dag]     # these routes' DAG names another agent (127.0.0.1:2886) as its owner
    dag_time: '"2025-01-01T00:00:00+99:00"'  # every DAG's start_time and end_time is this JSON value
                                  # (any JSON text: '"0000-01-01T00:00:00Z"', 'NaN', '1e999', '[[[]]]')
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.protocol.dags import DagState
from fleet.protocol.errcodes import ErrCode
from fleet.protocol.wire import error_document

KEYS = ("bad_offset", "deep_nesting", "info_version", "huge_trace_id", "failed_sub_tasks", "echo_password",
        "control_chars", "bad_ids", "gateway_error", "foreign_dag", "dag_time")
GATEWAY_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
#: The ODP generic id prefix of another agent (127.0.0.1:2886): "4" + IPv4 as 10 digits + port.
FOREIGN_PREFIX = "4" + f"{0x7F000001:010d}" + "02886"
BAD_TIMESTAMP = "2025-01-01T00:00:00+99:00"
NESTING = 200_000
#: Terminal attacks: clear screen, set the title (OSC), forge a line, reverse the text after it.
CONTROL_TEXT = "\x1b[2J\x1b]0;pwned\x07\n127.0.0.1  succeeded  forged line \u202edetacilpmoc\x9b31m"


@dataclass(frozen=True, slots=True)
class Hostile:
    """What one agent does to its answers (everything off by default)."""

    bad_offset: bool = False
    deep_nesting: frozenset[str] = field(default_factory=frozenset)
    info_version: str | None = None
    huge_trace_id: int = 0
    failed_sub_tasks: int = 0
    echo_password: frozenset[str] = field(default_factory=frozenset)
    control_chars: bool = False
    bad_ids: bool = False
    gateway_error: frozenset[str] = field(default_factory=frozenset)
    foreign_dag: frozenset[str] = field(default_factory=frozenset)
    #: JSON text put in place of every DAG's ``start_time`` and ``end_time`` (None: the true times)
    dag_time: str | None = None

    @property
    def active(self) -> bool:
        return self != Hostile()


def parse_hostile(base: Hostile, doc: Any, routes: Callable[[Any, str], frozenset[str]],
                  fail: Callable[[str, str], Exception]) -> Hostile:
    """``base`` with the settings of ``doc`` applied. ``routes(value, key)`` validates a route list;
    ``fail(key, message)`` builds the configuration error to raise."""
    if not isinstance(doc, dict):
        raise fail("", "must be a mapping of hostile behaviours")
    changes: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in KEYS:
            raise fail(str(key), f"unknown hostile behaviour {key!r} (known: {', '.join(KEYS)})")
        if key in ("deep_nesting", "echo_password", "gateway_error", "foreign_dag"):
            changes[key] = routes(value, key)
        elif key in ("bad_offset", "control_chars", "bad_ids"):
            if not isinstance(value, bool):
                raise fail(key, "must be true or false")
            changes[key] = value
        elif key == "info_version":
            if value is not None and not isinstance(value, str):
                raise fail(key, "must be a string")
            changes[key] = value
        elif key == "dag_time":
            changes[key] = _json_text(value, key, fail)
        else:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise fail(key, "must be an integer >= 0")
            changes[key] = value
    return replace(base, **changes)


def rewrite(hostile: Hostile, route: str | None, status: int, doc: dict[str, Any] | None,
            password: str) -> tuple[int, dict[str, Any] | None, bytes | None]:
    """``(status, envelope, raw body)`` after the hostile rewrite; a raw body replaces the envelope."""
    if route is not None and route in hostile.deep_nesting:
        return 200, None, b"[" * NESTING
    if route is not None and route in hostile.gateway_error:
        return 502, None, GATEWAY_PAGE
    if doc is None:
        return status, doc, None
    if route is not None and route in hostile.echo_password:
        status = 500
        doc.pop("data", None)
        doc.update(successful=False, status=500,
                   error=error_document(ErrCode.COMMON_UNEXPECTED, None, f"wrong password {password}"))
    if hostile.bad_offset and "timestamp" in doc:
        doc["timestamp"] = BAD_TIMESTAMP
    if hostile.huge_trace_id:
        trace = str(doc.get("traceId", ""))
        doc["traceId"] = trace + "f" * max(0, hostile.huge_trace_id - len(trace))
    error = doc.get("error")
    if isinstance(error, dict):
        error["message"] = _taint(hostile, str(error.get("message", "")), password)
    data = doc.get("data")
    if isinstance(data, dict):
        _rewrite_data(hostile, route, data, password)
    return status, doc, None


def _rewrite_data(hostile: Hostile, route: str | None, data: dict[str, Any], password: str) -> None:
    if route == "info" and hostile.info_version is not None:
        data["version"] = hostile.info_version
    if route not in ("start", "stop", "dag", "dags", "unfinished") or "state" not in data:
        return
    if hostile.control_chars:
        data["name"] = f"{data.get('name', '')}{CONTROL_TEXT}"
    if hostile.dag_time is not None:
        data["start_time"] = data["end_time"] = json.loads(hostile.dag_time)
    if route in hostile.foreign_dag and isinstance(data.get("dag_id"), int):
        data["id"] = f"{FOREIGN_PREFIX}{data['dag_id']}"
    if hostile.bad_ids and route == "dag":
        data["id"] = "4" + "9" * 5000
        data["dag_id"] = "not-a-number"
    nodes = data.get("nodes")
    if data.get("state") != DagState.FAILED or not isinstance(nodes, list) or not nodes:
        return
    for node in nodes:
        for sub in _dicts(node.get("sub_tasks")):
            if sub.get("state") == DagState.FAILED:
                sub["task_logs"] = [_taint(hostile, str(line), password) for line in sub.get("task_logs") or []]
    if hostile.failed_sub_tasks:
        line = _taint(hostile, "e", password)
        nodes[-1]["sub_tasks"] = [{"state": DagState.FAILED, "task_logs": [line]}] * hostile.failed_sub_tasks


def _json_text(value: Any, key: str, fail: Callable[[str, str], Exception]) -> str | None:
    """``value`` if it is None or JSON text (``NaN`` and ``Infinity`` included, as Python writes them)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(key, "must be JSON text (a string)")
    try:
        json.loads(value)
    except (ValueError, RecursionError):
        raise fail(key, "must be JSON text (a string)") from None
    return value


def _taint(hostile: Hostile, text: str, password: str) -> str:
    if hostile.echo_password:
        text = f"{text} (login failed: wrong password {password})"
    if hostile.control_chars:
        text = f"{text}{CONTROL_TEXT}"
    return text


def _dicts(value: Any) -> Iterable[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
