"""What a past run recorded about each host's DAG: read from its journal or its summary.

``fleet dag …`` acts on these DAGs. A summary may be a single run's, one shard's, or the merge
of several shards (``fleet merge``); a journal may hold several appended runs (the last word
about a host wins). Malformed input is an :class:`~fleet.errors.InputError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.engine.journal import read_journal
from fleet.engine.priors import load_journal
from fleet.errors import InputError
from fleet.regularfile import open_regular

FINISHED_STATES = ("SUCCEED", "FAILED")


@dataclass(frozen=True, slots=True)
class RecordedHost:
    """One host as the past run left it: its outcome and the DAG it recorded (if any)."""

    key: str
    outcome: str
    #: the generic id of the DAG it recorded
    dag: str | None
    dag_state: str | None


@dataclass(frozen=True, slots=True)
class PastRun:
    operation: str | None
    inventory: str | list[str] | None
    limit: str | None
    hosts: tuple[RecordedHost, ...]
    #: first hex digits of the file's SHA-256: names the journal of what is done to this run
    digest: str = ""


#: A summary or journal of 10,000 hosts is tens of MiB; a file past this is not one fleet wrote.
MAX_RUN_BYTES = 512 * 2**20


def load_past_run(path: str) -> PastRun:
    """Read ``path``: a ``fleet.summary/v1`` JSON document, else a fleet journal (JSON Lines)."""
    try:
        with open_regular(path) as fh:
            raw = fh.read(MAX_RUN_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_RUN_BYTES:
        raise InputError(f"{path}: larger than {MAX_RUN_BYTES // 2**20} MiB; not a summary or journal fleet wrote")
    digest = hashlib.sha256(raw).hexdigest()[:12]
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict) and doc.get("schema") == "fleet.summary/v1":
        return _from_summary(path, doc, digest)
    if not raw.lstrip().startswith(b'{"ev":'):
        raise InputError(f"{path}: neither a fleet summary (schema fleet.summary/v1) nor a fleet journal")
    state = load_journal(path, "RUN")  # checked as --resume checks it: file:line on what does not add up
    events = [json.loads(line) for _, line in read_journal(path)]
    header = state.first
    inventory = header.get("inventory")
    return PastRun(_text(header.get("operation")), inventory if isinstance(inventory, str | list) else None,
                   _text(header.get("limit")), _from_events(events), digest)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _from_summary(path: str, doc: Mapping[str, Any], digest: str) -> PastRun:
    hosts = []
    entries = doc.get("hosts")
    if not isinstance(entries, list):
        raise InputError(f"{path}: summary has no hosts list")
    for index, entry in enumerate(entries):
        if not (isinstance(entry, dict) and isinstance(entry.get("host"), str) and isinstance(entry.get("port"), int)
                and isinstance(entry.get("outcome"), str)):
            raise InputError(f"{path}: hosts[{index}] is not a host entry (host, port, outcome)")
        dag: dict[str, Any] = entry["dag"] if isinstance(entry.get("dag"), dict) else {}
        hosts.append(RecordedHost(f"{entry['host']}:{entry['port']}", entry["outcome"],
                                  _text(dag.get("id")) or None, _text(dag.get("state"))))
    return PastRun(_text(doc.get("operation")), _text(doc.get("inventory")), _text(doc.get("limit")), tuple(hosts),
                   digest)


def _from_events(events: Iterable[Mapping[str, Any]]) -> tuple[RecordedHost, ...]:
    state: dict[str, dict[str, Any]] = {}
    for ev in events:
        key = ev.get("host")
        if not isinstance(key, str):
            continue
        entry = state.setdefault(key, {"outcome": "interrupted", "dag": None, "state": None})
        kind = ev.get("ev")
        if kind in ("fired", "answered") and isinstance(ev.get("dag"), str):
            entry.update(dag=ev["dag"], state=_text(ev.get("state")), outcome="interrupted")
        elif kind == "finished" and isinstance(ev.get("result"), dict):
            result = ev["result"]
            dag: dict[str, Any] = result["dag"] if isinstance(result.get("dag"), dict) else {}
            entry["outcome"] = _text(result.get("outcome")) or "interrupted"
            if _text(dag.get("id")):
                entry.update(dag=dag["id"], state=_text(dag.get("state")))
    return tuple(RecordedHost(k, e["outcome"], e["dag"], e["state"]) for k, e in state.items())


def default_selection(operator: str, host: RecordedHost) -> bool:
    """Whether ``fleet dag OPERATOR`` acts on this host without ``--limit``.

    RETRY and ROLLBACK: hosts whose DAG failed. CANCEL: hosts whose DAG timed out, or that were
    interrupted while their DAG was unfinished. PASS: none (it needs an explicit ``--limit``).
    """
    if host.dag is None:
        return False
    if operator in ("RETRY", "ROLLBACK"):
        return host.outcome == "failed"
    if operator == "CANCEL":
        return host.outcome == "timed_out" or (host.outcome == "interrupted" and host.dag_state not in FINISHED_STATES)
    return False
