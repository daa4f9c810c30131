"""The nodes of a simulated DAG as obshell shows them (``NodeDetailDTO`` with its ``TaskDetailDTO``). Pure.

What a real obshell 4.5.0 agent answers (checked by ``tests/test_differential.py``) and this
module models:

- node and sub-task ``id`` are generic ids like the DAG's (prefix 4/5 for ODP DAGs), built from
  their own row ids; a sub-task's ``additional_data`` is null;
- node and sub-task times are never the zero time: both are the creation time until the node
  runs, ``end_time`` until it finishes;
- every node keeps its own operator: RUN, except the node an operator acted on — RETRY on the
  retried node (its sub-task RUN: ``SetSubTaskReady(RUN)``), PASS on the passed node and its
  sub-task, CANCEL on the node the DAG was cancelled in (the nodes after it stay PENDING + RUN);
- a sub-task's ``execute_times`` counts the times it was set READY: 1 after one run, 3 after a
  RETRY (the retry sets it ready twice), 0 when it never ran (a DAG cancelled before the scheduler
  picked it up leaves its first sub-task PENDING);
- ``task_logs`` are the executor's own lines (``executor/obproxy``): "Check obproxy status" logs
  nothing when it passes; the start task logs its command and the health check; the stop task
  the pid it kills (or that none runs); a failure adds ``ERROR: [errCode]: message`` (4.2.x:
  ``ERROR: message``); a retried task keeps the lines of its earlier runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.protocol.dags import CHECK_OBPROXY_STATUS, START_OBPROXY, STOP_OBPROXY, DagOperator, DagState
from fleet.protocol.ids import local_generic_id
from fleet.simulator.dag import NODE_NAMES, Dag
from fleet.simulator.operators import PICKUP_S
from fleet.simulator.replies import agent_time

if TYPE_CHECKING:
    from fleet.simulator.agent import SimAgent

ODP_HOME = "/home/admin/obproxy"
NOT_ODP_LOG = "This is not an OBProxy agent"
START_CMD_LOG = f"start obproxy cmd: cd '{ODP_HOME}'; ./bin/obproxy"
HEALTH_CHECK_LOG = "start obproxy health check"
START_FAIL_LOG = ("ERROR: [Common.Unexpected]: Unexpected error: failed to start obproxy, output: "
                  "obproxy exited with code 1\n: exit status 1")
#: the same failure on a 4.2.x agent (its error carried no errCode)
LEGACY_START_FAIL_LOG = "ERROR: failed to start obproxy: exit status 1, output: obproxy exited with code 1\n"
CANCELLED_LOG = "task cancelled"
#: seconds a simulated DAG is READY before its scheduler picks it up (see ``Dag.view``)
_PICKUP_WINDOW = 0.1


def node(agent: SimAgent, dag: Dag, index: int, state: DagState, current: int, now: float) -> dict[str, Any]:
    """Node ``index`` (1-based) of ``dag`` whose DAG is in ``state`` at node ``current``."""
    name = NODE_NAMES[dag.kind][index - 1]
    node_state = _node_state(index, state, current)
    operated = _operated_node(dag)
    node_operator = dag.operator if operated == index and dag.operator != DagOperator.RUN else DagOperator.RUN
    if operated == index and dag.operator == DagOperator.RUN and dag.execute_times > 1:
        node_operator = DagOperator.RETRY
    task_operator = DagOperator.PASS if node_operator == DagOperator.PASS else DagOperator.RUN
    never_ran = node_state == DagState.PENDING or (node_operator == DagOperator.CANCEL and _cancelled_unpicked(dag))
    task_state = DagState.PENDING if never_ran else node_state
    if never_ran:
        times = 0
    elif node_operator == DagOperator.RETRY:
        times = 2 * dag.execute_times - 1
    else:
        times = 1
    logs = [] if never_ran else _logs(agent, dag, name, task_state, node_operator, times)
    start = dag.created if never_ran else dag.run_start
    end = _node_end(dag, index, node_state, now)
    row = dag.dag_id * 10 + index
    generic = local_generic_id(agent.shown.own_ip, agent.shown.port, row, odp=dag.odp)
    sub = {
        "id": generic, "task_id": row, "name": name, "state": task_state, "operator": task_operator,
        "start_time": agent_time(agent.settings, start), "end_time": agent_time(agent.settings, end),
        "additional_data": None, "execute_times": times,
        "execute_agent": {"ip": agent.shown.own_ip, "port": agent.shown.port}, "task_logs": logs,
    }
    return {"id": generic, "node_id": row, "name": name, "state": node_state, "operator": node_operator,
            "start_time": agent_time(agent.settings, dag.created if node_state == DagState.PENDING else start),
            "end_time": agent_time(agent.settings, end), "additional_data": None, "sub_tasks": [sub]}


def _node_state(index: int, state: DagState, current: int) -> DagState:
    if current > index or state == DagState.SUCCEED:
        return DagState.SUCCEED
    if current < index or state == DagState.READY:
        return DagState.PENDING
    if state == DagState.FAILED:
        return DagState.FAILED
    return DagState.RUNNING


def _operated_node(dag: Dag) -> int:
    """The node an operator acted on last (0: none): the failed stage of a RETRY, PASS or CANCEL."""
    if dag.operator == DagOperator.PASS:
        return dag.final_stage
    if dag.operator == DagOperator.CANCEL or dag.execute_times > 1:
        return dag.op_stage
    return 0


def _cancelled_unpicked(dag: Dag) -> bool:
    """A CANCEL that came while the DAG was still READY, before its first sub-task was set ready."""
    if dag.ready_until is None or dag.op_stage != 1:
        return False
    cancelled_at = dag.ready_until - PICKUP_S
    return cancelled_at - dag.run_start < min(_PICKUP_WINDOW, dag.duration * 0.1)


def _node_end(dag: Dag, index: int, node_state: DagState, now: float) -> float:
    if node_state in (DagState.PENDING, DagState.RUNNING, DagState.READY):
        return dag.created
    end = dag.end_time()
    if index == 1 and dag.final_stage != 1 and node_state == DagState.SUCCEED:
        return dag.run_start + dag.duration * 0.4
    return min(end, now) if end is not None else now


def _logs(agent: SimAgent, dag: Dag, name: str, state: DagState, node_operator: str, times: int) -> list[str]:
    failed = state == DagState.FAILED
    if dag.operator == DagOperator.CANCEL and failed:
        return [CANCELLED_LOG]
    if name == CHECK_OBPROXY_STATUS:
        return [f"ERROR: [OBProxy.NotBeManaged]: {NOT_ODP_LOG}"] if failed else []
    if name == START_OBPROXY:
        fail_log = LEGACY_START_FAIL_LOG if agent.settings.legacy_errors else START_FAIL_LOG
        earlier = [START_CMD_LOG, fail_log] * ((times - 1) // 2)
        if failed or node_operator == DagOperator.PASS:
            return [*earlier, START_CMD_LOG, fail_log]
        return [*earlier, START_CMD_LOG, HEALTH_CHECK_LOG]
    if name == STOP_OBPROXY:
        if not dag.odp_was_running:
            return ["Get obproxy pid: ", "Obproxy is not running"]
        pid = agent.pid + 1000
        logs = [f"Get obproxy pid: {pid}", f"Kill obproxy process {pid}"]
        return logs if state == DagState.RUNNING else [*logs, "Check obproxy process",
                                                        "Successfully killed the obproxy process"]
    return [f"{name.lower()} on {agent.own_address}"]
