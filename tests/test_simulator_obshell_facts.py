"""The simulator models what obshell's source shows and fleet must cope with: the ODP maintenance
lock (not the unfinished list), transient ``Task.NotFound``, the 4.2.x/4.3.0 decrypt failure, 4.2.6's
operator refusals, the start DAG's health-check sleeps, and an IPv4-mapped agent address."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fleet.protocol import crypto
from fleet.protocol.ids import odp_generic_id
from fleet.simulator.agent import SimAgent
from fleet.simulator.config import config_from_dict, resolve_settings
from fleet.simulator.exchange import Env, SimRequest
from fleet.simulator.keys import generate_key_pair
from fleet.simulator.settings import AgentSettings, ConfigError, Faults, PlantedDag
from tests.test_simulator import auth_request

IP = "127.30.0.1"
_KEY = generate_key_pair(1024)
_OTHER_KEY = generate_key_pair(1024)
UNFINISHED = "/api/v1/task/dag/agent/unfinish?show_details=false"


def _agent(**settings: Any) -> tuple[SimAgent, Env]:
    env = Env(random.Random(1), lambda bits: generate_key_pair(bits))
    return SimAgent(IP, 2886, AgentSettings(**settings), _KEY, pid=42, started_ns=int(900.0 * 1e9)), env


def _send(a: SimAgent, env: Env, method: str, target: str, now: float,
          body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    ans = a.handle(auth_request(a, method, target, now, body), now, env)
    assert ans.doc is not None
    return ans.status, ans.doc


def _dag_target(a: SimAgent, dag_id: int, details: bool = False) -> str:
    return f"/api/v1/task/dag/{odp_generic_id(a.own_ip, a.port, dag_id)}?show_details={str(details).lower()}"


# -- the ODP maintenance lock ------------------------------------------------------------------


def test_a_running_upgrade_holds_the_lock_against_stop_but_not_against_start() -> None:
    """An upgrade another operator runs (planted) holds the ODP maintenance lock: a stop gets 500
    Agent.UnderMaintenance ("<agent> is under maintenance"), a start is accepted beside it (start
    takes no lock); the upgrade shows in the unfinished list with its 10 nodes and maintenance_type 4."""
    a, env = _agent(dags=(PlantedDag("upgrade", "RUNNING", 8),))
    status, doc = _send(a, env, "POST", "/api/v1/obproxy/stop", 1000.0)
    assert status == 500 and doc["error"]["errCode"] == "Agent.UnderMaintenance"
    assert doc["error"]["message"] == f"{IP}:2886 is under maintenance"
    status, doc = _send(a, env, "POST", "/api/v1/obproxy/start", 1000.0)
    assert status == 200 and doc["data"]["dag_id"] == 2
    _, listed = _send(a, env, "GET", UNFINISHED, 1000.1)
    upgrade = listed["data"]["contents"][0]
    assert (upgrade["name"], upgrade["state"], upgrade["stage"], upgrade["max_stage"],
            upgrade["maintenance_type"]) == ("Upgrade obproxy", "RUNNING", 8, 10, 4)
    _, detail = _send(a, env, "GET", _dag_target(a, 1, details=True), 1000.2)
    nodes = detail["data"]["nodes"]
    assert [n["state"] for n in nodes] == ["SUCCEED"] * 7 + ["RUNNING", "PENDING", "PENDING"]
    assert nodes[7]["name"] == "Hot restart obproxy"


@pytest.mark.parametrize(("kind", "stage", "locked"), [
    ("stop", 1, False), ("stop", 2, True), ("delete", 1, False), ("delete", 3, True),
    ("add", 1, False), ("add", 2, True), ("upgrade", 1, True), ("upgrade", 10, True)])
def test_a_failed_maintenance_dag_stays_unfinished_and_keeps_the_lock_unless_it_failed_checking(
        kind: str, stage: int, locked: bool) -> None:
    """Every failed maintenance DAG stays in the unfinished list for ever, but only one that failed
    in "Check obproxy status" released the lock (upgrade has no such node: it always keeps it)."""
    a, env = _agent(dags=(PlantedDag(kind, "FAILED", stage),))
    _, listed = _send(a, env, "GET", UNFINISHED, 1000.0)
    assert [(d["dag_id"], d["state"], d["stage"]) for d in listed["data"]["contents"]] == [(1, "FAILED", stage)]
    status, doc = _send(a, env, "POST", "/api/v1/obproxy/stop", 1000.0)
    assert status == (500 if locked else 200), doc
    if not locked:
        assert doc["data"]["dag_id"] == 2


def test_retrying_a_dag_that_released_the_lock_takes_it_again_or_is_refused() -> None:
    """RETRY of a stop that failed checking takes the lock again; while another DAG holds it, the
    RETRY is refused with 500 Agent.UnderMaintenance; PASS of the holder releases it."""
    a, env = _agent(dags=(PlantedDag("stop", "FAILED", 1), PlantedDag("delete", "FAILED", 2)))
    status, doc = _send(a, env, "POST", _dag_target(a, 1).split("?")[0], 1000.0, {"operator": "RETRY"})
    assert status == 500 and doc["error"]["errCode"] == "Agent.UnderMaintenance"
    status, _ = _send(a, env, "POST", _dag_target(a, 2).split("?")[0], 1000.0, {"operator": "PASS"})
    assert status == 200
    status, _ = _send(a, env, "POST", _dag_target(a, 1).split("?")[0], 1001.0, {"operator": "RETRY"})
    assert status == 200
    assert a.lock_holder(1001.0) is a.dags[1]
    status, doc = _send(a, env, "POST", "/api/v1/obproxy/stop", 1001.1)
    assert status == 500 and doc["error"]["errCode"] == "Agent.UnderMaintenance"


def test_planted_dags_are_validated_with_their_line() -> None:
    """A planted DAG of an unknown kind, or past its last stage, is a one-line ConfigError."""
    with pytest.raises(ConfigError, match="kind"):
        config_from_dict({"defaults": {"dags": [{"kind": "reboot", "state": "RUNNING"}]}})
    with pytest.raises(ConfigError, match="has 2 stages"):
        config_from_dict({"defaults": {"dags": [{"kind": "stop", "state": "FAILED", "stage": 3}]}})
    config = config_from_dict({"defaults": {"dags": [{"kind": "add", "state": "FAILED", "stage": 2}]}})
    settings = resolve_settings(config, [(IP, 2886)], 0)[0]
    assert settings.dags == (PlantedDag("add", "FAILED", 2),)


# -- transient Task.NotFound ---------------------------------------------------------------------


def test_busy_lookups_answer_task_not_found_without_saying_record_not_found() -> None:
    """With busy_lookups N, the first N DAG lookups (GET and POST) after the first start are 404
    Task.NotFound whose message is the lookup's own error, not "record not found"; then the DAG is
    found again."""
    a, env = _agent(faults=Faults(busy_lookups=2))
    assert _send(a, env, "GET", _dag_target(a, 1), 999.0)[1]["error"]["message"] == "Task not found: record not found"
    _, started = _send(a, env, "POST", "/api/v1/obproxy/start", 1000.0)
    target = _dag_target(a, started["data"]["dag_id"])
    for _ in range(2):
        status, doc = _send(a, env, "GET", target, 1000.1)
        assert status == 404 and doc["error"]["errCode"] == "Task.NotFound"
        assert "record not found" not in doc["error"]["message"] and "dag id not match" not in doc["error"]["message"]
    status, doc = _send(a, env, "GET", target, 1000.2)
    assert status == 200 and doc["data"]["id"] == started["data"]["id"]
    status, doc = _send(a, env, "GET", _dag_target(a, 99), 1000.2)
    assert status == 404 and doc["error"]["message"] == "Task not found: record not found"


# -- 4.2.x / 4.3.0 -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["4.2.6.0-1", "4.3.0.0-1"])
def test_legacy_agents_answer_a_header_they_cannot_decrypt_with_10008(version: str) -> None:
    """4.2.x and 4.3.0 answer an undecryptable header with 401, code 10008, "Verification failed:
    header decrypt failed", no errCode; a wrong password is 10008 too, with another message."""
    a, env = _agent(version=version)
    session = crypto.SessionKey.generate()
    header = crypto.header_json("fleet-sim-password", 1060, "/api/v1/obproxy/start", session)
    request = SimRequest("POST", "/api/v1/obproxy/start",
                         {"X-OCS-Agent-Header": crypto.encrypt_header(header, _OTHER_KEY.private.public_key())}, b"")
    ans = a.handle(request, 1000.0, env)
    assert ans.doc is not None
    assert ans.status == 401 and ans.doc["error"] == {"code": 10008,
                                                      "message": "Verification failed: header decrypt failed"}
    wrong = a.handle(auth_request(a, "POST", "/api/v1/obproxy/start", 1000.0, password="wrong"), 1000.0, env)
    assert wrong.doc is not None and wrong.status == 401 and wrong.doc["error"]["code"] == 10008
    assert wrong.doc["error"]["message"] != "Verification failed: header decrypt failed"
    assert a.starts_accepted == 0


