"""obshell's DAG operators (RETRY, ROLLBACK, CANCEL, PASS) on a simulated ODP DAG. No I/O.

What obshell 4.5.0 does (``executor/task/dag.go`` ``DagHandler``, ``service/task/dag.go``,
``engine/scheduler/*``), and what this module models:

==========  ======================  ==============================================================
operator    valid when              effect
==========  ======================  ==============================================================
RETRY       state FAILED, and the   DAG → READY, operator **RUN** (the node gets RETRY), start and
            failed node can retry   end time reset to the 1970 epoch; the scheduler re-runs it from
                                    the failed stage (start_time = when it runs again). A
                                    maintenance DAG that failed in "Check obproxy status" (which
                                    released the lock) takes the maintenance lock again: 500
                                    ``Agent.UnderMaintenance`` when another DAG holds it.
ROLLBACK    state FAILED, and every ODP DAG is refused: its first node "Check obproxy status"
            node up to the failed   cannot roll back → 400 ``Task.Dag.Operator.RollbackNotAllowed``
            one can roll back       ("node Check obproxy status cannot rollback").
CANCEL      state not SUCCEED or    DAG → READY, operator CANCEL, times reset to the epoch; the
            FAILED                  scheduler fails the running sub-task ("sub task cancelled") and
                                    the DAG ends FAILED + CANCEL at the stage it had reached. A
                                    maintenance DAG cancelled after "Check obproxy status" keeps the
                                    lock (only that node releases it on failure); PASS or a
                                    successful RETRY releases it.
PASS        state FAILED            DAG → SUCCEED + PASS at once, start time kept, end time = now;
                                    the maintenance lock is released.
==========  ======================  ==============================================================

Refusals are 400 with ``Task.Dag.Operator.{Retry,Rollback,Pass}NotFailedDag`` or
``CancelFinishedDag``; an unknown operator is 400 ``Task.Dag.Operator.NotSupport``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleet.models import FINISHED_STATES
from fleet.protocol.dags import CHECK_OBPROXY_STATUS, REQUEST_OPERATORS, DagOperator, DagState
from fleet.protocol.errcodes import ErrCode
from fleet.simulator.exchange import Refusal

if TYPE_CHECKING:
    from fleet.simulator.agent import SimAgent
    from fleet.simulator.dag import Dag

#: how long an operated DAG stays READY before obshell's scheduler picks it up again
PICKUP_S = 0.2
#: first node of the ODP templates: retry, cancel and pass, but no rollback
NO_ROLLBACK_NODE = CHECK_OBPROXY_STATUS
#: per operator refused on a DAG that is not FAILED: its errCode and obshell's message
_NOT_FAILED = {
    DagOperator.RETRY: (ErrCode.DAG_OPERATOR_RETRY_NOT_FAILED_DAG, "Failed to set DAG retry: DAG state is not failed"),
    DagOperator.ROLLBACK: (ErrCode.DAG_OPERATOR_ROLLBACK_NOT_FAILED_DAG,
                           "Failed to set DAG rollback: DAG state is not failed"),
    DagOperator.PASS: (ErrCode.DAG_OPERATOR_PASS_NOT_FAILED_DAG, "Failed to pass DAG: DAG is not failed"),
}


def apply(agent: SimAgent, dag: Dag, operator: str, now: float) -> Refusal | None:
    """Apply ``operator`` to ``dag`` as obshell's handler would; the refusal, or None when done."""
    state, stage, _ = dag.view(now)
    if operator == DagOperator.CANCEL:
        if state in FINISHED_STATES:
            return Refusal(400, ErrCode.DAG_OPERATOR_CANCEL_FINISHED_DAG, "Failed to cancel DAG: DAG is finished")
        _cancel(dag, stage, now)
        return None
    if operator not in REQUEST_OPERATORS:
        return Refusal(400, ErrCode.DAG_OPERATOR_NOT_SUPPORT, f"Operator {operator} is not supported")
    if state != DagState.FAILED:
        return Refusal(400, *_NOT_FAILED[DagOperator(operator)])
    if operator == DagOperator.ROLLBACK:
        return Refusal(400, ErrCode.DAG_OPERATOR_ROLLBACK_NOT_ALLOWED,
                       f"Failed to set DAG rollback: node {NO_ROLLBACK_NODE} cannot rollback")
    if operator == DagOperator.PASS:
        dag.pinned = None
        dag.final_state, dag.final_at, dag.final_stage = DagState.SUCCEED, now, stage
        dag.operator = DagOperator.PASS
        return None
    if dag.maintenance and dag.releases_lock_at(stage):  # the failure released the lock: take it again
        if agent.lock_holder(now) is not None:
            return Refusal(500, ErrCode.AGENT_UNDER_MAINTENANCE, under_maintenance(agent))
        agent.lock_dag = dag.dag_id
    _retry(agent, dag, stage, now)
    return None


def _cancel(dag: Dag, stage: int, now: float) -> None:
    dag.pinned = None
    dag.ready_until = now + PICKUP_S
    dag.op_stage = dag.final_stage = stage
    # picked up, it runs once more (RUNNING) to fail its sub-task, then ends FAILED + CANCEL
    dag.final_state, dag.final_at, dag.operator = DagState.FAILED, dag.ready_until + PICKUP_S, DagOperator.CANCEL


def _retry(agent: SimAgent, dag: Dag, stage: int, now: float) -> None:
    dag.ready_until = now + PICKUP_S
    dag.op_stage = stage
    dag.final_state = dag.final_at = None
    dag.operator = DagOperator.RUN
    dag.execute_times += 1
    agent.plan_run(dag)
    # re-run from the failed stage: stage 2 begins 40 % into a DAG's run (see Dag.view)
    dag.run_start = dag.ready_until - (dag.duration * 0.4 if stage == 2 else 0.0)


def under_maintenance(agent: SimAgent) -> str:
    """obshell's ``Agent.UnderMaintenance`` message (``err.agent.under.maintenance``)."""
    return f"{agent.own_address} is under maintenance"


def shown_times(dag: Dag, now: float) -> tuple[float | None, float | None] | None:
    """``(start, end)`` real times the DTO shows (None = the 1970 epoch) for an operated DAG.

    None when no RETRY or CANCEL reset this DAG (the agent's usual times apply).
    """
    if dag.ready_until is None:
        return None
    if now < dag.ready_until:
        return None, None
    end = dag.end_time() if dag.finished(now) else None
    return dag.ready_until, end
