"""fleet against real obshell agents, run as a user runs it (the CLI), checked against the agents' own records.

Skipped unless ``FLEET_OBSHELL_BIN`` names an obshell binary built from obshell's source (the
project ships none). ``FLEET_OBSHELL_OLD_BIN`` may name a 4.2.x-era build (512-bit keys): the key
change case upgrades an agent in place from it to ``FLEET_OBSHELL_BIN``, which makes the agent
regenerate its key pair. Each test starts its own agents (own homes, own ports, on 127.0.0.1),
sets their agent passwords, adds the stand-in ODP (tests/standin) and kills every process at the end.

The start DAG's health check sleeps 10 s before its first look, so each start takes ≥ 10 s here.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.protocol.clock import parse_agent_time
from tests.harness import FleetRun, fleet_env, run_fleet
from tests.realagent_harness import (
    AGENT_PASSWORD,
    RealAgent,
    obshell_binary,
    real_agents,
    wait_until,
)
from tests.realagent_relay import Relay
from tests.standin.obproxy import FAIL_START_FILE

BINARY = obshell_binary()
OLD_BINARY = obshell_binary("FLEET_OBSHELL_OLD_BIN")
pytestmark = pytest.mark.skipif(BINARY is None, reason="real obshell agent: set FLEET_OBSHELL_BIN to an obshell binary")
START, STOP = "Start obproxy", "Stop obproxy"
FAST = ["--poll-cap", "1", "--connect-timeout", "2", "--request-timeout", "20"]


def inventory(path: Path, agents: list[RealAgent], ports: dict[int, int] | None = None) -> Path:
    """Hosts r0, r1 … at 127.0.0.1 on each agent's port (or a relay's port standing in front of it)."""
    hosts = {f"r{i}": {"ansible_host": agent.ip, "obshell_port": (ports or {}).get(i, agent.port)}
             for i, agent in enumerate(agents)}
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=False))
    return path


def host(run: FleetRun, name: str) -> dict[str, Any]:
    assert run.summary is not None, (run.returncode, run.stderr[-3000:])
    return next(h for h in run.summary["hosts"] if h["host"] == name)


def dags(agent: RealAgent, name: str) -> list[dict[str, Any]]:
    """The agent's own record: its DAGs of that name, oldest first."""
    return agent.odp_dags(name)


@pytest.fixture
def agents_of(tmp_path: Path) -> Iterator[Any]:
    """``agents_of(n)``: n real agents with the stand-in ODP added and running; all killed at the end."""
    stack: list[Any] = []

    def make(count: int, binary: Path | None = None) -> list[RealAgent]:
        assert BINARY is not None
        manager = real_agents(binary or BINARY, tmp_path / f"set{len(stack)}", count)
        stack.append(manager)
        agents: list[RealAgent] = manager.__enter__()
        return agents

    try:
        yield make
    finally:
        for manager in reversed(stack):
            manager.__exit__(None, None, None)


