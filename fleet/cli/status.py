"""``fleet status [RUN]``: every host of a past run and its DAG, from the journal; ``--poll`` asks the agents.

Offline by default: each host the run selected, with what its journal recorded (outcome, DAG,
state, end), also hosts that never got a DAG. With ``--poll`` the DAGs are polled again (one
read each, bounded by ``forks``); hosts without a DAG keep their recorded row. The table has a
header and readable UTC times (Go's zero time, ``0001-01-01T00:00:00Z``, is shown as ``-``).
JSON (``fleet.status/v1``) goes to ``-o`` or to stdout when stdout is not a terminal; the table
goes to the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import textwrap
import time
from collections.abc import Mapping
from typing import Any

from fleet.api.paths import JOURNAL_NAME, runs_dir
from fleet.cli.logs import configure_logging
from fleet.cli.outputs import prepare_output, write_output
from fleet.cli.runs import past_runs, recorded_results
from fleet.client import AgentClient, HttpClient
from fleet.engine.priors import JournalState, load_journal
from fleet.errors import AgentError, InputError
from fleet.inventory import load_inventory, resolve_passwords
from fleet.inventory.credentials import check_maskable
from fleet.models import FINISHED_STATES, HostSpec, Limits, Secret, Timeouts
from fleet.protocol.clock import parse_agent_time
from fleet.report.sanitize import Sanitizer, printable
from fleet.report.table import columns

COLUMNS = ("HOST", "OUTCOME", "DAG", "STATE", "OPERATOR", "STAGE", "FIRED (UTC)", "ENDED (UTC)", "NOTE")


def add_parser(sub: Any) -> None:
    """Register ``fleet status`` on the CLI's subparsers."""
    p = sub.add_parser("status", help="every host of a past run and its DAG (offline; --poll asks the agents)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  fleet status                      # the latest run, as recorded\n"
                              "  fleet status --poll               # ... and what each DAG is doing now\n"
                              "  fleet status 20261127T031000Z-4242-obproxy.start --poll -o status.json")
    p.add_argument("run", nargs="?", metavar="RUN",
                   help="a run id, a run folder, or a journal (default: the latest run)")
    p.add_argument("--journal", help="the run's journal (same as RUN)")
    p.add_argument("--poll", action="store_true", help="poll every recorded DAG again (contacts the agents)")
    p.add_argument("-i", "--inventory", help="inventory for --poll (default: the one the journal names)")
    p.add_argument("-o", "--output", help="write the JSON status here")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="warning")


def run_status(args: argparse.Namespace) -> int:
    path, flag = _journal_path(args)
    journal = load_journal(path, flag)
    if args.output:
        prepare_output("--output", args.output)
    redactor = configure_logging(level=args.log_level)
    rows = _recorded_rows(journal, recorded_results(path)[1])
    if args.poll:
        rows = _polled(rows, journal, args, redactor.sanitizer)
    doc = {"schema": "fleet.status/v1", "journal": path, "operation": journal.operation, "polled": bool(args.poll),
           "hosts": rows}
    text = json.dumps(doc, indent=2) + "\n"
    if args.output:
        write_output(args.output, text)
    elif not sys.stdout.isatty():
        sys.stdout.write(text)
    table = sys.stdout if sys.stdout.isatty() else sys.stderr
    title = (f"fleet status: {journal.operation} run {path} ({len(rows)} hosts; "
             + ("DAGs polled now)" if args.poll else "as recorded; --poll asks the agents)"))
    width = shutil.get_terminal_size((100, 24)).columns if table.isatty() else None
    for line in textwrap.wrap(title, width, subsequent_indent="    ", break_on_hyphens=False) if width else [title]:
        print(line, file=table)
    for line in status_table(rows, width):
        print(line, file=table)
    return 0 if rows and all(r["state"] == "SUCCEED" for r in rows) else 2


def status_table(rows: list[dict[str, Any]], width: int | None = None) -> list[str]:
    """The rows as aligned text columns under a header; agent text printable, times readable.

    A DAG that has not finished shows no end (obshell reports its start as its end until then).
    When every time falls on one UTC day the cells show the time alone, under a line naming the
    day. Within ``width`` long DAG ids and operators are elided in the middle (the JSON has
    them whole) and the note wraps (see :func:`fleet.report.table.columns`).
    """
    times = [(readable_time(r.get("fired_at")),
              readable_time(r.get("end_time")) if str(r.get("state")) in FINISHED_STATES else "-") for r in rows]
    days = {t[:10] for pair in times for t in pair if t != "-"}
    one_day = len(days) == 1 and width is not None
    cells = [COLUMNS] + [(
        printable(str(r["host"])), str(r.get("outcome") or "-"), printable(str(r.get("dag") or "-")),
        printable(str(r.get("state") or "-")), printable(str(r.get("operator") or "-")),
        f"{r['stage']}/{r['max_stage']}" if r.get("max_stage") else "-",
        *(t[11:] if one_day and t != "-" else t for t in pair), printable(str(r.get("error") or "")),
    ) for r, pair in zip(rows, times)]
    lines = [f"times are UTC, on {days.pop()}"] if one_day else []
    return lines + columns(cells, width, shrink=(2, 4))


