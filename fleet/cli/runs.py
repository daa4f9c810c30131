"""``fleet runs`` and ``fleet show [RUN]``: past runs read back from their folders, offline.

Both read only the run folders under fleet's home (``<home>/runs/``, see
:func:`fleet.api.paths.fleet_home`; no agent is contacted): ``runs`` lists every run folder with
its time, operation, inventory, limit and outcome counts, newest last (``--prune KEEP`` and
``--older-than AGE`` delete old ones, see :mod:`fleet.cli.prune`); ``show`` prints one
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
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.api.paths import JOURNAL_NAME, REPORT_NAME, SUMMARY_NAME, runs_dir
from fleet.cli.report import load_summary
from fleet.engine.journal import read_journal
from fleet.errors import InputError
from fleet.models import Outcome
from fleet.report.hostview import failed_task_logs, find_host, host_record
from fleet.report.recap import recap, rollout_text
from fleet.report.sanitize import printable
from fleet.report.summary import SCHEMA_ID, parse_timestamp
from fleet.report.table import columns

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
    home = runs_dir()
    p = sub.add_parser("runs", help="list past runs (offline: reads the run folders)", formatter_class=fmt,
                       epilog="examples:\n  fleet runs --last 10\n  fleet runs --prune 20              "
                              "# delete all but the 20 newest runs\n  fleet runs --older-than 7d          "
                              "# delete runs started over 7 days ago\n\nThe run folders are under $FLEET_HOME, "
                              "else ./.fleet when it exists, else\n$XDG_STATE_HOME/fleet (~/.local/state/fleet). "
                              "A run still going is never deleted.")
    p.add_argument("--dir", default=home, help=f"where the run folders are (default {home})")
    p.add_argument("-n", "--last", type=int, metavar="N", help="only the N most recent runs")
    p.add_argument("--prune", type=int, metavar="KEEP", help="delete all but the KEEP newest runs")
    p.add_argument("--older-than", metavar="AGE",
                   help="delete runs started longer ago than AGE (7d, 12h, 30m); with --prune, only those beyond KEEP")
    p = sub.add_parser("show", help="a past run's recap and failure table (offline)", formatter_class=fmt,
                       epilog="examples:\n  fleet show                 # the latest run\n"
                              "  fleet show 20261127T031000Z-4242-obproxy.start\n  fleet show summary.json\n"
                              "  fleet show --host proxy-07   # one host of the latest run, with its task logs")
    p.add_argument("run", nargs="?", metavar="RUN",
                   help="a run id (its folder's name), a run folder, or a summary JSON (default: the latest run)")
    p.add_argument("--host", metavar="HOST", help="one host's whole record: DAG, times, trace ids, error, attempts "
                                                  "and every line of its failed tasks' logs")
    p.add_argument("--dir", default=home, help=f"where the run folders are (default {home})")


def run_runs(args: argparse.Namespace) -> int:
    infos = past_runs(args.dir)
    if args.prune is not None or args.older_than is not None:
        return _prune(infos, args)
    if args.last is not None:
        if args.last < 1:
            raise InputError(f"--last {args.last}: expected a number from 1")
        infos = infos[-args.last:]
    if not infos:
        print(f"fleet: no runs in {args.dir}", file=sys.stderr)
        return 0
    # the run id names the operation (and the start to the second): no column of its own
    rows = [("STARTED (UTC)", "RUN", "INVENTORY", "LIMIT", "HOSTS", "OUTCOMES")]
    for info in infos:
        counts = "  ".join(f"{_label(o)}={n}" for o, n in info.counts.items())
        rows.append((_when(info.started_at)[:16], printable(os.path.basename(info.folder)), printable(info.inventory),
                     printable(info.limit or "all"), str(info.hosts), counts or "-"))
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else None
    for line in columns(rows, width, shrink=(2, 3)):
        print(line)
    return 0


def _prune(infos: list[PastRunInfo], args: argparse.Namespace) -> int:
    from fleet.cli.prune import choose, parse_age, prune

    older = parse_age(args.older_than) if args.older_than is not None else None
    result = prune(choose(infos, keep=args.prune, older_than_s=older, now=time.time()))
    for folder, why in result.kept.items():
        print(f"fleet: kept {folder}: {why}", file=sys.stderr)
    left = len(infos) - len(result.deleted)
    print(f"fleet: deleted {len(result.deleted)} runs from {args.dir}; {left} left", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    path = _summary_or_folder(args.run, args.dir)
    if os.path.isdir(path):
        doc, source = _folder_document(path)
        folder: str | None = path
    else:
        doc, source, folder = _read_summary(path), "summary", None
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else None
    if args.host is not None:
        host = find_host(doc, args.host)
        if host is None:
            raise InputError(f"--host {args.host!r}: no such host in {folder or path} (fleet show lists them)")
        print("\n".join([f"run        {folder or path}", *host_record(host, width)]))
        return 0
    started = doc.get("started_at")
    fields = [
        ("run", printable(folder or path)),
        ("operation", f"{printable(str(doc.get('operation')))}   started {printable(str(started))}"
                      f"   {_duration(doc.get('duration_ms'))}"),
        ("inventory", printable(str(doc.get("inventory")))),
        ("limit", printable(str(doc.get("limit") or "all")) + (f"   shard {doc['shard']}" if doc.get("shard") else "")),
        ("rollout", rollout_text(doc)),
    ]
    lines = [line for label, value in fields if value
             for line in textwrap.wrap(value, width or 10**6, initial_indent=f"{label:<10} ",
                                       subsequent_indent=" " * 11, break_on_hyphens=False)]
    if source == "journal":
        lines.append("(no summary.json: read from the journal; hosts without a recorded end are 'unsettled')")
    print("\n".join(lines))
    print(recap(doc, width))
    for line in failed_task_logs(doc, width):
        print(line)
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
    return os.path.basename(str(value)) or str(value) if value is not None else "-"


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