def test_check_start_stop_and_start_again(tmp_path: Path, agents_of: Any) -> None:
    """`fleet check` passes on real agents; `fleet start` on a running ODP, `fleet stop`, then `fleet
    start` on the stopped ODP each succeed, and every agent recorded exactly the one DAG fleet reports
    (same id, SUCCEED); the stop really ended the stand-in and the start brought a new one up."""
    agents = agents_of(3)
    inv = inventory(tmp_path / "hosts.yml", agents)
    check = run_fleet(["check", "-i", str(inv), *FAST], cwd=tmp_path, env=fleet_env(password=AGENT_PASSWORD))
    assert check.returncode == 0, check.stderr[-3000:]
    assert set(check.outcomes().values()) == {"succeeded"}
    for agent in agents:
        assert dags(agent, START) == []  # check has no side effect

    running = run_fleet(["start", "-i", str(inv), *FAST], cwd=tmp_path, env=fleet_env(password=AGENT_PASSWORD))
    assert running.returncode == 0, running.stderr[-3000:]
    for i, agent in enumerate(agents):
        recorded = dags(agent, START)
        assert [d["id"] for d in recorded] == [host(running, f"r{i}")["dag"]["id"]]
        assert recorded[0]["state"] == "SUCCEED" and agent.odp_running()

    stop = run_fleet(["stop", "-i", str(inv), *FAST], cwd=tmp_path, env=fleet_env(password=AGENT_PASSWORD))
    assert stop.returncode == 0, stop.stderr[-3000:]
    for i, agent in enumerate(agents):
        recorded = dags(agent, STOP)
        assert [(d["id"], d["state"]) for d in recorded] == [(host(stop, f"r{i}")["dag"]["id"], "SUCCEED")]
        assert not agent.odp_running()

    again = run_fleet(["start", "-i", str(inv), *FAST], cwd=tmp_path, env=fleet_env(password=AGENT_PASSWORD))
    assert again.returncode == 0, again.stderr[-3000:]
    for i, agent in enumerate(agents):
        recorded = dags(agent, START)
        assert len(recorded) == 2 and recorded[1]["id"] == host(again, f"r{i}")["dag"]["id"]
        assert recorded[1]["state"] == "SUCCEED" and agent.odp_running()
    _report_durations(agents)


def _report_durations(agents: list[RealAgent]) -> None:
    """Print the real DAG durations (agent times) — the figures the docs quote; `-s` shows them."""
    for agent in agents:
        for dag in agent.local_dags():
            print(f"real-agent DAG {dag['name']!r} {dag['state']}: {_seconds(dag):.1f} s")


def _seconds(dag: dict[str, Any]) -> float:
    start, end = parse_agent_time(dag["start_time"]), parse_agent_time(dag["end_time"])
    assert start is not None and end is not None
    return end - start


def test_wrong_password_and_expired_header_create_no_dag(tmp_path: Path, agents_of: Any) -> None:
    """A wrong agent password ends the host `auth_failed`; a start whose header reaches the agent after
    its expiry (a relay holds the start request past --auth-lifetime; fleet's clock-offset estimate from
    the unheld requests sees no skew) is refused too; the agents recorded no start at all, and the
    other host of the same run still starts."""
    agents = agents_of(3)
    wrong = run_fleet(["start", "-i", str(inventory(tmp_path / "a.yml", agents[:1])), *FAST], cwd=tmp_path,
                      env=fleet_env(password="not-the-password"))
    assert wrong.outcomes() == {"r0": "auth_failed"}
    assert "IncorrectAgentPassword" in json.dumps(host(wrong, "r0")["error"]) or "10008" in json.dumps(
        host(wrong, "r0")["error"])
    with Relay("127.0.0.1", agents[1].port, delay_starts=2.5) as relay:
        inv = inventory(tmp_path / "b.yml", agents[1:], {0: relay.port})
        expired = run_fleet(["start", "-i", str(inv), "--auth-lifetime", "1", *FAST], cwd=tmp_path,
                            env=fleet_env(password=AGENT_PASSWORD))
    outcomes = expired.outcomes()
    assert outcomes["r1"] == "succeeded", expired.stderr[-3000:]
    assert outcomes["r0"] == "auth_failed", json.dumps(host(expired, "r0"))
    assert "Expired" in json.dumps(host(expired, "r0")["error"]) or "expired" in json.dumps(
        host(expired, "r0")["error"])
    assert dags(agents[0], START) == [] and dags(agents[1], START) == []
    assert len(dags(agents[2], START)) == 1


