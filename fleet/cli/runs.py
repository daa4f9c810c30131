"""``fleet runs`` and ``fleet show [RUN]``: past runs read back from their folders, offline.

Both read only ``.fleet/runs/`` (no agent is contacted): ``runs`` lists every run folder with
its time, operation, inventory, limit and outcome counts, newest last; ``show`` prints one
run's header, recap and failure table (default: the latest run). A run's ``summary.json`` is
its account; a run that never wrote one (killed, or still going) is read from its journal,
each host as its last ``finished`` record says, the rest counted ``unsettled``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.api.paths import JOURNAL_NAME, REPORT_NAME, RUNS_DIR, SUMMARY_NAME
from fleet.cli.report import load_summary
from fleet.engine.journal import read_journal
from fleet.errors import InputError
from fleet.models import Outcome
from fleet.report.recap import recap
from fleet.report.sanitize import printable
from fleet.report.summary import SCHEMA_ID, parse_timestamp

UNSETTLED = "unsettled"


@dataclass(frozen=True, slots=True)
class PastRunInfo:
    """One run folder, as ``fleet runs`` lists it."""

    folder: str
    started_at: float | None
    operation: str
    inventory: str
    limit: str | None
    hosts: int
    #: outcome → count, in Outcome order (``unsettled``: no end recorded, from a journal only)
    counts: Mapping[str, int]
    #: "summary" or "journal": where the facts came from
    source: str


def add_parsers(sub: Any) -> None:
    """Register ``fleet runs`` and ``fleet show`` on the CLI's subparsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("runs", help="list past runs (offline: reads .fleet/runs/)", formatter_class=fmt,
                       epilog="example:\n  fleet runs --last 10")
    p.add_argument("--dir", default=RUNS_DIR, help=f"where the run folders are (default {RUNS_DIR})")
    p.add_argument("-n", "--last", type=int, metavar="N", help="only the N most recent runs")
    p = sub.add_parser("show", help="a past run's recap and failure table (offline)", formatter_class=fmt,
                       epilog="examples:\n  fleet show                 # the latest run\n"
                              "  fleet show 20261127T031000Z-4242-obproxy.start\n  fleet show summary.json")
    p.add_argument("run", nargs="?", metavar="RUN",
                   help="a run id (its folder's name), a run folder, or a summary JSON (default: the latest run)")
    p.add_argument("--dir", default=RUNS_DIR, help=f"where the run folders are (default {RUNS_DIR})")


