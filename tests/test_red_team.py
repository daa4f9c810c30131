"""Red-team cases: agents (or what stands between fleet and them) that act on a start and then
answer something else, and answers that are valid JSON but inconsistent. Each runs fleet as a
process against simulated agents on loopback, follows the printed advice literally, and counts
the starts every agent accepted from the simulator's own record."""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, write_inventory


def _accepted(state: dict[str, Any], ip: str) -> int:
    return int(state["agents"][f"{ip}:2886"]["starts_accepted"])


def _hostile(**settings: Any) -> dict[str, Any]:
    return {"faults": {"hostile": settings}}


def test_a_start_answered_by_an_error_after_the_agent_acted_is_found_not_retried(tmp_path: Path) -> None:
    """A start whose answer is a 502 page from a proxy in front of the agent, or an error envelope
    from an agent that created the DAG anyway, is not taken as a refusal: fleet looks for the
    DAG that start created and follows it (``adopted: answer_lost``), so the host is not in the
    retry file and following the printed advice sends no second start. A 500 that the agent
    answered before acting (no DAG since) stays ``rejected`` and is retried once."""
    ips = addresses("127.47.0.1", 4)
    gateway, echo, refused, honest = ips
    config = {"defaults": {"dag_duration": [0.3, 0.5]},
              "agents": {f"{gateway}:2886": _hostile(gateway_error=["start"]),
                         f"{echo}:2886": _hostile(echo_password=["start"]),
                         f"{refused}:2886": {"faults": {"http500": ["start"]}}}}
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    with sim_fleet(tmp_path, ips[0], len(ips), config) as sim:
        first = run_fleet(["start", "-i", str(inventory), "--poll-cap", "0.3", "-q"], tmp_path)
        retry = tmp_path / ".fleet" / "retry" / "prod.start.retry"
        listed = retry.read_text().split()
        again = run_fleet(["start", "-i", str(inventory), "--limit", f"@{retry}", "--poll-cap", "0.3", "-q"],
                          tmp_path)
        state = sim.state()
    assert first.returncode == 2, first.stderr[-2000:]
    outcomes = first.outcomes()
    assert outcomes == {gateway: "succeeded", echo: "succeeded", refused: "rejected", honest: "succeeded"}
    hosts = {h["host"]: h for h in first.summary["hosts"]} if first.summary else {}
    assert hosts[gateway]["adopted"]["reason"] == "answer_lost"
    assert hosts[echo]["adopted"]["reason"] == "answer_lost"
    assert listed == [refused]
    assert again.outcomes() == {refused: "rejected"}
    assert [_accepted(state, ip) for ip in ips] == [1, 1, 0, 1]


def test_a_dag_that_names_another_agent_is_not_followed(tmp_path: Path) -> None:
    """A start answer or a poll whose DAG id belongs to another agent is a protocol error at the
    edge, never a DAG to follow: the start's own DAG is found on the agent (list or id probes)
    and followed to its end, and a host whose polls keep answering a foreign DAG ends
    ``protocol_error`` with its DAG still running — settled by --resume, never in the retry file,
    so no agent gets a second start."""
    ips = addresses("127.47.1.1", 3)
    start_lies, polls_lie, honest = ips
    config = {"defaults": {"dag_duration": [0.3, 0.5]},
              "agents": {f"{start_lies}:2886": _hostile(foreign_dag=["start"]),
                         f"{polls_lie}:2886": {"dag_duration": [30, 30], **_hostile(foreign_dag=["dag"])}}}
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    with sim_fleet(tmp_path, ips[0], len(ips), config) as sim:
        first = run_fleet(["start", "-i", str(inventory), "--poll-cap", "0.3", "-q"], tmp_path)
        retry = tmp_path / ".fleet" / "retry" / "prod.start.retry"
        listed = retry.read_text().split()
        state = sim.state()
    assert first.returncode == 2, first.stderr[-2000:]
    assert first.outcomes() == {start_lies: "succeeded", polls_lie: "protocol_error", honest: "succeeded"}
    hosts = {h["host"]: h for h in first.summary["hosts"]} if first.summary else {}
    assert hosts[start_lies]["adopted"]["reason"] == "answer_lost"
    assert hosts[start_lies]["dag"]["id"].startswith("4" + f"{int(ipaddress.IPv4Address(start_lies)):010d}")
    assert "another agent" in hosts[polls_lie]["error"]["message"]
    assert hosts[polls_lie]["dag"]["state"] != "SUCCEED"
    assert listed == []
    assert [_accepted(state, ip) for ip in ips] == [1, 1, 1]