def test_lost_start_answer_is_found_not_sent_again(tmp_path: Path, agents_of: Any) -> None:
    """The agent acts on the start but its answer never reaches fleet (a relay drops it): fleet finds
    the DAG the agent created, follows it to SUCCEED and never sends a second start."""
    (agent,) = agents_of(1)
    with Relay("127.0.0.1", agent.port, drop_start_answers=1) as relay:
        run = run_fleet(["start", "-i", str(inventory(tmp_path / "h.yml", [agent], {0: relay.port})), *FAST],
                        cwd=tmp_path, env=fleet_env(password=AGENT_PASSWORD))
        assert relay.dropped == 1
    recorded = dags(agent, START)
    assert len(recorded) == 1, recorded
    assert host(run, "r0")["outcome"] == "succeeded", json.dumps(host(run, "r0"))
    assert host(run, "r0")["dag"]["id"] == recorded[0]["id"] and recorded[0]["state"] == "SUCCEED"
    assert host(run, "r0")["adopted"]["reason"] == "answer_lost"


def test_dag_operators_on_real_agents(tmp_path: Path, agents_of: Any) -> None:
    """Start DAGs that fail on the agent (the stand-in refuses to start), then `fleet dag retry` (healed:
    the same DAG succeeds), `fleet dag pass` and `fleet dag rollback` (refused by obshell for ODP DAGs:
    the host is `rejected`) on one host each, and `fleet dag cancel` on a start still in its health
    check; each agent's own record agrees with what fleet reports."""
    agents = agents_of(4)
    for agent in agents[:3]:
        agent.kill_odp()
        (agent.odp_home / FAIL_START_FILE).touch()
    inv = inventory(tmp_path / "hosts.yml", agents)
    env = fleet_env(password=AGENT_PASSWORD)
    first = run_fleet(["start", "-i", str(inv), "--limit", "r0,r1,r2", *FAST], cwd=tmp_path, env=env)
    (tmp_path / "failed.json").write_text(first.stdout)
    assert first.outcomes() == {"r0": "failed", "r1": "failed", "r2": "failed"}, first.stderr[-2000:]
    ids = {f"r{i}": host(first, f"r{i}")["dag"]["id"] for i in range(3)}
    for i in range(3):
        assert [(d["id"], d["state"]) for d in dags(agents[i], START)] == [(ids[f"r{i}"], "FAILED")]

    (agents[0].odp_home / FAIL_START_FILE).unlink()
    retry = run_fleet(["dag", "retry", "failed.json", "--limit", "r0", *FAST], cwd=tmp_path, env=env)
    passed = run_fleet(["dag", "pass", "failed.json", "--limit", "r1", *FAST], cwd=tmp_path, env=env)
    rolled = run_fleet(["dag", "rollback", "failed.json", "--limit", "r2", *FAST], cwd=tmp_path, env=env)
    # obshell: a RETRY re-runs the DAG with operator RUN (the node shows RETRY); PASS ends it SUCCEED +
    # PASS; ROLLBACK is refused on an ODP DAG ("Check obproxy status" cannot roll back)
    expected = {0: (retry, "succeeded", "SUCCEED", "RUN"), 1: (passed, "succeeded", "SUCCEED", "PASS"),
                2: (rolled, "rejected", "FAILED", "RUN")}
    for i, (run, outcome, state, operator) in expected.items():
        (dag,) = dags(agents[i], START)
        assert (dag["id"], dag["state"], dag["operator"]) == (ids[f"r{i}"], state, operator), (dag, run.stderr[-2000:])
        assert host(run, f"r{i}")["outcome"] == outcome, json.dumps(host(run, f"r{i}"))
    assert agents[0].dag(ids["r0"])["nodes"][1]["operator"] == "RETRY" and agents[0].odp_running()

    slow = run_fleet(["start", "-i", str(inv), "--limit", "r3", "--timeout", "2", *FAST], cwd=tmp_path, env=env)
    (tmp_path / "slow.json").write_text(slow.stdout)
    assert slow.outcomes() == {"r3": "timed_out"}
    cancel = run_fleet(["dag", "cancel", "slow.json", *FAST], cwd=tmp_path, env=env)
    (dag,) = dags(agents[3], START)
    assert (dag["state"], dag["operator"]) == ("FAILED", "CANCEL"), (dag, cancel.stderr[-2000:])
    assert host(cancel, "r3")["dag"]["id"] == dag["id"]