def run_runs(args: argparse.Namespace) -> int:
    infos = past_runs(args.dir)
    if args.last is not None:
        if args.last < 1:
            raise InputError(f"--last {args.last}: expected a number from 1")
        infos = infos[-args.last:]
    if not infos:
        print(f"fleet: no runs in {args.dir}", file=sys.stderr)
        return 0
    rows = [("STARTED (UTC)", "RUN", "OPERATION", "INVENTORY", "LIMIT", "HOSTS", "OUTCOMES")]
    for info in infos:
        counts = "  ".join(f"{_label(o)}={n}" for o, n in info.counts.items())
        rows.append((_when(info.started_at), printable(os.path.basename(info.folder)), printable(info.operation),
                     printable(info.inventory), printable(info.limit or "all"), str(info.hosts), counts or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return 0


def run_show(args: argparse.Namespace) -> int:
    path = _summary_or_folder(args.run, args.dir)
    if os.path.isdir(path):
        doc, source = _folder_document(path)
        folder: str | None = path
    else:
        doc, source, folder = _read_summary(path), "summary", None
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else None
    started = doc.get("started_at")
    lines = [
        f"run        {printable(folder or path)}",
        f"operation  {printable(str(doc.get('operation')))}   started {printable(str(started))}"
        f"   {_duration(doc.get('duration_ms'))}",
        f"inventory  {printable(str(doc.get('inventory')))}   limit {printable(str(doc.get('limit') or 'all'))}"
        + (f"   shard {doc['shard']}" if doc.get("shard") else ""),
    ]
    if source == "journal":
        lines.append("(no summary.json: read from the journal; hosts without a recorded end are 'unsettled')")
    print("\n".join(lines))
    print(recap(doc, width))
    report = os.path.join(folder, REPORT_NAME) if folder else None
    if report and os.path.exists(report):
        print(f"report     {printable(report)}")
    return 0


def past_runs(directory: str) -> list[PastRunInfo]:
    """Every run folder under ``directory``, oldest first (folders that are not runs are skipped)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InputError(f"{directory}: cannot read: {exc.strerror}") from None
    infos = []
    for name in names:
        folder = os.path.join(directory, name)
        if not os.path.isdir(folder):
            continue
        try:
            doc, source = _folder_document(folder)
        except InputError:
            continue  # not a run folder (or an unreadable one): `fleet show` says why
        counts = {o.value: 0 for o in Outcome} | {UNSETTLED: 0}
        for host in doc["hosts"]:
            counts[host["outcome"]] = counts.get(host["outcome"], 0) + 1
        started = _timestamp(doc.get("started_at")) or os.stat(folder).st_mtime
        infos.append(PastRunInfo(folder, started, str(doc.get("operation") or "?"), _inventory(doc.get("inventory")),
                                 doc.get("limit") if isinstance(doc.get("limit"), str) else None,
                                 len(doc["hosts"]), {o: n for o, n in counts.items() if n}, source))
    infos.sort(key=lambda i: (i.started_at or 0.0, i.folder))
    return infos


def _folder_document(folder: str) -> tuple[dict[str, Any], str]:
    """The run's summary, else a summary-shaped document from its journal."""
    summary = os.path.join(folder, SUMMARY_NAME)
    if os.path.exists(summary):
        return _read_summary(summary), "summary"
    journal = os.path.join(folder, JOURNAL_NAME)
    if os.path.exists(journal):
        return _from_journal(journal), "journal"
    raise InputError(f"{folder}: not a run folder (no {SUMMARY_NAME}, no {JOURNAL_NAME})")


def _read_summary(path: str) -> dict[str, Any]:
    doc = load_summary(path)
    if not all(isinstance(h.get("outcome"), str) for h in doc["hosts"]):
        raise InputError(f"{path}: not a {SCHEMA_ID} summary")
    return doc


def _from_journal(path: str) -> dict[str, Any]:
    """What a journal says of a run that wrote no summary: each host's recorded result, or unsettled."""
    header, results = recorded_results(path)
    if header is None:
        raise InputError(f"{path}: not a fleet journal (no run header)")
    hosts = []
    for key in header["hosts"]:
        name, _, port = str(key).rpartition(":")
        hosts.append(results.get(key) or {"host": name, "port": int(port) if port.isdigit() else 0,
                                          "groups": [], "outcome": UNSETTLED, "trace_ids": [], "error": None})
    at = header.get("at")
    return {"schema": SCHEMA_ID, "operation": header.get("operation"),
            "started_at": _utc(at) if isinstance(at, int | float) else None, "duration_ms": 0,
            "inventory": header.get("inventory"), "limit": header.get("limit"), "shard": header.get("shard"),
            "hosts": hosts}


def recorded_results(path: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """A journal's first run header and each host's last recorded result (lines that do not parse skipped)."""
    try:
        lines = read_journal(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    header: dict[str, Any] | None = None
    results: dict[str, dict[str, Any]] = {}
    for _, raw in lines:
        try:
            ev = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(ev, dict):
            continue
        if ev.get("ev") == "run" and header is None and isinstance(ev.get("hosts"), list):
            header = ev
        elif ev.get("ev") == "finished" and isinstance(ev.get("host"), str) and isinstance(ev.get("result"), dict) \
                and isinstance(ev["result"].get("outcome"), str):
            results[ev["host"]] = ev["result"]
    return header, results


def _summary_or_folder(run: str | None, directory: str) -> str:
    if run is None:
        infos = past_runs(directory)
        if not infos:
            raise InputError(f"no runs in {directory}: pass a run id, a run folder or a summary JSON")
        return infos[-1].folder
    for candidate in (run, os.path.join(directory, run)):
        if os.path.exists(candidate):
            return candidate
    raise InputError(f"{run}: no such run (see fleet runs) and no such file")


def _inventory(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(os.path.basename(str(v)) for v in value)
    return str(value) if value is not None else "-"


def _label(outcome: str) -> str:
    return "ok" if outcome == Outcome.SUCCEEDED.value else outcome


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        return None


def _utc(unix_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix_s)) + "Z"


def _when(unix_s: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix_s)) if unix_s is not None else "-"


def _duration(ms: Any) -> str:
    if not isinstance(ms, int) or ms <= 0:
        return ""
    seconds = int(ms / 1000 + 0.5)
    return f"took {seconds // 60}:{seconds % 60:02d}"
