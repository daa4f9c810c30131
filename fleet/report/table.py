"""The failure table printed at the end of a run: which hosts did not succeed, and why, at a glance.

Hosts that failed the same way (outcome, errCode and reason alike) share one entry, so a
hundred skipped hosts read as one line and their names follow, wrapped to the terminal's
width; nothing is cut. The reason is the last task-log line of the last failed task, or the
error message. Every agent string goes through :func:`fleet.report.sanitize.printable` first.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from fleet.models import Outcome
from fleet.report.sanitize import printable

DEFAULT_WIDTH = 100
INDENT = "    "

# Bidirectional-text controls that reorder what a terminal shows (Trojan Source): escaped, never printed.


def failure_table(doc: Mapping[str, Any], width: int | None = None) -> str:
    """The hosts in ``doc`` that did not succeed, grouped by cause, then one totals line.

    Each entry reads ``<outcome> [N hosts] <errCode>: <reason>`` with the hosts (and their first
    trace id) on the indented lines below, wrapped to ``width`` columns. Ends with ``"all N hosts
    succeeded"`` when nothing failed.
    """
    width = max(40, width or DEFAULT_WIDTH)
    hosts = doc["hosts"]
    failed = [host for host in hosts if host["outcome"] != Outcome.SUCCEEDED.value]
    lines: list[str] = []
    for (outcome, code, reason), members in _grouped(failed):
        count = f"[{len(members)} hosts]" if len(members) > 1 else "[1 host]"
        cause = f"{code}: {reason}" if code and reason else code or reason or "-"
        lines.extend(_wrap(f"{outcome} {count} {cause}", width, ""))
        lines.extend(_wrap(", ".join(_member(host) for host in members), width, INDENT))
    lines.extend(_wrap(_totals_line(len(hosts), failed), width, ""))
    if doc.get("interrupted"):
        lines.append("the run was interrupted")
    if doc.get("error"):
        lines.extend(_wrap(f"fleet error: {printable(doc['error'])}", width, ""))
    return "\n".join(lines)


def failure_reason(host: Mapping[str, Any]) -> str:
    """Why ``host`` did not succeed, in one printable line: its last task-log line, else the error message."""
    error = host.get("error") or {}
    return printable(_last_log(host) or error.get("message") or "")


def _grouped(failed: Sequence[Mapping[str, Any]]) -> list[tuple[tuple[str, str, str], list[Mapping[str, Any]]]]:
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for host in failed:
        error = host.get("error") or {}
        key = (host["outcome"], printable(error.get("errCode") or ""), failure_reason(host))
        groups.setdefault(key, []).append(host)
    order = {outcome.value: index for index, outcome in enumerate(Outcome)}
    return sorted(groups.items(), key=lambda item: (order.get(item[0][0], 99), -len(item[1])))


def _member(host: Mapping[str, Any]) -> str:
    name = printable(f"{host['host']}:{host['port']}")
    return f"{name} trace {printable(host['trace_ids'][0])}" if host.get("trace_ids") else name


def _wrap(text: str, width: int, indent: str) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent or INDENT,
                         break_on_hyphens=False) or [indent.rstrip()]


def _last_log(host: Mapping[str, Any]) -> str | None:
    """The last non-empty task-log entry, its lines joined: obshell's own failure entries span lines
    (``ERROR: …failed to start obproxy, output: <obproxy's output>\n: exit status 1``), and their
    last line alone says nothing."""
    for task in reversed(host.get("failed_tasks") or []):
        for entry in reversed(task.get("task_logs") or []):
            text = " ".join(line.strip() for line in str(entry).splitlines() if line.strip())
            if text:
                return text
    return None


def _totals_line(total: int, failed: Sequence[Mapping[str, Any]]) -> str:
    if not failed:
        return f"all {total} hosts succeeded" if total else "no hosts selected"
    counts: dict[str, int] = {}
    for host in failed:
        counts[host["outcome"]] = counts.get(host["outcome"], 0) + 1
    breakdown = ", ".join(f"{outcome} {counts[outcome.value]}" for outcome in Outcome if outcome.value in counts)
    return f"{len(failed)} of {total} hosts did not succeed ({breakdown}); {total - len(failed)} succeeded"
