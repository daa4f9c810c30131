"""Acting on a DAG that already exists: ``fleet dag …`` and ``fleet start --retry-failed``.

Both send obshell's ``POST /api/v1/task/dag/{id}`` with an operator through the engine's own
pool, journal, follower and reporter; neither ever sends a start. Like a start, an operator is
journaled (``fired`` for ``fleet dag``, ``retry`` for an in-place retry) before it leaves, so a
resumed or repeated run follows the DAG instead of sending the operator a second time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from fleet.client.agent import new_trace_id
from fleet.engine import outcome as oc
from fleet.engine.hostrun import HostRun, attempt_record
from fleet.engine.recovery import foreign_dag
from fleet.errors import AgentError, OperatorRefused
from fleet.models import ApiError, DagDetail, Outcome, Phase
from fleet.protocol.ids import parse_odp_generic_id

if TYPE_CHECKING:
    from fleet.engine.run import Engine

log = structlog.get_logger("fleet.engine")


async def operate_existing(engine: Engine, run: HostRun) -> None:
    """Send the run's operator to the DAG a past run recorded for this host, then follow it."""
    plan = engine.plan
    operator = plan.operation.dag_operator
    assert operator is not None and run.client is not None
    key = run.host.key
    dag_id = plan.targets[key]
    parsed = parse_odp_generic_id(dag_id)
    stub = DagDetail(id=dag_id, dag_id=parsed[2] if parsed else 0, name="", state="READY")
    assert run.info is not None  # read before any host acts
    wrong = foreign_dag(stub, run.info.ip, run.info.port)
    if wrong:  # a summary or journal edited by hand (or by someone else): never act on another's DAG
        await engine._finish(run, Outcome.PRECHECK_FAILED,
                             oc.note(f"not sent: the recorded {wrong}; check the summary or journal"))
        return
    prior = plan.prior.get(key)
    if prior is not None and prior.fired:
        # This journal already sent (or was about to send) the operator: follow, never send again.
        log.info("dag.operator_already_sent", **run.log_context(), operator=operator)
        run.fired = True
        await engine._accept_dag(run, stub, None)
        return
    trace_id = await engine._begin_send(run, dag=dag_id, operator=operator)
    if trace_id is None:
        return
    client = run.client
    answer = await engine._send(run, lambda: client.operate_dag(dag_id, operator, trace_id=trace_id))
    if answer is None:
        return
    if isinstance(answer, OperatorRefused):
        # refused before acting (4.3.1+: 400 Task.Dag.Operator.*; 4.2.6: 500, code 1010): settled
        error = answer.error
        await engine._finish(run, Outcome.REJECTED, ApiError(
            error.status, error.code, error.err_code,
            f"refused by the agent, nothing was done: {operator} of DAG {dag_id}: {error.message}"))
        return
    if isinstance(answer, AgentError):
        if oc.outcome_for_error(answer, fired=True) is Outcome.AMBIGUOUS:
            # The agent acts before it answers: the DAG itself shows whether the operator took.
            log.warning("dag.operator_answer_lost", **run.log_context(), operator=operator, error=answer.message)
            await engine._accept_dag(run, stub, None)
            return
        await engine._finish(run, oc.outcome_for_error(answer, fired=True), engine._explain(run, answer))
        return
    reply = answer
    run.start_trace_id = reply.trace_id
    await engine._accept_dag(run, stub, reply.trace_id)


class InPlaceRetry:
    """``--retry-failed N``: RETRY a failed start DAG on the same DAG, up to N times per host."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def __call__(self, run: HostRun) -> bool:
        engine, plan, dag = self._engine, self._engine.plan, run.dag
        assert dag is not None and run.client is not None
        if dag.state != "FAILED" or dag.operator == "CANCEL":
            return False  # only a plain failure; a cancelled DAG was someone's decision
        used = plan.prior_retries.get(run.host.key, 0) + run.retries
        if used >= plan.retry_failed or engine._stopping:
            return False
        run.attempts.append(attempt_record(run))
        trace_id = new_trace_id()
        await engine._journal.record("retry", host=run.host.key, dag=dag.id, trace_id=trace_id, attempt=used + 2)
        run.retries += 1
        run.retry_trace_id = trace_id
        try:
            await run.client.operate_dag(dag.id, "RETRY", trace_id=trace_id)
        except AgentError as exc:
            if oc.outcome_for_error(exc, fired=True) is not Outcome.AMBIGUOUS:
                log.warning("dag.retry_refused", **run.log_context(), error=exc.message,
                            err_code=exc.as_api_error().err_code)
                run.last_failure = f"{run.last_failure}; RETRY not accepted: {exc.message}"
                return False
            log.warning("dag.retry_answer_lost", **run.log_context(), error=exc.message)
        log.info("dag.retried", **run.log_context(), attempt=used + 2)
        run.dag_started = engine._clock()
        run.deadline = run.dag_started + plan.timeouts.dag
        engine._reporter.host_phase(run.host, Phase.POLLING)
        return True
