"""fleet's pure decisions about obshell's real behaviour, tested directly: which answers mean a
changed key, which ``Task.NotFound`` answers say anything about a DAG, who holds the ODP
maintenance lock, which refusals of a DAG operator are the agent's, and the default timeout."""

from __future__ import annotations

import pytest

from fleet.config import DEFAULT_DAG_TIMEOUT, HEALTH_CHECK_INTERVAL_S, HEALTH_CHECK_TRIES, Timeouts
from fleet.engine.recovery import before_fire, holds_lock, lock_message, obshell_unfinished
from fleet.models import ApiError, DagDetail, NodeDetail
from fleet.protocol import wire
from fleet.protocol.ids import odp_generic_id


def _dag(dag_id: int, name: str, state: str, stage: int = 1, max_stage: int = 2, maintenance_type: int = 0,
         nodes: tuple[NodeDetail, ...] = ()) -> DagDetail:
    return DagDetail(odp_generic_id("10.0.0.1", 2886, dag_id), dag_id, name, state, stage=stage,
                     max_stage=max_stage, maintenance_type=maintenance_type, nodes=nodes)


@pytest.mark.parametrize(("error", "changed_key"), [
    (ApiError(401, 1, "Security.Authentication.Header.DecryptFailed", "Decrypt http header failed"), True),
    (ApiError(401, 10008, None, "Verification failed: header decrypt failed"), True),  # 4.2.x, 4.3.0
    (ApiError(401, 10008, None, "verification failed: Header decrypt failed: crypto/rsa"), True),
    (ApiError(401, 1, None, "Decrypt http header failed"), True),
    (ApiError(401, 10008, None, "Verification failed: agent password is incorrect"), False),
    (ApiError(401, 10008, None, "Verification failed: header not found"), False),
    (ApiError(401, 10008, "Security.Authentication.IncorrectAgentPassword", "Unauthorized: wrong"), False),
    (ApiError(500, 10008, None, "Verification failed: header decrypt failed"), False),  # not a 401
])
def test_a_changed_key_is_told_from_a_wrong_password_on_every_release(error: ApiError, changed_key: bool) -> None:
    """DecryptFailed (4.3.1+) and 4.2.x/4.3.0's 401 code 10008 "Verification failed: header decrypt
    failed" mean the agent's key changed (refetch /secret, retry once); other 10008 messages are
    auth failures, never retried."""
    assert wire.is_decrypt_failure(error) is changed_key


def test_the_default_timeout_covers_the_start_dags_worst_case_health_check() -> None:
    """obshell's start DAG sleeps 10 s before each of up to 100 health checks, so an ODP that answers
    the 100th is started ~1,000 s in: the default --timeout outlasts that, with room for the rest."""
    worst_sleeps = HEALTH_CHECK_TRIES * HEALTH_CHECK_INTERVAL_S
    assert (HEALTH_CHECK_TRIES, HEALTH_CHECK_INTERVAL_S) == (100, 10.0)
    assert worst_sleeps + HEALTH_CHECK_TRIES * 1.0 < DEFAULT_DAG_TIMEOUT  # a second per check, at least
    assert Timeouts().dag == DEFAULT_DAG_TIMEOUT == 1200.0


@pytest.mark.parametrize(("dag", "held"), [
    (_dag(1, "Upgrade obproxy", "RUNNING", 8, 10, 4), True),
    (_dag(1, "Upgrade obproxy", "FAILED", 1, 10, 4), True),  # no "Check obproxy status" node
    (_dag(1, "Add obproxy", "FAILED", 1, 4, 4), False),
    (_dag(1, "Add obproxy", "FAILED", 2, 4, 4), True),
    (_dag(1, "Delete obproxy", "PENDING", 1, 4, 4), True),
    (_dag(1, "Delete obproxy", "FAILED", 3, 4), True),  # an agent that shows no maintenance_type
    (_dag(1, "Stop obproxy", "FAILED", 1), False),
    (_dag(1, "Stop obproxy", "FAILED", 2), True),
    (_dag(1, "Stop obproxy", "READY", 1), True),  # e.g. cancelled, not yet failed by the scheduler
    (_dag(1, "Stop obproxy", "SUCCEED", 2), False),
    (_dag(1, "Start obproxy", "RUNNING"), False),  # start takes no lock
    (_dag(1, "Some future obproxy DAG", "FAILED", 1, 3, 4), True),  # unknown template: kept
    (_dag(1, "Stop obproxy", "FAILED", 2, nodes=(NodeDetail("1", "Check obproxy status", "FAILED"),)), False),
])
def test_the_lock_is_held_by_a_live_maintenance_dag_or_one_that_failed_past_checking(
        dag: DagDetail, held: bool) -> None:
    """Stop, add, upgrade and delete hold the ODP lock from creation until they succeed or fail in
    'Check obproxy status' (its failed node decides where the DAG shows its nodes); start never
    holds it; a failed maintenance DAG stays in obshell's unfinished list either way."""
    assert holds_lock(dag) is held
    if dag.state == "FAILED" and dag.name != "Start obproxy":
        assert obshell_unfinished(dag)


def test_before_fire_adopts_a_live_dag_of_the_operation_else_names_the_lock_holder() -> None:
    """A start fires when only a stop that released the lock is unfinished; it is held back by a
    running upgrade (named, with what to do); a stop adopts a running stop but never a failed one,
    which still holds the lock and blocks it (mid-stop)."""
    released = _dag(4, "Stop obproxy", "FAILED", 1)
    assert before_fire([released], "Start obproxy") == (None, None)
    upgrade = _dag(5, "Upgrade obproxy", "RUNNING", 3, 10, 4)
    assert before_fire([released, upgrade], "Start obproxy") == (None, upgrade)
    message = lock_message(upgrade, "Start obproxy")
    assert upgrade.id in message and "'Upgrade obproxy'" in message and "run beside it" in message
    running_stop = _dag(6, "Stop obproxy", "RUNNING", 2)
    assert before_fire([released, running_stop], "Stop obproxy") == (running_stop, None)
    dead = _dag(6, "Stop obproxy", "FAILED", 2)
    assert before_fire([released, dead], "Stop obproxy") == (None, dead)
    message = lock_message(dead, "Stop obproxy")
    assert message.startswith("the agent is mid-stop") and "retry or pass" in message
    assert "Agent.UnderMaintenance" in message


@pytest.mark.parametrize(("error", "refusal"), [
    (ApiError(400, None, "Task.Dag.Operator.RetryNotFailedDag", "Failed to set DAG retry: DAG state is not failed"),
     True),
    (ApiError(500, 1010, None, "Known error: Failed to set DAG retry: DAG state is not failed"), True),  # 4.2.6
    (ApiError(500, 1002, None, "Unexpected error: database is locked"), False),
    (ApiError(500, None, "Common.Unexpected", "Unexpected error: Internal Server Error"), False),
    (ApiError(500, 1010, None, "Internal error"), False),
])
def test_operator_refusals_are_recognised_on_4_2_6_and_4_3(error: ApiError, refusal: bool) -> None:
    """A DAG operator the agent refused before acting: 4.3.1+ Task.Dag.Operator.* or 4.2.6's 500,
    code 1010, "Known error: …"; any other 5xx stays a server failure."""
    assert wire.is_operator_refusal(error) is refusal
