"""Never twice, end to end on loopback agents: lost answers recovered on every identity and on
long-lived agents within a bounded number of requests, the start's own trace id first, running
DAGs adopted instead of fired again, and obshell's stop lock respected."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fleet.engine.probe import LOOK
from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, write_inventory
from tests.test_simulator import call

DAG_GET = "GET /api/v1/task/dag/{id}"
UNFINISHED = "GET /api/v1/task/dag/agent/unfinish"


def _fired(journal: Path) -> dict[str, str]:
    """host → the trace id fleet sent with its start, from the journal."""
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    return {ev["host"].rsplit(":", 1)[0]: ev["trace_id"] for ev in events if ev["ev"] == "fired"}


def _look_requests(agent: dict[str, Any], polls: int) -> int:
    """Requests an agent got for looking (unfinished list, id probes): every DAG read but the polls."""
    requests: dict[str, int] = agent["requests"]
    return requests.get(UNFINISHED, 0) + requests.get(DAG_GET, 0) - polls


def _recovery_bound(dags: int) -> int:
    """The stated bound: the unfinished list, then 2·⌈log2(N+1)⌉ + 2 + LOOK id probes."""
    return 1 + 2 * math.ceil(math.log2(dags + 1)) + 2 + LOOK


# (identity, history) of each pair of agents: the first's start answer is lost, the second is its control
PAIRS = [("SINGLE", 0), ("MASTER", 0), ("FOLLOWER", 0), ("CLUSTER AGENT", 0),
         ("SINGLE", 50_000), ("FOLLOWER", 50_000), ("MASTER", 50_000)]


def test_lost_start_answers_are_recovered_on_every_identity_within_the_bound(tmp_path: Path) -> None:
    """A start whose answer is lost (the agent created the DAG, then dropped the connection)
    ends succeeded on SINGLE, MASTER, FOLLOWER and CLUSTER AGENT agents, with 0 or 50,000 old
    DAGs (one with non-ODP DAGs interleaved): adopted as answer_lost, its sent trace id first,
    one start per agent, and recovery requests (simulator counters, minus an identical control
    agent's look) within 1 + 2·⌈log2(N+1)⌉ + 2 + LOOK. A start refused with garbage keeps its
    sent trace id first and stays ambiguous."""
    base = "127.52.0.1"
    ips = addresses(base, 2 * len(PAIRS) + 1)
    agents: dict[str, Any] = {}
    for n, (identity, history) in enumerate(PAIRS):
        settings: dict[str, Any] = {"identity": identity, "history": history}
        if n == len(PAIRS) - 1:
            settings["history_local_every"] = 3
        agents[f"{ips[2 * n]}:2886"] = {**settings, "faults": {"drop_after_start": True}}
        agents[f"{ips[2 * n + 1]}:2886"] = settings
    garbage = ips[-1]
    agents[f"{garbage}:2886"] = {"faults": {"garbage": ["start"]}}
    config = {"defaults": {"dag_duration": [0.3, 0.6]}, "agents": agents}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--journal", str(journal)], cwd=tmp_path)
        state = sim.state()
    assert run.summary is not None, run.stderr[-3000:]
    hosts = {h["host"]: h for h in run.summary["hosts"]}
    fired = _fired(journal)
    measured = []
    for n, (identity, history) in enumerate(PAIRS):
        lost, control = ips[2 * n], ips[2 * n + 1]
        host = hosts[lost]
        assert host["outcome"] == "succeeded", (identity, history, host["error"])
        assert host["adopted"] is not None and host["adopted"]["reason"] == "answer_lost", host
        assert host["trace_ids"][0] == fired[lost]
        assert hosts[control]["outcome"] == "succeeded" and hosts[control]["adopted"] is None
        assert hosts[control]["trace_ids"][0] == fired[control]
        lost_agent, control_agent = state["agents"][f"{lost}:2886"], state["agents"][f"{control}:2886"]
        assert lost_agent["starts_accepted"] == 1 and control_agent["starts_accepted"] == 1
        recovery = _look_requests(lost_agent, host["polls"]) - _look_requests(control_agent,
                                                                                hosts[control]["polls"])
        look = _look_requests(control_agent, hosts[control]["polls"])
        measured.append((identity, history, host["adopted"]["how"], recovery, look))
        assert 0 < recovery <= _recovery_bound(history + 1), (identity, history, recovery)
    print("(identity, history, how, recovery requests, pre-start look requests):", measured)
    host = hosts[garbage]
    assert host["outcome"] == "ambiguous" and host["trace_ids"][0] == fired[garbage]
    assert run.returncode == 2


def _start_by_hand(address: str) -> dict[str, Any]:
    """Another operator's start, sent straight to the agent."""
    status, doc = asyncio.run(call(address, "POST", "/api/v1/obproxy/start"))
    assert status == 200, doc
    data: dict[str, Any] = doc["data"]
    return data


def test_a_start_already_running_is_adopted_not_fired_again(tmp_path: Path) -> None:
    """When another operator's start is still running, fleet follows that DAG instead of
    firing: adopted as already_running (unfinished list, or id probes on a FOLLOWER and on an
    agent with history), the agent gets exactly one start; an agent that restarts mid-DAG keeps
    its history and fleet follows its DAG to the end."""
    base = "127.52.1.1"
    ips = addresses(base, 4)
    config = {"defaults": {"dag_duration": [6.0, 6.5]}, "agents": {
        f"{ips[1]}:2886": {"identity": "FOLLOWER"},
        f"{ips[2]}:2886": {"identity": "FOLLOWER", "history": 20_000},
        f"{ips[3]}:2886": {"faults": {"restart_after": 0.5}, "dag_duration": [1.5, 2.0]}}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        theirs = {ip: _start_by_hand(f"{ip}:2886") for ip in ips[:3]}
        run = run_fleet(["start", "-i", str(inventory), "--journal", str(tmp_path / "j.jsonl")], cwd=tmp_path)
        state = sim.state()
    assert run.returncode == 0, run.stderr[-3000:]
    hosts = {h["host"]: h for h in run.summary["hosts"]} if run.summary else {}
    for ip, how in zip(ips[:3], ("unfinished_list", "id_probe", "id_probe")):
        assert hosts[ip]["adopted"] == {"reason": "already_running", "how": how}
        assert hosts[ip]["dag"]["id"] == theirs[ip]["id"]
        assert state["agents"][f"{ip}:2886"]["starts_accepted"] == 1
    restarted = state["agents"][f"{ips[3]}:2886"]
    assert restarted["restarted"] and restarted["starts_accepted"] == 1 and hosts[ips[3]]["adopted"] is None


def test_a_second_fleet_run_adopts_what_the_first_is_following(tmp_path: Path) -> None:
    """A second `fleet start` of the same inventory (a CI re-run, a second terminal) while the
    first still follows its DAGs adopts them: both succeed, each agent got one start."""
    base = "127.52.2.1"
    ips = addresses(base, 3)
    config = {"defaults": {"dag_duration": [6.0, 6.5]},
              "agents": {f"{ips[2]}:2886": {"identity": "FOLLOWER", "history": 500}}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    first_journal = tmp_path / "first.jsonl"
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        first = subprocess.Popen([sys.executable, "-m", "fleet", "start", "-i", str(inventory), "--journal",
                                  str(first_journal), "--output", str(tmp_path / "first.json")], cwd=tmp_path,
                                 env=fleet_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if first_journal.exists() and first_journal.read_text().count('"ev":"answered"') == len(ips):
                break
            time.sleep(0.05)
        second = run_fleet(["start", "-i", str(inventory), "--journal", str(tmp_path / "second.jsonl")],
                           cwd=tmp_path)
        _, first_err = first.communicate(timeout=60)
        assert first.returncode == 0, first_err[-3000:]
        state = sim.state()
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.summary is not None
    assert all(h["adopted"] and h["adopted"]["reason"] == "already_running" for h in second.summary["hosts"]), [
        (h["host"], h["outcome"], h["adopted"], h["error"]) for h in second.summary["hosts"]]
    for ip in ips:
        assert state["agents"][f"{ip}:2886"]["starts_accepted"] == 1, ip


def test_the_stop_lock_is_respected_by_start_and_by_a_second_stop(tmp_path: Path) -> None:
    """A stop that failed at 'Stop obproxy' keeps obshell's maintenance lock: `fleet start`
    then sends nothing and reports the host precheck_failed (mid-stop, naming the DAG), and a
    second `fleet stop` neither adopts the dead stop as running nor sends another (obshell would
    refuse it with Agent.UnderMaintenance): precheck_failed naming it — on a SINGLE and a FOLLOWER agent."""
    base = "127.52.3.1"
    ips = addresses(base, 2)
    config = {"defaults": {"dag_duration": [0.3, 0.5], "faults": {"dag_fails": 1}},
              "agents": {f"{ips[1]}:2886": {"identity": "FOLLOWER"}}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        stop = run_fleet(["stop", "-i", str(inventory), "--no-journal"], cwd=tmp_path)
        start = run_fleet(["start", "-i", str(inventory), "--no-journal"], cwd=tmp_path)
        again = run_fleet(["stop", "-i", str(inventory), "--no-journal"], cwd=tmp_path)
        state = sim.state()
    assert set(stop.outcomes().values()) == {"failed"}, stop.stderr[-2000:]
    assert start.summary is not None
    for host in start.summary["hosts"]:
        assert host["outcome"] == "precheck_failed" and "mid-stop" in host["error"]["message"], host
        assert host["dag"]["name"] == "Stop obproxy"
    assert again.summary is not None
    for host in again.summary["hosts"]:
        assert host["outcome"] == "precheck_failed" and host["adopted"] is None, host
        assert "mid-stop" in host["error"]["message"] and host["dag"]["id"] in host["error"]["message"], host
    for ip in ips:
        agent = state["agents"][f"{ip}:2886"]
        assert agent["starts_accepted"] == 0 and agent["requests"]["POST /api/v1/obproxy/stop"] == 1, ip
