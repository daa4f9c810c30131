"""The simulator's DAG operators, as obshell 4.5.0 implements them (see fleet/simulator/operators.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from fleet.client import AgentClient, HttpClient
from fleet.errors import ApiFailure
from fleet.models import DagDetail, HostSpec, Limits, Secret, Timeouts
from fleet.simulator import operators

if TYPE_CHECKING:
    from tests.conftest import SimFactory

PASSWORD = "fleet-sim-password"
EPOCH = "1970-01-01T08:00:00+08:00"


@pytest_asyncio.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(Limits(), Timeouts(connect=2.0, request=5.0)) as client:
        yield client


def client_for(http: HttpClient, address: str) -> AgentClient:
    ip, _, port = address.rpartition(":")
    return AgentClient(http, HostSpec(name=ip, address=ip, port=int(port)), Secret(PASSWORD))


async def refused(c: AgentClient, dag_id: str, operator: str) -> tuple[int | None, str | None]:
    with pytest.raises(ApiFailure) as info:
        await c.operate_dag(dag_id, operator)
    return info.value.error.status, info.value.error.err_code


async def wait_state(c: AgentClient, dag_id: str, *states: str, limit: float = 5.0) -> DagDetail:
    deadline = time.monotonic() + limit
    while True:
        dag = (await c.get_dag(dag_id, details=True)).data
        if dag.state in states or time.monotonic() > deadline:
            return dag
        await asyncio.sleep(0.05)


async def test_retry_reruns_a_failed_dag_from_its_failed_stage(sim_factory: SimFactory, http: HttpClient) -> None:
    """RETRY on a FAILED start DAG: at once READY, operator RUN, both times at the 1970 epoch;
    then it runs again from stage 2 (stage 1 stays done) and, the cause gone, ends SUCCEED with a
    start time after the reset and the sub-task's execute_times at 2."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.3, 0.3], "faults": {"dag_fails": 1}}})
    c = client_for(http, sim.addresses[0])
    dag = (await c.start_obproxy()).data
    failed = await wait_state(c, dag.id, "FAILED")
    assert (failed.state, failed.stage) == ("FAILED", 2)
    await c.operate_dag(dag.id, "RETRY")
    ready = (await c.get_dag(dag.id)).data
    assert (ready.state, ready.operator, ready.stage) == ("READY", "RUN", 2)
    assert ready.start_time == ready.end_time == EPOCH
    done = await wait_state(c, dag.id, "SUCCEED", "FAILED")
    assert (done.state, done.operator) == ("SUCCEED", "RUN")
    assert done.start_time not in (EPOCH, failed.start_time) and done.end_time != EPOCH
    assert done.nodes[1].sub_tasks[0].execute_times == 3  # a real agent sets a retried task ready twice
    assert (done.nodes[1].operator, done.nodes[0].operator) == ("RETRY", "RUN")


