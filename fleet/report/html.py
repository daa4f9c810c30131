"""The HTML report: one self-contained page (inline CSS and JS, no network) picturing a run.

:func:`report_model` turns a ``fleet.summary/v1`` document (one run or merged shards) into a
compact model: per host a row of small values (times in ms since the run's start), the
failures' details apart, and the counts by group × outcome. :func:`html_report` renders it
with Jinja2, autoescaping on; the host data travels as one JSON island (``tojson`` escapes
``<``, ``>``, ``&`` and ``'``), and the page's script only ever sets ``textContent``, so no agent
string is ever parsed as markup. The timeline draws only the rows in view, so 10,000 hosts
cost 10,000 array entries, not 10,000 DOM rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import jinja2

from fleet.models import FINISHED_STATES, Outcome
from fleet.report.recap import rollout_text
from fleet.utc import rfc3339_seconds

T = TypeVar("T")

MAX_LOG_CHARS = 4000
"""Task-log text kept per failed task (the tail: the last lines say why)."""

#: Moments shown: from 1971 (earlier ones are Go's zero time or the epoch a RETRY leaves) to the end
#: of 9999; one outside (a wild clock offset, a tampered summary) is unknown.
_FIRST_MS, _LAST_MS = 365 * 86_400_000, 253_402_300_799_000

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("fleet.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def html_report(doc: Mapping[str, Any]) -> str:
    """The report page for the summary ``doc``; raises ``ValueError`` if ``doc`` is not a summary."""
    return _ENV.get_template("report.html.j2").render(model=report_model(doc))


def report_model(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The values the page shows, from the summary ``doc`` (hostile strings kept as plain data).

    ``hosts`` rows are ``[name, port, address, [group indexes], outcome index, fire, dag start,
    dag end, failure index or -1, duration ms]``, times in ms since ``t0`` or ``None``. DAG times
    come from the agent's clock and are moved onto fleet's clock by the measured offset.
    """
    hosts_doc = doc.get("hosts")
    if not isinstance(hosts_doc, list):
        raise ValueError("not a fleet summary: no hosts list")
    hosts_in = [_dict(h) for h in hosts_doc]  # a host that is not even a mapping shows as blank
    started = _iso_ms(doc.get("started_at"))
    finished = _iso_ms(doc.get("finished_at"))
    outcomes = [o.value for o in Outcome]
    groups = sorted({str(g) for h in hosts_in for g in _list(h.get("groups"))})
    group_index = {g: i for i, g in enumerate(groups)}
    unknown: tuple[int | None, int | None, int | None] = (None, None, None)
    times = [_contained(functools.partial(_host_times, h), unknown) for h in hosts_in]
    moments = [t for row in times for t in row if t is not None]
    t0 = min([m for m in (started, *moments) if m is not None], default=0)
    end = max([m for m in (finished, *moments) if m is not None], default=t0)
    rows: list[list[Any]] = []
    failures: list[dict[str, Any]] = []
    for index, (host, (fire, dag_start, dag_end)) in enumerate(zip(hosts_in, times)):
        outcome = str(host.get("outcome"))
        code = outcomes.index(outcome) if outcome in outcomes else outcomes.index(Outcome.PROTOCOL_ERROR.value)
        failure = -1
        if outcome != Outcome.SUCCEEDED.value:
            failure = len(failures)
            failures.append(_contained(functools.partial(_failure, index, host), _unreadable_failure(index)))
        rows.append([
            str(host.get("host", "")), _int(host.get("port")), str(host.get("address", "")),
            [group_index[str(g)] for g in _list(host.get("groups"))], code,
            _rel(fire, t0), _rel(dag_start, t0), _rel(dag_end, t0), failure, _int(host.get("duration_ms")),
        ])
    return {
        "title": f"fleet {doc.get('operation', '')}: {doc.get('inventory', '')}",
        "meta": _meta(doc),
        "counts": _counts(rows, groups, outcomes),
        "data": {"outcomes": outcomes, "groups": groups, "span": max(1, end - t0), "t0": _utc(t0),
                 "hosts": rows, "failures": failures},
    }


def _contained(build: Callable[[], T], fallback: T) -> T:
    """``build()``, or ``fallback`` when one host's values break it: that entry shows less, the page still renders."""
    try:
        return build()
    except (ValueError, TypeError, OverflowError, ArithmeticError, LookupError, RecursionError):
        return fallback


