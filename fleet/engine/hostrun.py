"""The engine's working record of one host during a run (mutable, engine-private)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.client import AgentClient
from fleet.models import AgentInfo, ApiError, DagDetail, FailedTask, HostResult, HostSpec, Outcome


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
    polls: int = 0
    poll_errors: int = 0
    resumed: bool = False
    refired: bool = False
    prior_trace_ids: tuple[str, ...] = ()
    #: ``--retry-failed``: the DAG's runs so far (see fleet.engine.dagsend.attempt_record)
    attempts: list[dict[str, object]] = field(default_factory=list)
    retries: int = 0
    last_failure: str | None = None
    retry_trace_id: str | None = None
    result: HostResult | None = field(default=None)

    def log_context(self) -> dict[str, object]:
        """What every log line about this host carries: host, port, DAG id and trace id."""
        trace = self.start_trace_id or self.fire_trace_id
        if trace is None and self.client is not None and self.client.returned_trace_ids:
            trace = self.client.returned_trace_ids[-1]
        return {"host": self.host.name, "port": self.host.port, "dag": self.dag.id if self.dag else None,
                "trace_id": trace}

    def trace_ids(self) -> tuple[str, ...]:
        """Every traceId the agent returned, in order, the start request's first."""
        returned = list(self.prior_trace_ids)
        if self.client is not None:
            returned.extend(t for t in self.client.returned_trace_ids if t)
        if self.start_trace_id and self.start_trace_id in returned:
            returned.remove(self.start_trace_id)
            returned.insert(0, self.start_trace_id)
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
        if self.attempts and self.dag is not None:  # retried in place: the last run's account
            self.attempts.append(attempt_record(self))
        self.result = HostResult(
            host=self.host,
            outcome=outcome,
            dag=self.dag,
            trace_ids=self.trace_ids(),
            error=error,
            failed_tasks=failed_tasks,
            polls=self.polls,
            duration_ms=int(max(0.0, now - self.began) * 1000) if self.began is not None else 0,
            clock_offset_ms=round(offset * 1000) if offset is not None else None,
            agent_version=self.info.version if self.info is not None else None,
            resumed=self.resumed,
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
