"""Following one DAG: each look decides the next one, or how the host ended."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable

import structlog

from fleet.engine import outcome as oc
from fleet.engine.hostrun import HostRun
from fleet.engine.plan import RunPlan
from fleet.engine.polling import PollPlanner, retry_delay
from fleet.errors import AgentError, AuthRefused, NotFound, ProtocolError
from fleet.models import ApiError, FailedTask, Outcome
from fleet.protocol import wire
from fleet.protocol.errcodes import RECORD_NOT_FOUND

#: ``retry(run)``: RETRY a failed DAG in place; True when sent (keep following), False to finish
RetryInPlace = Callable[[HostRun], Awaitable[bool]]

log = structlog.get_logger("fleet.engine")

#: ``finish(run, outcome, error, failed_tasks)``: record a host's end (the engine's).
Finish = Callable[[HostRun, Outcome, ApiError | None, tuple[FailedTask, ...]], Awaitable[None]]


class DagFollower:
    """The step the poll scheduler runs for each due DAG: one look, then when to look again.

    Returns the next due time (scheduler clock), or None once the host has its result.
    """

    def __init__(self, plan: RunPlan, planner: PollPlanner, finish: Finish,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None) -> None:
        self.plan = plan
        self._planner = planner
        self._finish = finish
        self._clock = clock
        self._rng = rng or random.Random()
        self.retry: RetryInPlace | None = None

    async def step(self, run: HostRun) -> float | None:
        if run.result is not None or run.dag is None or run.client is None:
            return None
        dag_id = run.dag.id
        now = self._clock()
        wait = self._planner.defer(now - (run.dag_started or 0.0), run.held)
        if wait and now < run.deadline:  # a put-off look still comes by the DAG's deadline
            return min(now + wait, run.deadline)
        try:
            reply = await run.client.get_dag(dag_id)
            if reply.data.id != dag_id:  # not the DAG asked about: never follow it instead
                raise ProtocolError(f"asked for DAG {dag_id}, the agent answered DAG {reply.data.id[:64]} "
                                    "(another agent's, or another DAG)", reply.trace_id)
        except AgentError as exc:
            return await self._failed(run, exc)
        now = self._clock()
        run.polls += 1
        run.poll_errors = 0
        run.dag = reply.data
        if run.dag.finished:
            if await self._finished(run, now):
                return self._clock() + self._planner.first_delay()
            return None
        if now >= run.deadline:
            await self._finish(run, Outcome.TIMED_OUT, oc.note(
                f"DAG {dag_id} still {run.dag.state} at stage {run.dag.stage}/{run.dag.max_stage} "
                f"after {self.plan.timeouts.dag:g} s"), ())
            return None
        return min(now + self._planner.next_delay(now - (run.dag_started or now)), run.deadline)

    async def _failed(self, run: HostRun, exc: AgentError) -> float | None:
        now = self._clock()
        assert run.dag is not None
        if oc.is_transient_poll_error(exc) and run.poll_errors < self.plan.limits.poll_retries:
            run.poll_errors += 1
            log.info("dag.poll_retry", **run.log_context(), attempt=run.poll_errors, error=exc.message)
            return min(now + retry_delay(run.poll_errors, rng=self._rng), max(run.deadline, now))
        if isinstance(exc, NotFound):
            if wire.is_task_not_found(exc.error) and wire.not_found_reason(exc.error) != RECORD_NOT_FOUND:
                # the row is there, but the agent does not take the id as its own ODP DAG
                await self._finish(run, Outcome.PROTOCOL_ERROR, ApiError(
                    exc.error.status, exc.error.code, exc.error.err_code,
                    f"the agent does not answer for DAG {run.dag.id} as its own: {exc.error.message}"), ())
                return None
            await self._finish(run, Outcome.FAILED, ApiError(
                exc.error.status, exc.error.code, exc.error.err_code,
                f"the agent no longer knows DAG {run.dag.id} (restarted?): {exc.error.message}"), ())
            return None
        outcome = Outcome.AUTH_FAILED if isinstance(exc, AuthRefused) else oc.outcome_for_error(exc)
        if outcome in (Outcome.REJECTED, Outcome.PRECHECK_FAILED):
            outcome = Outcome.UNREACHABLE  # the agent keeps failing to answer about its DAG
        error = exc.as_api_error()
        message = f"lost track of DAG {run.dag.id} after {run.poll_errors + 1} failed polls: {error.message}"
        await self._finish(run, outcome, ApiError(error.status, error.code, error.err_code, message), ())
        return None

    async def _finished(self, run: HostRun, now: float) -> bool:
        """Conclude a finished DAG; True when it was RETRYed in place instead (keep following)."""
        dag = run.dag
        assert dag is not None and run.client is not None
        outcome = oc.dag_outcome(dag, self.plan.operation.dag_operator)
        self._planner.observe(now - (run.dag_started or now))
        if outcome is Outcome.SUCCEEDED:
            await self._finish(run, outcome, None, ())
            return False
        failed: tuple[FailedTask, ...] = ()
        try:
            detailed = (await run.client.get_dag(dag.id, details=True)).data
            failed, run.failed_tasks_dropped = oc.failed_tasks(detailed)
            run.dag = detailed
        except AgentError as exc:
            log.info("dag.details_unavailable", **run.log_context(), error=exc.message)
        message = oc.dag_failure_message(dag)
        last_logs = [t.task_logs[-1] for t in failed if t.task_logs]
        if last_logs:
            message = f"{message}: {last_logs[-1]}"
        run.last_failure = message
        if self.retry is not None and await self.retry(run):
            return True
        await self._finish(run, outcome, oc.note(message), failed)
        return False