def _unreadable_failure(index: int) -> dict[str, Any]:
    return {"h": index, "code": "", "message": "fleet could not read this host's failure from the summary",
            "traces": [], "dag": "", "tasks": []}


def _meta(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    items = [("operation", doc.get("operation")), ("inventory", doc.get("inventory")), ("limit", doc.get("limit")),
             ("shard", doc.get("shard")), ("rollout", rollout_text(doc) or None),
             ("started", doc.get("started_at")), ("finished", doc.get("finished_at")),
             ("duration", f"{_int(doc.get('duration_ms')) / 1000:.1f} s"), ("fleet", doc.get("fleet_version"))]
    if doc.get("interrupted"):
        items.append(("interrupted", "yes"))
    if doc.get("error"):
        items.append(("fleet error", doc.get("error")))
    return [(key, str(value)) for key, value in items if value is not None]


def _counts(rows: list[list[Any]], groups: list[str], outcomes: list[str]) -> dict[str, Any]:
    """Counts per group (a host counts in each of its groups) and outcome, with an all-hosts row."""
    table = [[0] * len(outcomes) for _ in range(len(groups) + 1)]
    for row in rows:
        table[0][row[4]] += 1
        for group in row[3]:
            table[group + 1][row[4]] += 1
    shown = [i for i in range(len(outcomes)) if table[0][i]]
    lines = []
    for label, group, counts in zip(["all hosts", *groups], ["", *groups], table):
        cells = [(counts[i], _href(group, outcomes[i])) for i in shown]
        lines.append({"label": label, "href": _href(group, ""), "total": sum(counts), "cells": cells})
    return {"outcomes": [outcomes[i] for i in shown], "rows": lines}


def _href(group: str, outcome: str) -> str:
    parts = [f"group={quote(group, safe='')}"] if group else []
    if outcome:
        parts.append(f"outcome={outcome}")
    return "#" + "&".join(parts)


def _failure(index: int, host: Mapping[str, Any]) -> dict[str, Any]:
    error = _dict(host.get("error"))
    dag = _dict(host.get("dag"))
    tasks = []
    for task in _list(host.get("failed_tasks")):
        if isinstance(task, dict):
            logs = "\n".join(str(line) for line in _list(task.get("task_logs")))
            tasks.append({"node": str(task.get("node", "")), "task": str(task.get("task", "")),
                          "agent": str(task.get("execute_agent") or ""), "logs": logs[-MAX_LOG_CHARS:]})
    return {
        "h": index,
        "code": str(error.get("errCode") or ""),
        "message": str(error.get("message") or ""),
        "traces": [str(t) for t in _list(host.get("trace_ids"))],
        "dag": f"{dag.get('id', '')} {dag.get('name', '')} {dag.get('state', '')}" if dag else "",
        "tasks": tasks,
    }


def _host_times(host: Mapping[str, Any]) -> tuple[int | None, int | None, int | None]:
    """Fire, DAG start and DAG end in Unix ms on fleet's clock (None where unknown)."""
    dag = _dict(host.get("dag"))
    offset = host.get("clock_offset_ms")
    shift = offset if isinstance(offset, int) and not isinstance(offset, bool) else 0
    start, end = _rfc3339_ms(dag.get("start_time")), _rfc3339_ms(dag.get("end_time"))
    if dag.get("state") not in FINISHED_STATES:
        end = None  # obshell shows the creation time as end_time until the DAG finishes
    return (_iso_ms(host.get("fired_at")),
            _moment(start - shift) if start is not None else None, _moment(end - shift) if end is not None else None)


def _moment(ms: int) -> int | None:
    """``ms`` if it is a moment worth showing (1971 to 9999), else None: the time is unknown."""
    return ms if _FIRST_MS <= ms <= _LAST_MS else None


def _rfc3339_ms(text: object) -> int | None:
    """Unix ms of an RFC 3339 time (the agent's, nanoseconds allowed); None for Go's zero time or junk."""
    seconds = rfc3339_seconds(text.strip()) if isinstance(text, str) else None
    return _moment(round(seconds * 1000)) if seconds is not None else None


def _iso_ms(text: object) -> int | None:
    return _rfc3339_ms(text)


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _rel(moment: int | None, t0: int) -> int | None:
    return None if moment is None else moment - t0


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