async def test_operator_refusals_follow_the_state(sim_factory: SimFactory, http: HttpClient) -> None:
    """Which operator obshell accepts in which state: on a running DAG RETRY, PASS and ROLLBACK
    are refused (400 ...NotFailedDag); on a FAILED ODP DAG ROLLBACK is never allowed ("Check
    obproxy status" cannot roll back) and CANCEL is refused as finished; an unknown operator is
    Task.Dag.Operator.NotSupport. A refusal changes nothing."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.3, 0.3], "faults": {"dag_fails": 1}}}, agents=2)
    running = client_for(http, sim.addresses[0])
    agent = sim.agent(sim.addresses[0])
    agent.settings = type(agent.settings)(dag_duration=(30.0, 30.0))
    dag = (await running.start_obproxy()).data
    assert await refused(running, dag.id, "RETRY") == (400, "Task.Dag.Operator.RetryNotFailedDag")
    assert await refused(running, dag.id, "PASS") == (400, "Task.Dag.Operator.PassNotFailedDag")
    assert await refused(running, dag.id, "ROLLBACK") == (400, "Task.Dag.Operator.RollbackNotFailedDag")
    sim_dag = agent.dags[dag.dag_id]
    refusal = operators.apply(agent, sim_dag, "JUMP", time.time())
    assert refusal is not None and refusal[1] == "Task.Dag.Operator.NotSupport"
    assert (await running.get_dag(dag.id)).data.operator == "RUN"
    c = client_for(http, sim.addresses[1])
    dag = (await c.start_obproxy()).data
    failed = await wait_state(c, dag.id, "FAILED")
    assert await refused(c, dag.id, "ROLLBACK") == (400, "Task.Dag.Operator.RollbackNotAllowed")
    assert await refused(c, dag.id, "CANCEL") == (400, "Task.Dag.Operator.CancelFinishedDag")
    assert (await c.get_dag(dag.id)).data.end_time == failed.end_time


async def test_cancel_ends_a_stuck_dag_failed_and_cancelled(sim_factory: SimFactory, http: HttpClient) -> None:
    """CANCEL on a stuck (RUNNING) DAG: READY with epoch times until the scheduler picks it up,
    then FAILED + CANCEL at the stage it had reached, its sub-task failed as cancelled."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.2, 0.2], "faults": {"dag_stuck": True}}})
    c = client_for(http, sim.addresses[0])
    dag = (await c.start_obproxy()).data
    await asyncio.sleep(0.25)
    assert (await c.get_dag(dag.id)).data.state == "RUNNING"
    await c.operate_dag(dag.id, "CANCEL")
    now = (await c.get_dag(dag.id)).data
    assert (now.state, now.operator, now.start_time) == ("READY", "CANCEL", EPOCH)
    done = await wait_state(c, dag.id, "FAILED")
    assert (done.state, done.operator, done.stage) == ("FAILED", "CANCEL", 2)
    assert done.nodes[1].sub_tasks[0].task_logs[-1] == "task cancelled"
    assert await refused(c, dag.id, "CANCEL") == (400, "Task.Dag.Operator.CancelFinishedDag")


async def test_pass_marks_a_failed_dag_succeeded_keeping_its_start(sim_factory: SimFactory, http: HttpClient) -> None:
    """PASS on a FAILED DAG: SUCCEED + PASS at once, start time kept, end time the moment of PASS."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.2, 0.2], "faults": {"dag_fails": 1}}})
    c = client_for(http, sim.addresses[0])
    dag = (await c.start_obproxy()).data
    failed = await wait_state(c, dag.id, "FAILED")
    await asyncio.sleep(0.05)
    await c.operate_dag(dag.id, "PASS")
    passed = (await c.get_dag(dag.id, details=True)).data
    assert (passed.state, passed.operator) == ("SUCCEED", "PASS")
    assert passed.end_time is not None and failed.end_time is not None
    assert passed.start_time == failed.start_time and passed.end_time > failed.end_time
    assert all(n.state == "SUCCEED" for n in passed.nodes)


async def test_stop_lock_survives_cancel_in_stop_obproxy_and_pass_releases_it(
        sim_factory: SimFactory, http: HttpClient,
) -> None:
    """A stuck stop DAG holds the maintenance lock (another stop: 500 Agent.UnderMaintenance).
    Cancelled in "Stop obproxy" it ends FAILED + CANCEL and still holds it (only the first node
    releases the lock on failure); PASS releases it and a new stop is accepted."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.2, 0.2], "faults": {"dag_stuck": True}}})
    c = client_for(http, sim.addresses[0])
    dag = (await c.stop_obproxy()).data
    await asyncio.sleep(0.25)
    with pytest.raises(ApiFailure) as info:
        await c.stop_obproxy()
    assert info.value.error.err_code == "Agent.UnderMaintenance"
    await c.operate_dag(dag.id, "CANCEL")
    assert (await wait_state(c, dag.id, "FAILED")).operator == "CANCEL"
    with pytest.raises(ApiFailure) as info:
        await c.stop_obproxy()
    assert info.value.error.err_code == "Agent.UnderMaintenance"
    await c.operate_dag(dag.id, "PASS")
    assert (await c.stop_obproxy()).data.name == "Stop obproxy"
