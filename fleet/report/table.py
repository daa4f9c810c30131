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


#: the narrowest an elided cell gets (its header permitting), and the narrowest the wrapped last column
MIN_CELL = 12
MIN_LAST = 14
ELLIPSIS = "…"


def columns(rows: Sequence[Sequence[str]], width: int | None = None, *, shrink: Sequence[int] = ()) -> list[str]:
    """``rows`` (the header first) as aligned text columns that fit ``width``: never a wrapped row.

    The last column wraps under its own start (or, when the others leave it under
    :data:`MIN_LAST` columns, on indented lines below each row, its header left out); when the
    columns before it are too wide, the ``shrink`` columns (indices, in that order) are elided in the middle down to
    :data:`MIN_CELL` (or their header's width). Without ``width`` the rows are only aligned.
    """
    if not rows:
        return []
    count = len(rows[0])
    widths = [max(len(row[i]) for row in rows) for i in range(count - 1)]
    last_natural = max(len(row[-1]) for row in rows)
    if width is not None:
        for index in shrink:
            excess = sum(widths) + 2 * len(widths) + min(last_natural, MIN_LAST) - width
            if excess <= 0:
                break
            floor = max(MIN_CELL, min(len(rows[0][index]), 12))
            widths[index] = max(floor, widths[index] - excess)
    lead = sum(widths) + 2 * len(widths)
    below = width is not None and width - lead < min(last_natural, MIN_LAST)
    lines = []
    for number, row in enumerate(rows):
        head = "".join(elide(cell, w).ljust(w) + "  " for cell, w in zip(row, widths))
        last = row[-1] if number or not below else ""
        if width is None:
            lines.append((head + last).rstrip())
        elif below:
            lines.append(head.rstrip())
            lines.extend(_wrap(last, width, INDENT) if last else [])
        else:
            wrapped = textwrap.wrap(last, width - lead, break_on_hyphens=False) or [""]
            lines.append((head + wrapped[0]).rstrip())
            lines.extend(" " * lead + more for more in wrapped[1:])
    return lines


def elide(cell: str, width: int) -> str:
    """``cell`` cut in the middle to ``width`` characters (``2026…start``), whole when it fits."""
    if len(cell) <= width:
        return cell
    keep = width - len(ELLIPSIS)
    return cell[: (keep + 1) // 2] + ELLIPSIS + cell[len(cell) - keep // 2:]
