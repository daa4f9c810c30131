"""Never twice: the simulator's obshell behaviours this rests on, and the pure search and matching logic."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from fleet.engine.probe import BUDGET, LOOK, IdSearch, Seen
from fleet.engine.recovery import find_lost_dag, find_running, lock_holder, obshell_unfinished
from fleet.models import DagDetail
from fleet.protocol.ids import odp_generic_id
from fleet.simulator.agent import SimAgent
from fleet.simulator.exchange import Env, SimRequest
from fleet.simulator.keys import generate_key_pair
from fleet.simulator.settings import AgentSettings, Faults
from tests.test_simulator import auth_request

IP = "127.30.0.1"
_KEY = generate_key_pair(1024)


def _agent(**settings: Any) -> tuple[SimAgent, Env]:
    env = Env(random.Random(1), lambda bits: generate_key_pair(bits))
    return SimAgent(IP, 2886, AgentSettings(**settings), _KEY, pid=42, started_ns=int(900.0 * 1e9)), env


def _get(a: SimAgent, env: Env, target: str, now: float) -> tuple[int, dict[str, Any]]:
    ans = a.handle(auth_request(a, "GET", target, now), now, env)
    assert ans.doc is not None
    return ans.status, ans.doc


def _post(a: SimAgent, env: Env, route: str, now: float) -> tuple[int, dict[str, Any]]:
    ans = a.handle(auth_request(a, "POST", f"/api/v1/obproxy/{route}", now), now, env)
    assert ans.doc is not None
    return ans.status, ans.doc


def _dag_path(dag_id: int, prefix: str = "4") -> str:
    generic = odp_generic_id(IP, 2886, dag_id)
    return f"/api/v1/task/dag/{prefix}{generic[1:]}?show_details=false"


# -- the simulator models obshell --------------------------------------------------------------


@pytest.mark.parametrize("identity", ["SINGLE", "MASTER", "CLUSTER AGENT"])
def test_ordinary_routes_accept_the_agent_password_except_on_a_follower(identity: str) -> None:
    """SINGLE, MASTER and CLUSTER AGENT answer the unfinished list with the agent password."""
    a, env = _agent(identity=identity)
    status, doc = _get(a, env, "/api/v1/task/dag/agent/unfinish?show_details=false", 1000.0)
    assert status == 200 and doc["data"]["contents"] == []


def test_a_follower_forwards_ordinary_routes_and_fails_without_the_ob_header() -> None:
    """A FOLLOWER auto-forwards ordinary routes: with the agent header it answers 500
    Request.Forward.Header.NotExist (before any password check); ODP DAG ids still work."""
    a, env = _agent(identity="FOLLOWER")
    for target in ("/api/v1/task/dag/agent/unfinish?show_details=false", "/api/v1/task/dags/agent"):
        status, doc = _get(a, env, target, 1000.0)
        assert status == 500 and doc["error"]["errCode"] == "Request.Forward.Header.NotExist"
        assert doc["error"]["message"] == "Header not found when auto-forwarding request to master"
    wrong = a.handle(auth_request(a, "GET", "/api/v1/task/dags/agent", 1000.0, password="nope"), 1000.0, env)
    assert wrong.status == 500  # forwarded before the password is looked at
    status, doc = _post(a, env, "start", 1000.0)
    assert status == 200
    status, doc = _get(a, env, _dag_path(doc["data"]["dag_id"]), 1000.5)
    assert status == 200 and doc["data"]["name"] == "Start obproxy"
    status, doc = _get(a, env, _dag_path(99), 1000.5)
    assert status == 404 and doc["error"]["errCode"] == "Task.NotFound"


def test_history_is_one_id_sequence_shared_by_every_dag_type_and_costs_no_memory() -> None:
    """history: N old DAGs answer by id (ODP ones on 4…, non-ODP local ones on 2… and 'dag id not
    match' on 4…), the next DAG gets id N+1, id N+2 is 'record not found', and nothing is stored."""
    a, env = _agent(history=50_000, history_local_every=7)
    assert a.dags == {}
    status, doc = _get(a, env, _dag_path(50_000), 1000.0)
    assert status == 200 and doc["data"]["state"] == "SUCCEED" and doc["data"]["dag_id"] == 50_000
    status, doc = _get(a, env, _dag_path(49_994), 1000.0)  # 49,994 = 7 × 7,142: a non-ODP row
    assert status == 404 and doc["error"]["message"] == "Task not found: dag id not match"
    status, doc = _get(a, env, _dag_path(49_994, prefix="2"), 1000.0)
    assert status == 200 and doc["data"]["name"] == "Upgrade agent" and doc["data"]["id"].startswith("2")
    status, doc = _post(a, env, "start", 1000.0)
    assert doc["data"]["dag_id"] == 50_001
    status, doc = _get(a, env, _dag_path(50_002), 1000.0)
    assert status == 404 and doc["error"]["message"] == "Task not found: record not found"
    assert len(a.dags) == 1 and a.dag_not_found == 2


def test_end_time_is_the_creation_time_until_the_dag_finishes() -> None:
    """end_time equals the creation time while the DAG runs, and its end once finished."""
    a, env = _agent(dag_duration=(2.0, 2.0))
    _, doc = _post(a, env, "start", 1000.0)
    created = doc["data"]["end_time"]
    _, running = _get(a, env, _dag_path(1), 1001.0)
    assert running["data"]["state"] == "RUNNING" and running["data"]["end_time"] == created
    _, done = _get(a, env, _dag_path(1), 1003.0)
    assert done["data"]["state"] == "SUCCEED" and done["data"]["end_time"] > created


def test_a_failed_stop_keeps_the_lock_and_stays_unfinished_while_start_is_not_refused() -> None:
    """A stop DAG that failed at 'Stop obproxy' stays in the unfinished list and keeps the
    maintenance lock (a second stop: 500 Agent.UnderMaintenance); obshell's start takes no lock
    and creates its DAG anyway; a failed start leaves the unfinished list."""
    a, env = _agent(dag_duration=(1.0, 1.0), faults=Faults(dag_fails=2))
    _, stop = _post(a, env, "stop", 1000.0)
    status, again = _post(a, env, "stop", 1000.5)
    assert status == 500 and again["error"]["errCode"] == "Agent.UnderMaintenance"
    _, listed = _get(a, env, "/api/v1/task/dag/agent/unfinish?show_details=false", 1002.0)
    assert [(d["name"], d["state"]) for d in listed["data"]["contents"]] == [("Stop obproxy", "FAILED")]
    status, again = _post(a, env, "stop", 1002.0)
    assert status == 500 and again["error"]["errCode"] == "Agent.UnderMaintenance"
    status, start = _post(a, env, "start", 1002.0)
    assert status == 200 and start["data"]["dag_id"] == stop["data"]["dag_id"] + 1
    _, listed = _get(a, env, "/api/v1/task/dag/agent/unfinish?show_details=false", 1004.0)
    assert [d["name"] for d in listed["data"]["contents"]] == ["Stop obproxy"]  # the failed start left


def test_a_restart_keeps_history_and_running_dags_and_changes_the_key_and_pid() -> None:
    """restart: new pid, startAt and key pair; DAGs (history and new) and their ids survive."""
    a, env = _agent(history=10, dag_duration=(5.0, 5.0))
    _post(a, env, "start", 1000.0)
    key, pid = a.key, a.pid
    a.restart(1001.0, env)
    assert a.key is not key and a.pid == pid + 1 and a.started_ns == int(1001.0 * 1e9)
    status, after = _get(a, env, _dag_path(11), 1002.0)
    assert status == 200 and after["data"]["state"] == "RUNNING"
    assert _get(a, env, _dag_path(3), 1002.0)[0] == 200
    assert _post(a, env, "start", 1002.0)[1]["data"]["dag_id"] == 12


def test_restart_after_fault_restarts_without_forgetting() -> None:
    """restart_after restarts the agent after its first start and keeps its DAGs (unlike
    forget_dags_after, the explicit 'agent forgot' fault)."""
    a, env = _agent(faults=Faults(restart_after=0.5), dag_duration=(3.0, 3.0))
    _post(a, env, "start", 1000.0)
    a.handle(SimRequest("GET", "/api/v1/info", {}), 1001.0, env)  # time passes: the agent restarts
    status, _ = _get(a, env, _dag_path(1), 1001.0)  # signed with the new key
    assert a.restarted and status == 200


# -- the pure search ---------------------------------------------------------------------------


def _drive(search: IdSearch, total: int, other: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    while (dag_id := search.next_id()) is not None:
        if dag_id > total:
            search.observe(dag_id, Seen.ABSENT)
        elif dag_id in other:
            search.observe(dag_id, Seen.OTHER)
        else:
            search.observe(dag_id, Seen.ODP, DagDetail(odp_generic_id(IP, 2886, dag_id), dag_id, "Start obproxy",
                                                        "SUCCEED"))
    return search.requests


@pytest.mark.parametrize("total", [0, 1, 2, 3, 7, 8, 9, 100, 1023, 1024, 50_000, 50_001, 1_000_000])
def test_id_search_finds_the_frontier_and_the_newest_dags_within_its_bound(total: int) -> None:
    """Galloping then bisecting finds the highest existing id with at most
    2·⌈log2(N+1)⌉ + 2 + LOOK probes, and reads the newest LOOK ids."""
    search = IdSearch()
    spent = _drive(search, total)
    assert search.complete and search.frontier == total
    assert [d.dag_id for d in search.newest()][:LOOK] == list(range(total, max(0, total - LOOK), -1))
    assert spent <= 2 * math.ceil(math.log2(total + 1)) + 2 + LOOK


def test_id_search_from_a_known_hint_costs_two_probes_for_one_new_dag() -> None:
    """From the frontier seen before the send, one new DAG is found with three probes."""
    search = IdSearch(hint=50_000, hint_known=True, floor=50_000)
    assert _drive(search, 50_001) == 3
    assert [d.dag_id for d in search.newest()] == [50_001]


def test_id_search_drops_a_stale_hint_and_counts_non_odp_rows_as_existing() -> None:
    """A hint above the frontier (agent reinstalled) is discarded; non-ODP rows are existing ids."""
    search = IdSearch(hint=900)
    _drive(search, 40, other={38, 40})
    assert search.complete and search.frontier == 40
    assert [d.dag_id for d in search.newest()][:2] == [39, 37]


def test_id_search_stops_at_its_budget_and_says_so() -> None:
    """Out of budget, the search ends incomplete rather than guessing."""
    search = IdSearch(budget=5)
    assert _drive(search, 1_000_000) == 5 and not search.complete and search.frontier is None
    assert BUDGET >= 2 * 63 // 2


# -- the pure matching ------------------------------------------------------------------------


def _dag(dag_id: int, name: str, state: str, start: str | None = None, end: str | None = None) -> DagDetail:
    return DagDetail(odp_generic_id(IP, 2886, dag_id), dag_id, name, state, start_time=start, end_time=end)


def test_running_is_alive_and_a_stop_failed_in_its_second_node_holds_the_lock() -> None:
    """A failed stop is unfinished (obshell's list) but not running; one that failed in 'Stop
    obproxy' (stage 2) keeps the lock; a failed start is neither; the newest running DAG wins."""
    failed_stop = DagDetail(odp_generic_id(IP, 2886, 5), 5, "Stop obproxy", "FAILED", stage=2, max_stage=2)
    assert obshell_unfinished(failed_stop) and not obshell_unfinished(_dag(6, "Start obproxy", "FAILED"))
    dags = [_dag(3, "Start obproxy", "RUNNING"), _dag(4, "Start obproxy", "RUNNING"), failed_stop]
    assert find_running(dags, "Start obproxy") == dags[1]
    assert find_running(dags, "Stop obproxy") is None
    assert lock_holder(dags) == failed_stop
    assert lock_holder([_dag(5, "Stop obproxy", "SUCCEED")]) is None


def test_lost_dag_above_the_baseline_or_created_after_the_send() -> None:
    """With a baseline only ids above it qualify; without, times (epoch resets ignored) decide."""
    dags = [_dag(9, "Start obproxy", "SUCCEED", "2026-11-27T10:00:03Z", "2026-11-27T10:00:06Z"),
            _dag(8, "Start obproxy", "SUCCEED", "2026-11-27T09:00:00Z", "2026-11-27T09:00:03Z"),
            _dag(10, "Start obproxy", "READY", "1970-01-01T08:00:00+08:00", "1970-01-01T08:00:00+08:00")]
    sent = 1_795_773_600.0  # 2026-11-27T10:00:00Z
    assert find_lost_dag(dags, "Start obproxy", sent, after_id=9).dag_id == 10  # type: ignore[union-attr]
    assert find_lost_dag(dags, "Start obproxy", sent, after_id=10) is None
    assert find_lost_dag(dags, "Start obproxy", sent).dag_id == 9  # type: ignore[union-attr]
    assert find_lost_dag(dags, "Stop obproxy", sent) is None