def _popen_fleet(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fleet", *args], cwd=cwd, env=fleet_env(password=AGENT_PASSWORD),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def _finish(proc: subprocess.Popen[str], timeout: float = 300) -> FleetRun:
    out, err = proc.communicate(timeout=timeout)
    return FleetRun(proc.returncode, out, err, json.loads(out) if out.strip().startswith("{") else None)


def test_agent_killed_and_restarted_mid_run(tmp_path: Path, agents_of: Any) -> None:
    """The agent dies (SIGKILL, daemon too) while its start DAG runs and comes back a few seconds later:
    fleet keeps following the same DAG, reports what the agent finally recorded, and sent one start."""
    (agent,) = agents_of(1)
    proc = _popen_fleet(["start", "-i", str(inventory(tmp_path / "h.yml", [agent])), *FAST], tmp_path)
    try:
        wait_until(lambda: len(dags(agent, START)) == 1, 60, "the start DAG exists")
        agent.kill()
        time.sleep(3)
        agent.start()
        run = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    (dag,) = dags(agent, START)
    assert host(run, "r0")["dag"]["id"] == dag["id"]
    assert dag["state"] in ("SUCCEED", "FAILED")
    assert host(run, "r0")["outcome"] == ("succeeded" if dag["state"] == "SUCCEED" else "failed"), run.stderr[-3000:]


def test_resume_after_sigkill_sends_no_second_start(tmp_path: Path, agents_of: Any) -> None:
    """fleet is SIGKILLed after its start reached the agent; `fleet start --resume JOURNAL` follows the
    DAG the agent created to its end and never sends a second start."""
    (agent,) = agents_of(1)
    journal = tmp_path / "run.journal"
    proc = _popen_fleet(["start", "-i", str(inventory(tmp_path / "h.yml", [agent])), "--journal", str(journal),
                         *FAST], tmp_path)
    try:
        wait_until(lambda: len(dags(agent, START)) == 1, 60, "the start DAG exists")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    resumed = run_fleet(["start", "--resume", str(journal), *FAST], cwd=tmp_path,
                        env=fleet_env(password=AGENT_PASSWORD))
    (dag,) = dags(agent, START)
    assert host(resumed, "r0")["outcome"] == "succeeded", resumed.stderr[-3000:]
    assert host(resumed, "r0")["dag"]["id"] == dag["id"] and dag["state"] == "SUCCEED"


@pytest.mark.skipif(OLD_BINARY is None,
                    reason="key change: set FLEET_OBSHELL_OLD_BIN to a 4.2.x-era obshell (512-bit keys)")
def test_key_change_mid_run_is_followed(tmp_path: Path, agents_of: Any) -> None:
    """An agent upgraded in place from a 512-bit-key build while its start DAG runs comes back with a new
    key pair: fleet's next poll is refused (decrypt failure), fleet fetches the new key and follows the
    same DAG to its end; one start on the agent."""
    assert OLD_BINARY is not None and BINARY is not None
    (agent,) = agents_of(1, OLD_BINARY)
    old_key = agent.request("GET", "/api/v1/secret").data["public_key"]
    proc = _popen_fleet(["start", "-i", str(inventory(tmp_path / "h.yml", [agent])), *FAST], tmp_path)
    try:
        wait_until(lambda: len(dags(agent, START)) == 1, 60, "the start DAG exists")
        agent.kill()
        (agent.home / "bin" / "obshell").unlink()
        agent.binary = BINARY
        agent.start()
        assert agent.request("GET", "/api/v1/secret").data["public_key"] != old_key
        run = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    (dag,) = dags(agent, START)
    assert host(run, "r0")["dag"]["id"] == dag["id"], run.stderr[-3000:]
    assert host(run, "r0")["outcome"] == ("succeeded" if dag["state"] == "SUCCEED" else "failed"), run.stderr[-3000:]

