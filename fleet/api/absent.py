"""A resume's account of the journal's hosts it does not work on.

A resume works on the hosts of its journal that its inventory and selection still hold; a host
gone from the inventory (or left out by a narrower ``--limit``/``--shard``) is neither fired
nor followed. It is still the journal's host, so the resume reports it — with what the journal
knows of it — in its summary, recap and run folder, which therefore never list fewer hosts than
``fleet status`` does. Its entry says why it was not worked on; a host that was never fired is
``skipped``, one whose DAG may still run keeps its unsettled outcome (``interrupted`` when the
journal recorded no end), so the run does not exit 0 as if it were complete. Pure: built from
the checked :class:`~fleet.engine.priors.JournalState`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from fleet.engine import outcome as oc
from fleet.engine.plan import PriorState
from fleet.engine.priors import JournalState, result_from_journal
from fleet.models import DagDetail, HostResult, HostSpec, Outcome
from fleet.protocol.dags import START_OBPROXY, STOP_OBPROXY

#: why a journal host is not worked on by this resume (the summary's ``resume.absent`` values)
NOT_IN_INVENTORY = "not in the inventory"
NOT_SELECTED = "not selected"
_DAG_NAMES = {"obproxy.start": START_OBPROXY, "obproxy.stop": STOP_OBPROXY}


@dataclass(frozen=True, slots=True)
class Absent:
    """The journal's hosts this resume does not work on: their entries, and why each is absent."""

    results: tuple[HostResult, ...] = ()
    #: host key → :data:`NOT_IN_INVENTORY` or :data:`NOT_SELECTED`
    why: Mapping[str, str] | None = None

    def report(self) -> dict[str, str]:
        """The summary's ``resume.absent``: ``{host key: why}``."""
        return dict(self.why or {})


def absent_hosts(state: JournalState, selected: Collection[str], inventory: Mapping[str, HostSpec]) -> Absent:
    """The journal's hosts (its first run's order) missing from ``selected`` (host keys), each
    with its entry: ``inventory`` maps the inventory's host keys to their specs."""
    results = []
    why: dict[str, str] = {}
    for key in state.hosts:
        if key in selected:
            continue
        reason = NOT_SELECTED if key in inventory else NOT_IN_INVENTORY
        why[key] = reason
        results.append(_entry(key, inventory.get(key), state.priors.get(key), reason, state.operation))
    return Absent(tuple(results), why)


def _spec(key: str, spec: HostSpec | None) -> HostSpec:
    if spec is not None:
        return spec
    name, _, port = key.rpartition(":")
    return HostSpec(name=name, address=name, port=int(port) if port.isdigit() else 0)


def _entry(key: str, spec: HostSpec | None, prior: PriorState | None, reason: str, operation: str) -> HostResult:
    where = ("it is not in the inventory any more" if reason == NOT_IN_INVENTORY
             else "this resume's --limit/--shard leaves it out")
    if prior is not None and prior.finished is not None:  # settled: its record is its account
        return _recorded(key, spec, prior.finished)
    if prior is not None and prior.last_result is not None and prior.fired:
        last = _recorded(key, spec, prior.last_result)
        said = f"; the journal's last word: {last.error.message}" if last.error is not None else ""
        return replace(last, error=oc.note(
            f"{where}: this resume did not follow it, and its {operation.rpartition('.')[2]} may still be "
            f"running{said}; "
            "add it back and resume to settle it"))
    if prior is not None and (prior.fired or prior.dag):
        dag = None
        if prior.dag:
            dag = DagDetail(id=prior.dag, dag_id=prior.dag_number or 0, name=_DAG_NAMES.get(operation, ""),
                            state=prior.dag_state or "")
        outcome = Outcome.AMBIGUOUS if prior.answer_lost else Outcome.INTERRUPTED
        return HostResult(host=_spec(key, spec), outcome=outcome, dag=dag, trace_ids=prior.trace_ids, resumed=True,
                          fired_at=prior.fired_at, error=oc.note(
                              f"{where}: this resume did not follow it; an earlier run sent its request and "
                              "recorded no end; add it back and resume to settle it"))
    return HostResult(host=_spec(key, spec), outcome=Outcome.SKIPPED, resumed=prior is not None,
                      error=oc.note(f"not fired: {where}"))


def _recorded(key: str, spec: HostSpec | None, doc: Mapping[str, object]) -> HostResult:
    if spec is not None:
        return result_from_journal(spec, doc)
    try:
        return replace(HostResult.from_dict(doc), resumed=True)
    except ValueError:  # checked when the journal was read; rebuilt without the entry's own host fields
        return result_from_journal(_spec(key, None), doc)