def test_4_2_6_refuses_a_dag_operator_with_500_code_1010_known_error() -> None:
    """4.2.6 refuses RETRY of a running DAG with 500, code 1010, "Known error: …"; 4.3.1+ with 400
    Task.Dag.Operator.RetryNotFailedDag."""
    refusal = "Failed to set DAG retry: DAG state is not failed"
    for version, status, error in [
            ("4.2.6.0-1", 500, {"code": 1010, "message": "Known error: " + refusal}),
            ("4.3.1.0-1", 400, {"errCode": "Task.Dag.Operator.RetryNotFailedDag", "message": refusal})]:
        a, env = _agent(version=version, dag_duration=(5.0, 5.0))
        _, started = _send(a, env, "POST", "/api/v1/obproxy/start", 1000.0)
        got, doc = _send(a, env, "POST", _dag_target(a, started["data"]["dag_id"]).split("?")[0], 1001.0,
                         {"operator": "RETRY"})
        assert (got, doc["error"]) == (status, error), version


# -- the start DAG's health checks -----------------------------------------------------------


def test_the_start_dag_sleeps_before_each_health_check_and_gives_up_after_100() -> None:
    """With health_check tries N and interval S, the start DAG runs N·S seconds beyond its launch
    and succeeds; with more than 100 tries needed it fails after 100·S, as obshell's does."""
    a, env = _agent(dag_duration=(1.0, 1.0), health_check_tries=3, health_check_interval=10.0)
    _, started = _send(a, env, "POST", "/api/v1/obproxy/start", 1000.0)
    target = _dag_target(a, started["data"]["dag_id"])
    assert _send(a, env, "GET", target, 1000.0 + 1.0 + 29.0)[1]["data"]["state"] == "RUNNING"
    assert _send(a, env, "GET", target, 1000.0 + 1.0 + 30.1)[1]["data"]["state"] == "SUCCEED"
    b, env = _agent(dag_duration=(1.0, 1.0), health_check_tries=101, health_check_interval=0.5)
    _, started = _send(b, env, "POST", "/api/v1/obproxy/start", 1000.0)
    target = _dag_target(b, started["data"]["dag_id"])
    assert _send(b, env, "GET", target, 1000.0 + 1.0 + 49.9)[1]["data"]["state"] == "RUNNING"
    done = _send(b, env, "GET", target, 1000.0 + 1.0 + 50.1)[1]["data"]
    assert (done["state"], done["stage"]) == ("FAILED", 2)


# -- an IPv4-mapped agent address ----------------------------------------------------------------


def test_an_ipv4_mapped_agent_builds_prefix_4_ids_and_cannot_look_them_up() -> None:
    """An agent whose own address is ::ffff:a.b.c.d shows it in /info, and its ODP DAG ids carry
    prefix 4 and the IPv4 integer (Go's To4()); obshell then compares the id's address (printed as
    a.b.c.d) with its own as strings, so a lookup of its own ODP DAG is 404 "obproxy task not found"."""
    a, env = _agent(ipv4_mapped=True)
    info = a.handle(SimRequest("GET", "/api/v1/info", {}, b""), 1000.0, env)
    assert info.doc is not None and info.doc["data"]["ip"] == f"::ffff:{IP}"
    _, started = _send(a, env, "POST", "/api/v1/obproxy/start", 1000.0)
    assert started["data"]["id"] == odp_generic_id(IP, 2886, 1) == odp_generic_id(f"::ffff:{IP}", 2886, 1)
    status, doc = _send(a, env, "GET", f"/api/v1/task/dag/{started['data']['id']}?show_details=false", 1000.1)
    assert status == 404 and doc["error"]["message"] == "Task not found: obproxy task not found"