def readable_time(value: Any) -> str:
    """``2026-11-27 03:10:04`` (UTC) for an RFC 3339 time or Unix seconds; ``-`` for none or Go's zero time."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        unix: float | None = float(value)
    elif isinstance(value, str):
        unix = parse_agent_time(value)  # None for Go's zero time and anything that is not RFC 3339
    else:
        unix = None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix)) if unix is not None and unix > 0 else "-"


def _journal_path(args: argparse.Namespace) -> tuple[str, str]:
    given = args.journal or args.run
    flag = "--journal" if args.journal else "RUN"
    if given is None:
        runs = [r for r in past_runs(runs_dir()) if os.path.exists(os.path.join(r.folder, JOURNAL_NAME))]
        if not runs:
            raise InputError(f"no runs with a journal in {runs_dir()}: pass RUN or --journal FILE")
        return os.path.join(runs[-1].folder, JOURNAL_NAME), "RUN"
    if not args.journal:
        for candidate in (given, os.path.join(runs_dir(), given)):
            if os.path.isdir(candidate):
                return os.path.join(candidate, JOURNAL_NAME), flag
    return given, flag


def _recorded_rows(journal: JournalState, results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per host the run selected, as its journal left it (``results``: each one's last result)."""
    rows = []
    for key in journal.hosts:
        name, _, port = key.rpartition(":")
        prior = journal.priors.get(key)
        finished: Mapping[str, Any] = results.get(key) or {}
        dag: Mapping[str, Any] = finished.get("dag") or {}
        error: Mapping[str, Any] = finished.get("error") or {}
        outcome = finished.get("outcome") or ("unsettled" if prior is not None and prior.fired else "not fired")
        rows.append({
            "host": name, "port": int(port), "outcome": outcome,
            "dag": (prior.dag if prior is not None else None) or dag.get("id"),
            "state": dag.get("state") or "-", "operator": dag.get("operator"), "stage": dag.get("stage"),
            "max_stage": dag.get("max_stage"), "end_time": dag.get("end_time"),
            "fired_at": prior.fired_at if prior is not None else None,
            "trace_ids": list(prior.trace_ids) if prior is not None else [],
            "error": error.get("message") if not dag else None,
        })
    return rows


def _polled(rows: list[dict[str, Any]], journal: JournalState, args: argparse.Namespace,
            sanitizer: Sanitizer) -> list[dict[str, Any]]:
    path = args.inventory or journal.latest.get("inventory")
    if not path:
        raise InputError("the journal names no inventory: pass -i")
    inventory = load_inventory(path)
    by_key = {h.key: h for h in inventory.hosts}
    keys = {f"{r['host']}:{r['port']}": r for r in rows if r["dag"]}
    watched = [(by_key[key], row) for key, row in keys.items() if key in by_key]
    passwords = resolve_passwords([h for h, _ in watched], os.environ)
    check_maskable([h for h, _ in watched], passwords)
    for secret in {p.reveal() for p in passwords.values()}:
        sanitizer.add(secret)
    updated: list[dict[str, Any]] = sanitizer.clean(asyncio.run(_poll_all(watched, passwords)))
    return (updated and _merge(rows, updated)) or rows


def _merge(rows: list[dict[str, Any]], polled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fresh = {(r["host"], r["port"]): r for r in polled}
    return [fresh.get((r["host"], r["port"]), r) for r in rows]


async def _poll_all(watched: list[tuple[HostSpec, dict[str, Any]]],
                    passwords: dict[str, Secret]) -> list[dict[str, Any]]:
    limits = Limits()
    sem = asyncio.Semaphore(limits.forks)
    async with HttpClient(limits, Timeouts()) as http:

        async def one(host: HostSpec, recorded: dict[str, Any]) -> dict[str, Any]:
            client = AgentClient(http, host, passwords.get(host.key))
            row = dict(recorded)
            async with sem:
                try:
                    dag = (await client.get_dag(str(recorded["dag"]))).data
                    row.update(state=dag.state, operator=dag.operator, stage=dag.stage, max_stage=dag.max_stage,
                               end_time=dag.end_time, error=None, trace_ids=client.returned_trace_ids)
                except AgentError as exc:
                    row.update(state="UNKNOWN", error=exc.message, trace_ids=client.returned_trace_ids)
            return row

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(h, r)) for h, r in watched]
    return [t.result() for t in tasks]
