"""End to end against simulated agents of several obshell releases and set-ups: a key change on
4.2.x and 4.3.0 agents, the start DAG's health-check sleeps against --timeout, and an agent whose
own address is IPv4-mapped. Each case checks what the agent itself recorded."""

from __future__ import annotations

from pathlib import Path

from tests.harness import addresses, run_fleet, sim_fleet, write_inventory

START = "POST /api/v1/obproxy/start"
SECRET = "GET /api/v1/secret"


def test_a_key_change_on_4_2_and_4_3_0_agents_is_refetched_not_an_auth_failure(tmp_path: Path) -> None:
    """4.2.6 and 4.3.0 agents whose key pair changes after every second request answer 401, code
    10008, "Verification failed: header decrypt failed": fleet refetches /secret, retries once and
    the hosts succeed with one start each; a wrong password on the same releases stays auth_failed
    with nothing started."""
    base = "127.55.0.1"
    ips = addresses(base, 4)
    rotating = {"faults": {"key_rotation": {"after_requests": 2}}, "dag_duration": [0.3, 0.5]}
    config = {"agents": {f"{ips[0]}:2886": {"version": "4.2.6.0-1", **rotating},
                         f"{ips[1]}:2886": {"version": "4.3.0.0-1", **rotating},
                         f"{ips[2]}:2886": {"version": "4.2.6.0-1", "password": "another"},
                         f"{ips[3]}:2886": {"version": "4.3.0.0-1", "password": "another"}}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--no-journal"], cwd=tmp_path)
        state = sim.state()
    outcomes = run.outcomes()
    assert [outcomes[ip] for ip in ips] == ["succeeded", "succeeded", "auth_failed", "auth_failed"], run.stderr[-2000:]
    for ip in ips[:2]:
        agent = state["agents"][f"{ip}:2886"]
        assert agent["starts_accepted"] == 1 and agent["requests"][SECRET] >= 2, agent["requests"]
    for ip in ips[2:]:
        assert state["agents"][f"{ip}:2886"]["starts_accepted"] == 0


def test_a_slow_health_check_outlives_a_short_timeout_but_not_one_that_covers_it(tmp_path: Path) -> None:
    """An ODP that answers obshell's 5th health check (sleeps scaled to 0.3 s) is timed_out under a
    --timeout shorter than those sleeps, and succeeds under one that covers them; an ODP that never
    answers fails after obshell's 100 tries, not timed_out. One start per agent."""
    base = "127.55.1.1"
    ips = addresses(base, 3)
    short, never, covered = ips
    config = {"defaults": {"dag_duration": [0.2, 0.2], "health_check": {"tries": 5, "interval": 0.3}},
              "agents": {f"{never}:2886": {"health_check": {"tries": 101, "interval": 0.01}}}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        first = run_fleet(["start", "-i", str(inventory), "--limit", short, "--timeout", "0.6", "--no-journal"],
                          cwd=tmp_path)
        second = run_fleet(["start", "-i", str(inventory), "--limit", f"{never},{covered}", "--timeout", "30",
                            "--no-journal"], cwd=tmp_path)
        state = sim.state()
    assert first.outcomes() == {short: "timed_out"}, first.stderr[-2000:]
    assert second.outcomes() == {never: "failed", covered: "succeeded"}, second.stderr[-2000:]
    for ip in ips:
        assert state["agents"][f"{ip}:2886"]["starts_accepted"] == 1, ip


def test_an_ipv4_mapped_agent_address_keeps_its_start_dag_as_its_own(tmp_path: Path) -> None:
    """An agent whose own address is ::ffff:a.b.c.d answers its start with a prefix-4 DAG id built
    from a.b.c.d (Go's To4()): fleet takes that DAG as the agent's own (no lost-answer search, no
    second start). The agent then fails to look its own ODP DAG up (obshell compares the address
    strings: "obproxy task not found"): the host is a protocol error naming it, never 'failed'."""
    base = "127.55.2.1"
    ips = addresses(base, 1)
    config = {"defaults": {"dag_duration": [0.3, 0.5], "ipv4_mapped": True}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, 1, config) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--no-journal"], cwd=tmp_path)
        state = sim.state()
    assert run.summary is not None, run.stderr[-2000:]
    host = run.summary["hosts"][0]
    assert host["dag"]["id"].startswith("4") and host["adopted"] is None, host
    assert host["outcome"] == "protocol_error" and "obproxy task not found" in host["error"]["message"], host
    assert state["agents"][f"{ips[0]}:2886"]["requests"][START] == 1
