"""A past run's hosts read on a terminal: the failed sub-tasks' logs, and one host's whole record.

Pure text from a summary document (``fleet show`` prints it). Every agent string goes through
:func:`fleet.report.sanitize.printable`; task logs are shown line by line, each wrapped to the
width, the newest :data:`LOG_LINES` lines of each failed task unless ``full``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from fleet.models import FINISHED_STATES, Outcome
from fleet.report.sanitize import printable
from fleet.report.table import DEFAULT_WIDTH, INDENT

#: log lines shown per failed task in the run's overview (``--host`` shows them all)
LOG_LINES = 5
#: hosts whose task logs the overview shows; the rest are named with ``--host``
HOSTS_SHOWN = 10


def failed_task_logs(doc: Mapping[str, Any], width: int | None = None, *, hosts_shown: int = HOSTS_SHOWN) -> list[str]:
    """``failed task logs`` for each host whose DAG failed with sub-task logs (the first
    ``hosts_shown`` of them, the newest :data:`LOG_LINES` lines of each task); empty when none."""
    width = max(40, width or DEFAULT_WIDTH)
    with_logs = [h for h in doc["hosts"] if h.get("outcome") != Outcome.SUCCEEDED.value and h.get("failed_tasks")]
    if not with_logs:
        return []
    lines = ["failed task logs (fleet show RUN --host HOST: every line of one host)"]
    for host in with_logs[:hosts_shown]:
        lines.append(f"[{_name(host)}] {printable(str(host['outcome']))}" + _dag_text(host))
        for task in host["failed_tasks"]:
            lines.extend(_task_lines(task, width, LOG_LINES))
    if len(with_logs) > hosts_shown:
        rest = ", ".join(_name(h) for h in with_logs[hosts_shown:])
        lines.extend(textwrap.wrap(f"and {len(with_logs) - hosts_shown} more hosts with task logs: {rest}", width,
                                   subsequent_indent=INDENT, break_on_hyphens=False))
    return lines


def host_record(host: Mapping[str, Any], width: int | None = None) -> list[str]:
    """One host's whole record: outcome, DAG, times, trace ids, error, attempts and every task-log line."""
    width = max(40, width or DEFAULT_WIDTH)
    error = host.get("error") or {}
    dag = host.get("dag") or {}
    # before a DAG finishes obshell reports its start as its end: no end is shown then
    end = dag.get("end_time") if dag.get("state") in FINISHED_STATES else "(not ended)"
    fields: list[tuple[str, Any]] = [
        ("host", f"{_name(host)}  groups {', '.join(map(str, host.get('groups') or [])) or '-'}"),
        ("outcome", host.get("outcome")),
        ("dag", f"{dag.get('id')} {dag.get('state')} stage {dag.get('stage')}/{dag.get('max_stage')} "
                f"operator {dag.get('operator')}" if dag else None),
        ("dag times", f"{dag.get('start_time')} → {end}" if dag else None),
        ("fired at", host.get("fired_at")),
        ("took", f"{host['duration_ms'] / 1000:.1f} s" if isinstance(host.get("duration_ms"), int) else None),
        ("error", ": ".join(str(part) for part in (error.get("errCode"), error.get("message")) if part) or None),
        ("adopted", host.get("adopted")),
        ("resumed", "yes" if host.get("resumed") else None),
        ("agent", host.get("agent_version")),
        ("polls", host.get("polls")),
        ("trace ids", " ".join(map(str, host.get("trace_ids") or [])) or None),
    ]
    lines: list[str] = []
    for label, value in fields:
        if value is None or value == "":
            continue
        lines.extend(textwrap.wrap(printable(str(value)), width, initial_indent=f"{label:<10} ",
                                   subsequent_indent=" " * 11, break_on_hyphens=False))
    for attempt in host.get("attempts") or []:
        text = " ".join(f"{key} {attempt[key]}" for key in ("attempt", "operator", "state", "stage", "trace_id")
                        if attempt.get(key) is not None)
        if attempt.get("message"):
            text += f": {attempt['message']}"
        lines.extend(textwrap.wrap(printable(text), width, initial_indent="attempt    ",
                                   subsequent_indent=" " * 11, break_on_hyphens=False))
    for task in host.get("failed_tasks") or []:
        lines.extend(_task_lines(task, width, None))
    if host.get("failed_tasks_dropped"):
        lines.append(f"({host['failed_tasks_dropped']} more failed tasks were cut by fleet's bounds)")
    return lines


def find_host(doc: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The host named ``name`` (or ``name:port``) in the summary, else None."""
    hosts: Sequence[Mapping[str, Any]] = doc["hosts"]
    return next((h for h in hosts if name in (str(h.get("host")), f"{h.get('host')}:{h.get('port')}")), None)


def _task_lines(task: Mapping[str, Any], width: int, last: int | None) -> list[str]:
    logs = [line for entry in task.get("task_logs") or [] for line in str(entry).splitlines() if line.strip()]
    head = f"{INDENT}task {printable(str(task.get('task')))} (node {printable(str(task.get('node')))})"
    if task.get("execute_agent"):
        head += f" on {printable(str(task['execute_agent']))}"
    shown: Sequence[str] = logs if last is None else logs[-last:]
    lines = [head + (f", last {len(shown)} of {len(logs)} log lines" if len(shown) < len(logs) else "")]
    for line in shown:
        lines.extend(textwrap.wrap(printable(line), width, initial_indent=INDENT * 2,
                                   subsequent_indent=INDENT * 3, break_on_hyphens=False) or [INDENT * 2])
    return lines


def _name(host: Mapping[str, Any]) -> str:
    return printable(f"{host.get('host')}:{host.get('port')}")


def _dag_text(host: Mapping[str, Any]) -> str:
    dag = host.get("dag") or {}
    return f" dag {printable(str(dag.get('id')))} {printable(str(dag.get('state')))}" if dag else ""
