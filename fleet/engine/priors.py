"""Reading an earlier run's journal into what ``--resume`` needs to know per host.

Every line is checked here, in one place, before anything is decided from it. A journal that
does not hold together — a line that is not JSON, an unknown event or outcome, a field of the
wrong type, a time that is not a number, a host the run never selected, an ``answered``
without its ``fired`` — is refused as :class:`~fleet.errors.InputError` naming ``file:line``
and the reason (exit 5): fleet never fires on evidence that does not add up. Only a torn last
line (a crash mid-write, never fsynced, so nothing was sent on its account) is left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.engine.journal import read_journal
from fleet.engine.outcome import is_settled
from fleet.engine.plan import Operation, PriorState
from fleet.errors import InputError
from fleet.models import HostResult, HostSpec, Outcome

#: Every event kind a journal may hold (an unknown one may hide a send: refused, never skipped).
EVENTS = frozenset({"run", "fired", "answered", "lost", "retry", "finished", "end"})
_OPERATIONS = frozenset(op.value for op in Operation)
_OUTCOMES = frozenset(o.value for o in Outcome)
#: the latest plausible event time (year 5138): bounds arithmetic on times read back
_LATEST_TIME = 1e11


#: the journal's results are checked without their host (the resume passes the inventory's spec)
_ANY_HOST = HostSpec(name="", address="")


class _Bad(Exception):
    """One journal line is unusable; carries the reason (the line number is added by the reader)."""


@dataclass(frozen=True, slots=True)
class JournalState:
    """What a journal says: the run's header(s), its operation and each host's prior state."""

    path: str
    operation: str
    #: the first run header: the selection the run was started with
    first: Mapping[str, Any]
    #: the latest run header (the last resume's, else the first): the options and order to replay
    latest: Mapping[str, Any]
    #: every host the run selected, in the first header's order
    hosts: tuple[str, ...]
    priors: Mapping[str, PriorState] = field(default_factory=dict)
    #: host key → in-place RETRYs (``--retry-failed``) the journal records as sent, or about to be
    retries: Mapping[str, int] = field(default_factory=dict)


def load_journal(path: str, flag: str) -> JournalState:
    """Read and check the journal at ``path`` (named ``flag`` in errors). Refuses with file:line."""
    try:
        lines = read_journal(path)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot read: {exc.strerror}") from None
    if not lines:
        raise InputError(f"{flag} {path}: not a fleet journal (no run header)")
    events: list[tuple[int, dict[str, Any]]] = []
    for number, raw in lines:
        try:
            events.append((number, _event(raw)))
        except _Bad as exc:
            raise InputError(f"{path}:{number}: {exc}") from None
    return _state_from_events(path, events)


def priors_from_events(events: Sequence[Mapping[str, Any]], path: str = "<journal>") -> JournalState:
    """The :class:`JournalState` of already-parsed events (numbered from 1), checked like a file's."""
    checked = []
    for number, doc in enumerate(events, start=1):
        try:
            checked.append((number, _check_event(dict(doc))))
        except _Bad as exc:
            raise InputError(f"{path}:{number}: {exc}") from None
    return _state_from_events(path, checked)


