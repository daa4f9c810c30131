"""The failure table printed at the end of a run: which hosts did not succeed, and why, at a glance.

Plain text, columns aligned by display width (wide CJK characters count twice), long cells cut
with an ellipsis, control characters flattened so one host is always one line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from fleet.models import Outcome
from fleet.report.sanitize import terminal_safe

HEADERS = ("HOST", "OUTCOME", "ERRCODE", "LAST LOG", "TRACE ID")
WIDTHS = (40, 15, 40, 72, 36)
"""The widest each column may grow, in terminal cells."""
GAP = "  "
ELLIPSIS = "…"


def failure_table(doc: Mapping[str, Any]) -> str:
    """A table of the hosts in ``doc`` that did not succeed, followed by one totals line.

    ``LAST LOG`` is the last task-log line of the last failed task, or the error message when
    there is no task log. Ends with ``"all N hosts succeeded"`` when nothing failed.
    """
    hosts = doc["hosts"]
    failed = [host for host in hosts if host["outcome"] != Outcome.SUCCEEDED.value]
    lines = [_render(HEADERS, [_row(host) for host in failed])] if failed else []
    lines.append(_totals_line(len(hosts), failed))
    if doc.get("interrupted"):
        lines.append("the run was interrupted")
    if doc.get("error"):
        lines.append(_flatten(f"fleet error: {doc['error']}"))
    return "\n".join(lines)


def _row(host: Mapping[str, Any]) -> tuple[str, ...]:
    error = host["error"] or {}
    return (
        f"{host['host']}:{host['port']}",
        host["outcome"],
        error.get("errCode") or "-",
        _last_log(host) or error.get("message") or "-",
        host["trace_ids"][0] if host["trace_ids"] else "-",
    )


def _last_log(host: Mapping[str, Any]) -> str | None:
    for task in reversed(host["failed_tasks"]):
        for entry in reversed(task["task_logs"]):
            for line in reversed(str(entry).splitlines()):
                if line.strip():
                    return line.strip()
    return None


def _totals_line(total: int, failed: Sequence[Mapping[str, Any]]) -> str:
    if not failed:
        return f"all {total} hosts succeeded" if total else "no hosts selected"
    counts: dict[str, int] = {}
    for host in failed:
        counts[host["outcome"]] = counts.get(host["outcome"], 0) + 1
    breakdown = ", ".join(f"{outcome} {counts[outcome.value]}" for outcome in Outcome if outcome.value in counts)
    return f"{len(failed)} of {total} hosts did not succeed ({breakdown}); {total - len(failed)} succeeded"


def _render(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    cells = [[_fit(_flatten(cell), limit) for cell, limit in zip(row, WIDTHS, strict=True)]
             for row in [headers, *rows]]
    widths = [max(_width(row[column]) for row in cells) for column in range(len(headers))]
    return "\n".join(
        GAP.join(_pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _flatten(text: str) -> str:
    """One line of printable text: whitespace runs collapse, control and bidi characters are escaped
    (``\\x1b``, ``\\u202e``), lone surrogates become U+FFFD."""
    text = terminal_safe(" ".join(text.split()))
    return "".join("\ufffd" if unicodedata.category(char) in ("Cc", "Cs") else char for char in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _width(text: str) -> int:
    return sum(_char_width(char) for char in text)


def _fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` cells, ending in an ellipsis when cut."""
    if _width(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        size = _char_width(char)
        if used + size > limit - 1:
            break
        kept.append(char)
        used += size
    return "".join(kept) + ELLIPSIS


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
