"""Interrupts and crashes: the journal, --resume without double starts, signals and grace."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, wait_for, write_inventory


def _count(journal: Path, ev: str) -> int:
    if not journal.exists():
        return 0
    return sum(1 for line in journal.read_text().splitlines() if f'"ev":"{ev}"' in line)


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fleet", *args], cwd=cwd, env=fleet_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def test_sigkill_midway_then_resume_fires_each_host_exactly_once(tmp_path: Path) -> None:
    """fleet killed with SIGKILL mid-run, then resumed from its journal: every host ends up
    succeeded, finished hosts are reported resumed, and no agent ever received two starts —
    including hosts whose start was sent but whose answer was never recorded."""
    base = "127.44.0.1"
    ips = addresses(base, 40)
    slow = {f"{ip}:2886": {"faults": {"slow": 1.5}} for ip in ips[30:]}
    config = {"seed": 2, "defaults": {"dag_duration": [0.8, 1.5]}, "agents": slow}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        proc = _spawn(["start", "-i", str(inventory), "--forks", "10", "--journal", str(journal)], tmp_path)
        # Kill once the slow hosts' starts are on the wire (journaled as fired, answer pending).
        wait_for(lambda: _count(journal, "fired") >= 38 and _count(journal, "finished") >= 5)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        fired_before = _count(journal, "fired")
        answered_before = _count(journal, "answered")
        assert answered_before < fired_before, "the kill should leave starts without a recorded answer"
        run = run_fleet(["start", "--resume", str(journal), "--output", str(tmp_path / "s.json")], cwd=tmp_path)
        state = sim.state()
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert {h["host"] for h in summary["hosts"]} == set(ips)
    assert all(h["outcome"] == "succeeded" for h in summary["hosts"]), [
        (h["host"], h["outcome"], h["error"]) for h in summary["hosts"] if h["outcome"] != "succeeded"]
    assert any(h["resumed"] for h in summary["hosts"])
    for ip in ips:
        assert state["agents"][f"{ip}:2886"]["requests"].get("POST /api/v1/obproxy/start") == 1, ip


def test_answer_lost_and_unsettled_is_ambiguous_and_not_refired(tmp_path: Path) -> None:
    """A start whose answer never came and which the agent does not list is ambiguous: neither
    the run nor a resume fires again, unless --refire-ambiguous is given."""
    base = "127.44.1.1"
    ips = addresses(base, 3)
    config = {"agents": {f"{ips[0]}:2886": {"faults": {"hang": ["start"]}}},
              "defaults": {"dag_duration": [0.2, 0.4]}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        first = run_fleet(["start", "-i", str(inventory), "--request-timeout", "1", "--journal", str(journal)],
                          cwd=tmp_path)
        assert first.outcomes() == {ips[0]: "ambiguous", ips[1]: "succeeded", ips[2]: "succeeded"}
        again = run_fleet(["start", "--resume", str(journal), "--request-timeout", "1"], cwd=tmp_path)
        assert again.outcomes()[ips[0]] == "ambiguous"
        assert sim.state()["agents"][f"{ips[0]}:2886"]["requests"]["POST /api/v1/obproxy/start"] == 1
        refire = run_fleet(["start", "--resume", str(journal), "--request-timeout", "1", "--refire-ambiguous"],
                           cwd=tmp_path)
        state = sim.state()
    assert refire.outcomes()[ips[0]] == "ambiguous"
    assert state["agents"][f"{ips[0]}:2886"]["requests"]["POST /api/v1/obproxy/start"] == 2
    for ip in ips[1:]:
        assert state["agents"][f"{ip}:2886"]["requests"]["POST /api/v1/obproxy/start"] == 1


def test_sigkill_while_searching_for_a_lost_answers_dag_never_refires_on_resume(tmp_path: Path) -> None:
    """fleet killed (SIGKILL) while it searches for the DAG of a start whose answer was lost: the
    journal already says the start left ("lost"), so the resume searches again and, finding no DAG,
    reports the host ambiguous — it never sends that agent a second start."""
    base = "127.44.9.1"
    ips = addresses(base, 2)
    config = {"agents": {f"{ips[0]}:2886": {"faults": {"hang": ["start"]}}},
              "defaults": {"dag_duration": [0.2, 0.4]}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        proc = _spawn(["start", "-i", str(inventory), "--request-timeout", "1", "--journal", str(journal)], tmp_path)
        wait_for(lambda: _count(journal, "lost") >= 1)  # the start timed out: now in its settle delay
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert _count(journal, "finished") < 2
        again = run_fleet(["start", "--resume", str(journal), "--request-timeout", "1"], cwd=tmp_path)
        state = sim.state()
    assert again.outcomes()[ips[0]] == "ambiguous", again.stderr[-2000:]
    assert state["agents"][f"{ips[0]}:2886"]["requests"]["POST /api/v1/obproxy/start"] == 1


def test_first_signal_stops_firing_and_follows_in_flight_dags_for_the_grace_period(tmp_path: Path) -> None:
    """SIGINT stops firing, keeps polling for --grace, then writes the summary: in-flight DAGs
    interrupted with their ids, unfired hosts skipped, exit 130, the journal named for resume."""
    base = "127.44.2.1"
    ips = addresses(base, 30)
    config = {"defaults": {"dag_duration": [0.3, 0.6]},
              "agents": {f"{ip}:2886": {"faults": {"dag_stuck": True}} for ip in ips[:5]}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        proc = _spawn(["start", "-i", str(inventory), "--forks", "5", "--grace", "1.5", "--journal", str(journal),
                       "--order", "inventory"], tmp_path)
        wait_for(lambda: _count(journal, "answered") >= 8)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        state = sim.state()
    assert proc.returncode == 130, err[-2000:]
    summary = json.loads(out)
    assert summary["interrupted"] is True
    outcomes = {h["host"]: h for h in summary["hosts"]}
    assert set(outcomes) == set(ips)
    for ip in ips[:5]:
        assert outcomes[ip]["outcome"] == "interrupted" and outcomes[ip]["dag"]["id"]
    kinds = {h["outcome"] for h in summary["hosts"]}
    assert "skipped" in kinds and kinds <= {"succeeded", "interrupted", "skipped"}
    started = sum(a["requests"].get("POST /api/v1/obproxy/start", 0) for a in state["agents"].values())
    assert started == sum(1 for h in summary["hosts"] if h["outcome"] != "skipped")
    assert f"--resume {journal}" in err


def test_second_signal_stops_at_once_and_still_writes_the_summary(tmp_path: Path) -> None:
    """A second SIGINT ends the run without waiting for the grace period; the summary is whole."""
    base = "127.44.3.1"
    ips = addresses(base, 6)
    config = {"defaults": {"faults": {"dag_stuck": True}}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, base, len(ips), config):
        proc = _spawn(["start", "-i", str(inventory), "--grace", "120", "--journal", str(journal)], tmp_path)
        wait_for(lambda: _count(journal, "answered") >= 6)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - began < 10
    assert proc.returncode == 130, err[-2000:]
    summary = json.loads(out)
    assert [h["outcome"] for h in summary["hosts"]] == ["interrupted"] * 6
