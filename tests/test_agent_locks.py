"""Runs on the same agents exclude each other on one machine (fleet.engine.agentlock)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import fleet
from fleet.api.agentlocks import lock_dir
from fleet.engine.agentlock import AgentLocks, agent_key
from fleet.errors import InputError
from fleet.models import Outcome
from tests.harness import SIM_PASSWORD, addresses, fleet_env, run_fleet, sim_fleet, wait_for, write_inventory

STOP = "POST /api/v1/obproxy/stop"
START = "POST /api/v1/obproxy/start"
OPERATE = "POST /api/v1/task/dag/{id}"


def test_one_agent_has_one_key_however_its_address_is_spelt() -> None:
    """An IP in any spelling, and a DNS name in any case or with its trailing dot, is one key."""
    assert agent_key("::0:1", 2886) == agent_key("[::1]", 2886) == "[::1]:2886"
    assert agent_key("ODP-1.Example.com.", 2886) == agent_key("odp-1.example.com", 2886) == "odp-1.example.com:2886"
    assert agent_key("127.0.0.1", 2886) != agent_key("127.0.0.1", 2887)


def test_a_second_lock_set_over_a_shared_agent_refuses_naming_the_holder_and_keeps_nothing(tmp_path: Path) -> None:
    """A set that shares one agent with a held set refuses (naming the holder's pid and run) and
    releases what it took: a third set over its other agents is then free to lock."""
    first = AgentLocks(str(tmp_path), [("b:1", "b"), ("c:1", "c")], "fleet start, run R1")
    first.acquire()
    try:
        second = AgentLocks(str(tmp_path), [("a:1", "a"), ("c:1", "c"), ("d:1", "d")], "fleet stop, run R2")
        with pytest.raises(InputError) as refused:
            second.acquire()
        assert str(refused.value).startswith(f"c (c:1) is in use by pid {os.getpid()} (fleet start, run R1 since ")
        assert "nothing was sent" in str(refused.value)
        with AgentLocks(str(tmp_path), [("a:1", "a"), ("d:1", "d")], "fleet dag retry, run R3"):
            pass
    finally:
        first.release()
    with AgentLocks(str(tmp_path), [("c:1", "c")], "fleet stop, run R2"):
        pass


def test_a_killed_holder_leaves_no_agent_locked(tmp_path: Path) -> None:
    """SIGKILL of the process holding an agent's lock frees it: the kernel drops a flock with its holder."""
    code = ("import sys, time\nfrom fleet.engine.agentlock import AgentLocks\n"
            f"AgentLocks({str(tmp_path)!r}, [('a:1', 'a')], 'fleet start').acquire()\n"
            "print('HELD', flush=True)\ntime.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "HELD"
        with pytest.raises(InputError, match=f"in use by pid {child.pid} "):
            AgentLocks(str(tmp_path), [("a:1", "a")], "fleet stop").acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    with AgentLocks(str(tmp_path), [("a:1", "a")], "fleet stop"):
        pass


def test_a_stop_during_a_start_on_the_same_hosts_refuses_and_sends_nothing(tmp_path: Path) -> None:
    """``fleet stop`` on hosts a running ``fleet start`` holds exits 5 naming the start's pid and
    run, and no agent receives a stop; the start carries on to its end. A ``fleet check`` (it
    only reads) runs alongside."""
    ips = addresses("127.57.1.1", 2)
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    env = fleet_env(FLEET_HOME=str(tmp_path / "home"))
    journal = tmp_path / "start.jsonl"
    with sim_fleet(tmp_path, ips[0], len(ips), {"defaults": {"dag_duration": [8, 8]}}) as sim:
        start = subprocess.Popen([sys.executable, "-m", "fleet", "start", "-i", str(inventory), "--journal",
                                  str(journal), "--poll-cap", "0.3", "-q"], cwd=tmp_path, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        wait_for(lambda: journal.exists() and journal.read_text().count('"ev":"answered"') == 2)
        stop = run_fleet(["stop", "-i", str(inventory), "-q"], tmp_path, env=env)
        check = run_fleet(["check", "-i", str(inventory), "-q"], tmp_path, env=env)
        out, err = start.communicate(timeout=60)
        state = sim.state()
    assert stop.returncode == 5, stop.stderr[-2000:]
    assert f"is in use by pid {start.pid} (fleet start, run " in stop.stderr
    assert "nothing was sent" in stop.stderr and "Traceback" not in stop.stderr
    assert "unknown environment variable" not in stop.stderr + check.stderr
    assert check.returncode == 0, check.stderr[-2000:]
    assert start.returncode == 0, err[-2000:]
    assert all(h["outcome"] == "succeeded" for h in json.loads(out)["hosts"])
    for ip in ips:
        requests = state["agents"][f"{ip}:2886"]["requests"]
        assert (requests.get(START), requests.get(STOP, 0)) == (1, 0)


def test_three_dag_retries_of_one_run_send_one_retry_per_agent(tmp_path: Path) -> None:
    """``fleet dag retry`` of one run given three ways at once — its journal, its run folder's
    summary and an ``-o`` copy — are three journals to fleet, but one agent set: the run that
    locked them first retries each failed DAG once, the two others (started while it follows
    the retried DAGs) exit 5 naming its pid, with nothing sent."""
    ips = addresses("127.57.2.1", 2)
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    env = fleet_env(FLEET_HOME=str(tmp_path / "home"))
    config = {"defaults": {"dag_duration": [6, 6]}, "agents": {ip: {"faults": {"dag_fails": 1}} for ip in ips}}
    with sim_fleet(tmp_path, ips[0], len(ips), config) as sim:
        first = run_fleet(["start", "-i", str(inventory), "--poll-cap", "0.3", "-q", "-o", "copy.json"], tmp_path,
                          env=env)
        folder = next((tmp_path / "home" / "runs").iterdir())  # FLEET_HOME holds the runs too
        given = [str(folder / "journal.jsonl"), str(folder / "summary.json"), "copy.json"]

        def retry(run: str) -> subprocess.Popen[str]:
            return subprocess.Popen([sys.executable, "-m", "fleet", "dag", "retry", run, "--poll-cap", "0.3", "-q"],
                                    cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)

        procs = [retry(given[0])]  # the others start once it has journaled its first RETRY (lock held before)
        wait_for(lambda: any('"ev":"fired"' in j.read_text()
                             for j in (tmp_path / "home" / "runs").glob("*dag-retry/journal.jsonl")))
        procs += [retry(run) for run in given[1:]]
        ended = [(p.pid, *p.communicate(timeout=120), p.returncode) for p in procs]
        state = sim.state()
    assert first.returncode == 2, first.stderr[-2000:]
    winners = [(pid, out) for pid, out, _, code in ended if code == 0]
    refused = [err for _, _, err, code in ended if code == 5]
    assert len(winners) == 1 and len(refused) == 2, [(code, err[-500:]) for _, _, err, code in ended]
    for err in refused:
        assert f"is in use by pid {winners[0][0]} (fleet dag retry, run " in err and "Traceback" not in err
    assert all(h["outcome"] == "succeeded" for h in json.loads(winners[0][1])["hosts"])
    for ip in ips:
        requests = state["agents"][f"{ip}:2886"]["requests"]
        assert (requests.get(START), requests.get(OPERATE)) == (1, 1)


def test_the_locks_live_under_fleet_home_else_the_users_state_directory(tmp_path: Path) -> None:
    """``FLEET_HOME/locks`` when it is set, else ``$XDG_STATE_HOME/fleet/locks`` (an absolute one),
    else the home directory's ``.local/state/fleet/locks``: one place per user, whatever the
    working directory — a working directory's ``.fleet`` (fleet's home for its runs) is not used."""
    state = str(tmp_path / "state")
    assert lock_dir({"FLEET_HOME": "fh", "XDG_STATE_HOME": state}) == os.path.join("fh", "locks")
    assert lock_dir({"XDG_STATE_HOME": state}) == os.path.join(state, "fleet", "locks")
    default = os.path.join(os.path.expanduser("~"), ".local", "state", "fleet", "locks")
    assert lock_dir({"XDG_STATE_HOME": "relative"}) == lock_dir({}) == default


async def test_two_api_runs_in_one_process_exclude_each_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python API locks as the CLI does, also between two runs of one process: a ``fleet.stop()``
    called while a ``fleet.start()`` on the same hosts holds their agents raises InputError naming
    this process, before anything is sent; the start ends as if alone."""
    ips = addresses("127.57.4.1", 2)
    monkeypatch.chdir(tmp_path)
    environ = {"OBSHELL_AGENT_PASSWORD": SIM_PASSWORD}
    with sim_fleet(tmp_path, ips[0], len(ips), {"defaults": {"dag_duration": [1, 1]}}) as sim:
        first = asyncio.create_task(fleet.start(",".join(ips) + ",", environ=environ, poll_cap=0.3))
        await asyncio.sleep(0)  # the start has locked its agents before its first await
        with pytest.raises(InputError, match=f"in use by pid {os.getpid()} \\(fleet start, run "):
            await fleet.stop(",".join(ips) + ",", environ=environ)
        result = await first
        state = sim.state()
    assert [r.outcome for r in result.hosts] == [Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    for ip in ips:
        requests = state["agents"][f"{ip}:2886"]["requests"]
        assert (requests.get(START), requests.get(STOP, 0)) == (1, 0)