def test_one_agent_under_a_dns_name_and_its_address_gets_one_start(tmp_path: Path) -> None:
    """Two inventory names that reach one agent but cannot be told apart without resolving names
    (``localhost`` and ``127.0.0.1``) are recognised by the agent's own account (/api/v1/info: its
    address, port, pid and start time): the agent gets one start, under the first name, and the
    other name mirrors that host's outcome and DAG with a note naming it — so neither lands in the
    retry file while the DAG succeeded."""
    inventory = tmp_path / "prod.yaml"
    inventory.write_text("all:\n  vars: {obshell_port: 2886}\n  hosts:\n    localhost:\n    127.0.0.1:\n")
    with sim_fleet(tmp_path, "127.0.0.1", 1, {"defaults": {"dag_duration": [0.5, 0.8]}}) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--poll-cap", "0.3", "-q"], tmp_path)
        retry = (tmp_path / ".fleet" / "retry" / "prod.start.retry").read_text().split()
        state = sim.state()
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.outcomes() == {"localhost": "succeeded", "127.0.0.1": "succeeded"}
    hosts = {h["host"]: h for h in run.summary["hosts"]} if run.summary else {}
    assert hosts["localhost"]["dag"]["id"] == hosts["127.0.0.1"]["dag"]["id"]
    mirrored = [h for h in hosts.values() if h["error"] is not None]
    assert len(mirrored) == 1 and "the same agent as host" in mirrored[0]["error"]["message"]
    assert mirrored[0]["fired_at"] is None
    assert retry == []
    assert _accepted(state, "127.0.0.1") == 1


def test_an_interrupt_while_recovering_a_lost_answer_keeps_it_lost_for_the_resume(tmp_path: Path) -> None:
    """SIGINT while fleet looks for the DAG of a start whose answer was lost (the agent took the
    request and never answered) ends that host ``ambiguous``, not ``interrupted``: the journal
    keeps that the start left, so ``--resume`` (and a second one) searches and never sends the
    start again without --refire-ambiguous. The agent receives exactly one start request."""
    ips = addresses("127.47.2.1", 2)
    hung, _honest = ips
    config = {"defaults": {"dag_duration": [0.3, 0.5]}, "agents": {f"{hung}:2886": {"faults": {"hang": ["start"]}}}}
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, ips[0], len(ips), config) as sim:
        args = ["start", "-i", str(inventory), "--journal", str(journal), "--request-timeout", "1",
                "--grace", "0.2", "-q"]
        proc = subprocess.Popen([sys.executable, "-m", "fleet", *args], cwd=tmp_path, env=fleet_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not _lost(sim, hung):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.3)  # the request timed out: fleet is in its settle delay before looking
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        resumed = [run_fleet(["start", "--resume", str(journal), "-q"], tmp_path) for _ in range(2)]
        state = sim.state()
    first = {h["host"]: h["outcome"] for h in json.loads(out)["hosts"]}
    assert proc.returncode == 130, err[-2000:]
    assert first[hung] == "ambiguous"
    assert [r.outcomes()[hung] for r in resumed] == ["ambiguous", "ambiguous"]
    assert state["agents"][f"{hung}:2886"]["requests"].get("POST /api/v1/obproxy/start") == 1


def _lost(sim: Any, ip: str) -> bool:
    return bool(sim.state()["agents"][f"{ip}:2886"]["requests"].get("POST /api/v1/obproxy/start"))