def _event(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise _Bad("not a JSON line") from None
    if not isinstance(doc, dict):
        raise _Bad("not a JSON object")
    return _check_event(doc)


def _check_event(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` if it is a well-formed event of a known kind; otherwise :class:`_Bad`."""
    kind = doc.get("ev")
    if not isinstance(kind, str) or kind not in EVENTS:
        raise _Bad(f"unknown event {kind!r}" if isinstance(kind, str) else "no event kind ('ev')")
    at = doc.get("at")
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not 0 <= at <= _LATEST_TIME:
        raise _Bad(f"{kind}: time 'at' is not a Unix time: {at!r}"[:200])
    if kind == "run":
        _check_header(doc)
    elif kind == "end":
        _expect(doc, "interrupted", bool, kind)
        _optional(doc, "policy_stop", str, kind)
    else:
        _expect(doc, "host", str, kind)
        if kind == "fired":
            _optional(doc, "trace_id", str, kind)
            _optional(doc, "dag", str, kind)  # fleet dag …: the DAG the operator is sent to
            _optional(doc, "operator", str, kind)
        elif kind == "lost":  # the start left and its answer was lost: never re-fired on resume
            pass
        elif kind == "retry":  # --retry-failed: an in-place RETRY, journaled before it is sent
            if not isinstance(doc.get("dag"), str) or not doc["dag"]:
                raise _Bad(f"retry: 'dag' is not a DAG id: {doc.get('dag')!r}")
            _optional(doc, "trace_id", str, kind)
            _optional(doc, "attempt", int, kind)
        elif kind == "answered":
            if not isinstance(doc.get("dag"), str) or not doc["dag"]:
                raise _Bad(f"answered: 'dag' is not a DAG id: {doc.get('dag')!r}")
            _optional(doc, "dag_id", int, kind)
            _optional(doc, "trace_id", str, kind)
            _optional(doc, "state", str, kind)
            _optional(doc, "adopted", dict, kind)
        else:
            _check_result(doc.get("result"))
    return doc


def _check_header(doc: Mapping[str, Any]) -> None:
    if not _member(doc.get("operation"), _OPERATIONS):
        raise _Bad(f"run: unknown operation {doc.get('operation')!r}")
    hosts = doc.get("hosts")
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise _Bad("run: 'hosts' is not a list of host names")
    if len(set(hosts)) != len(hosts):
        raise _Bad("run: 'hosts' names a host twice")
    for name in ("limit", "shard", "source"):
        _optional(doc, name, str, "run")
    for name in ("inventory", "extra_vars"):
        value = doc.get(name)
        if value is not None and not isinstance(value, str) and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise _Bad(f"run: '{name}' is not a path or a list of them")
    _optional(doc, "options", dict, "run")


def _check_result(result: Any) -> None:
    if not isinstance(result, dict):
        raise _Bad("finished: 'result' is not an object")
    if not _member(result.get("outcome"), _OUTCOMES):
        raise _Bad(f"finished: unknown outcome {result.get('outcome')!r}")
    dag = result.get("dag")
    if dag is not None:
        if not isinstance(dag, dict) or not isinstance(dag.get("id"), str) or not dag["id"]:
            raise _Bad("finished: 'dag' has no DAG id")
        for name in ("dag_id", "stage", "max_stage"):
            _optional(dag, name, int, "finished: dag")
        for name in ("name", "state", "operator", "start_time", "end_time"):
            _optional(dag, name, str, "finished: dag")
    trace_ids = result.get("trace_ids")
    if trace_ids is not None and (not isinstance(trace_ids, list) or not all(isinstance(t, str) for t in trace_ids)):
        raise _Bad("finished: 'trace_ids' is not a list of strings")
    error = result.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise _Bad("finished: 'error' is not an object")
        for name in ("status", "code"):
            _optional(error, name, int, "finished: error")
        for name in ("errCode", "message"):
            _optional(error, name, str, "finished: error")
    tasks = result.get("failed_tasks")
    if tasks is not None:
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise _Bad("finished: 'failed_tasks' is not a list of objects")
        for task in tasks:
            for name in ("node", "task", "execute_agent"):
                _optional(task, name, str, "finished: failed task")
            logs = task.get("task_logs")
            if logs is not None and (not isinstance(logs, list) or not all(isinstance(x, str) for x in logs)):
                raise _Bad("finished: a failed task's 'task_logs' is not a list of strings")
    for name in ("polls", "duration_ms", "clock_offset_ms"):
        _optional(result, name, int, "finished")
    _optional(result, "agent_version", str, "finished")
    try:  # the summary's own reader: what the resume rebuilds from this entry must build
        HostResult.from_dict(result, _ANY_HOST)
    except ValueError as exc:
        raise _Bad(f"finished: {exc}") from None


def _member(value: Any, names: frozenset[str]) -> bool:
    return isinstance(value, str) and value in names


def _expect(doc: Mapping[str, Any], name: str, kind: type, where: str) -> None:
    value = doc.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Bad(f"{where}: '{name}' is not a {kind.__name__}: {value!r}"[:200])


def _optional(doc: Mapping[str, Any], name: str, kind: type, where: str) -> None:
    if doc.get(name) is not None:
        _expect(doc, name, kind, where)


def _state_from_events(path: str, events: Sequence[tuple[int, dict[str, Any]]]) -> JournalState:
    """Fold checked events into each host's prior state, refusing what does not add up."""
    if not events:
        raise InputError(f"{path}: not a fleet journal (no run header)")
    first_line, first = events[0]
    if first["ev"] != "run":
        raise InputError(f"{path}:{first_line}: not a fleet journal (the first event is not a run header)")
    operation: str = first["operation"]
    universe: tuple[str, ...] = tuple(first["hosts"])
    known = set(universe)
    latest = first
    state: dict[str, dict[str, Any]] = {}
    retries: dict[str, int] = {}
    #: hosts that finished skipped in the current run segment
    skipped_here: list[str] = []
    for number, ev in events:
        kind = ev["ev"]
        if kind == "run":
            if ev["operation"] != operation:
                raise InputError(f"{path}:{number}: a '{ev['operation']}' run appended to a '{operation}' journal")
            if not set(ev["hosts"]) <= known:
                extra = sorted(set(ev["hosts"]) - known)[0]
                raise InputError(f"{path}:{number}: run header names {extra!r}, which the journal's run never selected")
            latest, skipped_here = ev, []
            continue
        if kind == "end":
            if not ev["interrupted"]:
                # A run that ended on its own handed the hosts it skipped to its retry file:
                # a resume leaves them there, so no host has two ways to a start.
                for key in skipped_here:
                    state[key]["finished"] = state[key].pop("skipped_result")
            skipped_here = []
            continue
        key = ev["host"]
        if key not in known:
            raise InputError(f"{path}:{number}: {kind} for {key!r}, which the run never selected")
        entry = state.setdefault(key, {"trace_ids": [], "fired": False})
        if kind == "fired":
            entry.update(fired=True, fired_at=ev["at"], finished=None, dag=None, dag_number=None,
                         answer_lost=False, dag_state=None, last_result=None)
            if ev.get("trace_id"):  # the trace id fleet sent with the start comes first
                entry["trace_ids"].insert(0, ev["trace_id"])
        elif kind == "retry":
            retries[key] = retries.get(key, 0) + 1
        elif kind == "lost":
            if not entry["fired"]:
                raise InputError(f"{path}:{number}: lost for {key!r} without a 'fired' before it")
            entry["answer_lost"] = True
        elif kind == "answered":
            if not entry["fired"] and not ev.get("adopted"):
                raise InputError(f"{path}:{number}: answered for {key!r} without a 'fired' before it "
                                 "(the start was sent: refusing to decide anything from this journal)")
            entry["dag"] = ev["dag"]
            entry["dag_number"] = ev.get("dag_id")
            entry["dag_state"] = ev.get("state")
            if ev.get("trace_id"):
                entry["trace_ids"].append(ev["trace_id"])
        else:
            _fold_finished(entry, ev["result"], key, skipped_here)
    priors = {
        key: PriorState(
            finished=e.get("finished"),
            fired=bool(e.get("fired")),
            fired_at=e.get("fired_at"),
            dag=e.get("dag"),
            dag_number=e.get("dag_number"),
            trace_ids=tuple(e["trace_ids"]),
            answer_lost=bool(e.get("answer_lost")),
            dag_state=e.get("dag_state"),
            last_result=e.get("last_result"),
        )
        for key, e in state.items()
    }
    return JournalState(path, operation, first, latest, universe, priors, retries)


def _fold_finished(entry: dict[str, Any], result: dict[str, Any], key: str, skipped_here: list[str]) -> None:
    outcome = result["outcome"]
    dag = result.get("dag")
    entry["trace_ids"] = list(result.get("trace_ids") or entry["trace_ids"])
    entry.pop("skipped_result", None)
    entry["last_result"] = result
    if isinstance(dag, dict):
        entry["dag"] = dag["id"]
        entry["dag_number"] = dag.get("dag_id")
        entry["dag_state"] = dag.get("state")
        entry["fired"] = True
    if is_settled(outcome, dag.get("state") if isinstance(dag, dict) else None):
        entry["finished"] = result
    elif outcome == Outcome.SKIPPED.value and not entry["fired"]:
        entry["skipped_result"] = result
        skipped_here.append(key)
    entry["answer_lost"] = bool(entry.get("answer_lost")) or outcome == Outcome.AMBIGUOUS.value


def result_from_journal(host: HostSpec, doc: Mapping[str, Any]) -> HostResult:
    """A finished host's result as recorded (checked by :func:`load_journal`), marked ``resumed``."""
    return replace(HostResult.from_dict(doc, host), resumed=True)
