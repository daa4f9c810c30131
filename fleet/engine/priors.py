"""Reading an earlier run's journal into what ``--resume`` needs to know per host."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fleet.engine.journal import read_journal
from fleet.engine.plan import PriorState
from fleet.errors import InputError
from fleet.models import Adoption, ApiError, DagDetail, FailedTask, HostResult, HostSpec, Outcome

#: Outcomes a resumed run picks up again rather than reporting as they were.
UNSETTLED = frozenset({Outcome.INTERRUPTED.value, Outcome.SKIPPED.value, Outcome.AMBIGUOUS.value})


def priors_from_events(events: Iterable[Mapping[str, Any]]) -> tuple[str | None, dict[str, PriorState]]:
    """``(operation, host.key → PriorState)`` from a journal's events (several runs may be appended)."""
    operation: str | None = None
    state: dict[str, dict[str, Any]] = {}
    for ev in events:
        kind = ev.get("ev")
        if kind == "run":
            operation = operation or ev.get("operation")
            continue
        key = ev.get("host")
        if not isinstance(key, str):
            continue
        entry = state.setdefault(key, {"trace_ids": []})
        if kind == "fired":
            entry.update(fired=True, fired_at=ev.get("at"), finished=None, answer_lost=False)
            if ev.get("trace_id"):  # the trace id fleet sent with the start comes first
                entry["trace_ids"].insert(0, ev["trace_id"])
        elif kind == "answered":
            entry["dag_id"] = ev.get("dag")
            if ev.get("trace_id"):
                entry["trace_ids"].append(ev["trace_id"])
        elif kind == "finished" and isinstance(ev.get("result"), dict):
            result = ev["result"]
            entry["trace_ids"] = list(result.get("trace_ids") or entry["trace_ids"])
            if result.get("outcome") not in UNSETTLED:
                entry["finished"] = result
            entry["answer_lost"] = result.get("outcome") == Outcome.AMBIGUOUS.value
    priors = {
        key: PriorState(
            finished=e.get("finished"),
            fired=bool(e.get("fired")),
            fired_at=e.get("fired_at"),
            dag_id=e.get("dag_id"),
            trace_ids=tuple(e["trace_ids"]),
            answer_lost=bool(e.get("answer_lost")),
        )
        for key, e in state.items()
    }
    return operation, priors


def load_journal(path: str, flag: str) -> tuple[dict[str, Any], str | None, dict[str, PriorState]]:
    """``(run header, operation, priors)`` of the journal at ``path``, named ``flag`` in errors."""
    try:
        events = read_journal(path)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot read: {exc.strerror}") from None
    header = next((e for e in events if e.get("ev") == "run"), None)
    if header is None:
        raise InputError(f"{flag} {path}: not a fleet journal (no run header)")
    operation, priors = priors_from_events(events)
    return dict(header), operation, priors


def result_from_journal(host: HostSpec, doc: Mapping[str, Any]) -> HostResult:
    """Rebuild a finished host's result, as recorded, marked ``resumed``."""
    dag_doc = doc.get("dag")
    dag = None
    if isinstance(dag_doc, dict):
        dag = DagDetail(
            id=str(dag_doc.get("id", "")), dag_id=int(dag_doc.get("dag_id") or 0), name=dag_doc.get("name") or "",
            state=dag_doc.get("state") or "", operator=dag_doc.get("operator") or "",
            stage=int(dag_doc.get("stage") or 0), max_stage=int(dag_doc.get("max_stage") or 0),
            start_time=dag_doc.get("start_time"), end_time=dag_doc.get("end_time"),
        )
    err = doc.get("error")
    error = None
    if isinstance(err, dict):
        error = ApiError(err.get("status"), err.get("code"), err.get("errCode"), err.get("message") or "")
    failed = tuple(
        FailedTask(t.get("node", ""), t.get("task", ""), t.get("execute_agent"), tuple(t.get("task_logs") or ()))
        for t in doc.get("failed_tasks") or () if isinstance(t, dict)
    )
    adopted = doc.get("adopted")
    return HostResult(
        adopted=Adoption(str(adopted.get("reason")), str(adopted.get("how"))) if isinstance(adopted, dict) else None,
        host=host,
        outcome=Outcome(doc.get("outcome", "interrupted")),
        dag=dag,
        trace_ids=tuple(doc.get("trace_ids") or ()),
        error=error,
        failed_tasks=failed,
        polls=int(doc.get("polls") or 0),
        duration_ms=int(doc.get("duration_ms") or 0),
        clock_offset_ms=doc.get("clock_offset_ms"),
        agent_version=doc.get("agent_version"),
        resumed=True,
    )
