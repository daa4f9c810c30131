"""The engine's working record of one host during a run (mutable, engine-private)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fleet.client import AgentClient
from fleet.models import Adoption, AgentInfo, ApiError, DagDetail, FailedTask, HostResult, HostSpec, Outcome
from fleet.protocol import bounds


@dataclass(slots=True)
class HostRun:
    host: HostSpec
    client: AgentClient | None = None
    info: AgentInfo | None = None
    began: float | None = None
    fired: bool = False
    fired_at: float | None = None
    fire_trace_id: str | None = None
    start_trace_id: str | None = None
    dag: DagDetail | None = None
    dag_started: float | None = None
    deadline: float = 0.0
    #: the poll planner holds this DAG's looks until durations are learnt (not a scout)
    held: bool = False
    polls: int = 0
    poll_errors: int = 0
    resumed: bool = False
    refired: bool = False
    #: the start certainly left and its answer was lost (or did not settle it): never re-fired blindly
    answer_lost: bool = False
    prior_trace_ids: tuple[str, ...] = ()
    #: why the followed DAG was adopted rather than answered (None: answered, or none)
    adopted: Adoption | None = None
    #: the highest DAG id the pre-fire look saw exist (id probing only)
    baseline: int | None = None
    #: any DAG id known to exist on the agent (a hint for id probing)
    known_dag_id: int = 0
    failed_tasks_dropped: int = 0
    #: ``--retry-failed``: the DAG's runs so far (see fleet.engine.dagsend.attempt_record)
    attempts: list[dict[str, object]] = field(default_factory=list)
    retries: int = 0
    last_failure: str | None = None
    retry_trace_id: str | None = None
    #: another inventory name of the same agent, which this run starts (this host mirrors its end)
    same_agent_as: HostRun | None = None
    #: set once this host's firing is settled (its DAG known, or it ended, or it stopped firing)
    fire_settled: asyncio.Event = field(default_factory=asyncio.Event)
    #: why this host was fired although its /api/v1/info named another host's agent
    identity_note: str | None = None
    result: HostResult | None = field(default=None)

    def log_context(self) -> dict[str, object]:
        """What every log line about this host carries: host, port, DAG id and trace id.

        Passed with each call rather than bound as contextvars at the host's boundary: a host's
        work runs as many short scheduler steps, and binding per step (~5.7 µs) costs far more
        than this dict on the few calls that log (~0.7 µs each).
        """
        trace = self.start_trace_id or self.fire_trace_id
        if trace is None and self.client is not None and self.client.returned_trace_ids:
            trace = self.client.returned_trace_ids[-1]
        return {"host": self.host.name, "port": self.host.port, "dag": self.dag.id if self.dag else None,
                "trace_id": trace}

    def trace_ids(self) -> tuple[str, ...]:
        """The trace id fleet sent with its start first — always, answered or not (the one to
        grep for in the agent's log) — then every traceId the agent returned, in order."""
        returned = [self.fire_trace_id] if self.fire_trace_id else []
        returned.extend(self.prior_trace_ids)
        if self.client is not None:
            returned.extend(t for t in self.client.returned_trace_ids if t)
        return tuple(dict.fromkeys(returned))

    def conclude(
        self,
        outcome: Outcome,
        *,
        now: float,
        error: ApiError | None = None,
        failed_tasks: tuple[FailedTask, ...] = (),
    ) -> HostResult:
        offset = self.client.clock_offset if self.client is not None else None
        if self.identity_note is not None:  # fired although its /api/v1/info named another host's agent
            error = ApiError(None, None, None, self.identity_note) if error is None else ApiError(
                error.status, error.code, error.err_code, f"{error.message}; {self.identity_note}")
        if self.attempts and self.dag is not None:  # retried in place: the last run's account
            self.attempts.append(attempt_record(self))
        trace_ids, dropped = bounds.first_and_latest(self.trace_ids(), bounds.MAX_TRACE_IDS)
        if self.client is not None:
            dropped += self.client.trace_ids_dropped
        self.result = HostResult(
            host=self.host,
            outcome=outcome,
            dag=self.dag,
            trace_ids=tuple(trace_ids),
            trace_ids_dropped=dropped,
            failed_tasks_dropped=self.failed_tasks_dropped,
            error=error,
            failed_tasks=failed_tasks,
            polls=self.polls,
            duration_ms=int(max(0.0, now - self.began) * 1000) if self.began is not None else 0,
            clock_offset_ms=round(offset * 1000) if offset is not None else None,
            agent_version=self.info.version if self.info is not None else None,
            resumed=self.resumed,
            adopted=self.adopted,
            fired_at=self.fired_at if self.fired else None,
            attempts=tuple(self.attempts),
        )
        return self.result


def attempt_record(run: HostRun) -> dict[str, object]:
    """The current run of ``run.dag`` as one entry of the summary's ``attempts``."""
    dag = run.dag
    assert dag is not None
    first = not run.attempts
    return {
        "attempt": len(run.attempts) + 1,
        "operator": "START" if first else "RETRY",
        "trace_id": (run.start_trace_id or run.fire_trace_id) if first else run.retry_trace_id,
        "state": dag.state, "stage": dag.stage, "start_time": dag.start_time, "end_time": dag.end_time,
        "message": run.last_failure if dag.state != "SUCCEED" else None,
    }
