"""End to end: `fleet start` against a simulated fleet with mixed faults, as separate processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from fleet.report import load_summary_schema
from tests.harness import addresses, run_fleet, sim_fleet, write_inventory

BASE = "127.41.0.1"
N = 500

# Which agents misbehave, by index into the fleet, and the outcome each must get.
FAULTS: dict[str, tuple[range, dict[str, Any], str]] = {
    "down": (range(20), {"faults": {"refuse": True}}, "unreachable"),
    "wrong_password": (range(20, 40), {"password": "someone-rotated-it"}, "auth_failed"),
    "dag_fails": (range(40, 60), {"faults": {"dag_fails": True}}, "failed"),
    "dag_stuck": (range(60, 75), {"faults": {"dag_stuck": True}}, "timed_out"),
    "not_odp": (range(75, 90), {"is_obproxy_agent": False}, "precheck_failed"),
    "garbage": (range(90, 100), {"faults": {"garbage": True}}, "protocol_error"),
    "garbage_start": (range(100, 105), {"faults": {"garbage": ["start"]}}, "ambiguous"),
    "old_agent": (range(105, 110), {"version": "4.2.5.0-100000022024"}, "precheck_failed"),
    "no_agent_password": (range(110, 115), {"agent_password_set": False}, "precheck_failed"),
    "clock_ahead": (range(115, 125), {"clock_skew": 600}, "succeeded"),
    "clock_behind": (range(125, 130), {"clock_skew": -600}, "succeeded"),
    "key_512": (range(130, 140), {"key_bits": 512}, "succeeded"),
    "legacy_errors": (range(140, 145), {"error_style": "legacy", "version": "4.2.6.0-1"}, "succeeded"),
    "key_rotation": (range(145, 150), {"faults": {"key_rotation": {"after_requests": 1}}}, "succeeded"),
    "flaky_polls": (range(150, 155), {"faults": {"flaky_polls": 2}}, "succeeded"),
}


def _config(ips: list[str]) -> dict[str, Any]:
    agents: dict[str, Any] = {}
    for _, (indexes, settings, _) in FAULTS.items():
        for i in indexes:
            agents[f"{ips[i]}:2886"] = settings
    return {"seed": 3, "defaults": {"dag_duration": [0.3, 1.0]}, "agents": agents}


def _expected(ips: list[str]) -> dict[str, str]:
    expected = {ip: "succeeded" for ip in ips}
    for _, (indexes, _, outcome) in FAULTS.items():
        for i in indexes:
            expected[ips[i]] = outcome
    return expected


def test_start_500_hosts_with_mixed_faults(tmp_path: Path) -> None:
    """Every host gets the outcome its fault implies, no agent sees two starts, and every
    reported traceId is one the agent issued; the summary validates against its schema."""
    ips = addresses(BASE, N)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, BASE, N, _config(ips)) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--timeout", "4", "--request-timeout", "5",
                         "--journal", str(tmp_path / "j.jsonl")], cwd=tmp_path)
        state = sim.state()
    assert run.returncode == 2, run.stderr[-3000:]
    assert run.summary is not None
    jsonschema.validate(run.summary, load_summary_schema())
    assert run.outcomes() == _expected(ips)
    assert run.summary["totals"]["hosts"] == N

    for ip in ips:
        agent = state["agents"][f"{ip}:2886"]
        # a start refused with DecryptFailed (key rotated) is re-sent once; the agent acted once
        assert agent["starts_accepted"] <= 1, ip
    issued = {ip: {t for _, t in state["agents"][f"{ip}:2886"]["trace_ids"]} for ip in ips}
    fired = {ev["host"].rsplit(":", 1)[0]: ev["trace_id"] for ev in map(json.loads, (tmp_path / "j.jsonl")
             .read_text().splitlines()) if ev["ev"] == "fired"}
    for host in run.summary["hosts"]:
        # the trace id fleet sent with the start first (answered or not), then what the agent issued
        sent = fired.get(host["host"])
        if sent is not None:
            assert host["trace_ids"][0] == sent, host["host"]
        assert set(host["trace_ids"]) - {sent} <= issued[host["host"]], host["host"]
        if host["outcome"] == "succeeded":
            assert host["dag"]["state"] == "SUCCEED"
            assert host["trace_ids"], host
    failed = [h for h in run.summary["hosts"] if h["outcome"] == "failed"]
    assert all(h["failed_tasks"] and h["failed_tasks"][0]["task_logs"] for h in failed)
    skewed = {h["host"]: h["clock_offset_ms"] for h in run.summary["hosts"]}
    assert skewed[ips[115]] > 590_000 and skewed[ips[125]] < -590_000
    wrong = next(h for h in run.summary["hosts"] if h["host"] == ips[20])
    assert wrong["error"]["errCode"] == "Security.Authentication.IncorrectAgentPassword"


def test_list_hosts_sends_nothing(tmp_path: Path) -> None:
    """--list-hosts prints the selection, one per line, and talks to no agent."""
    ips = addresses("127.41.3.1", 5)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, "127.41.3.1", 5) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--limit", f"{ips[1]},{ips[2]}", "--list-hosts"],
                        cwd=tmp_path)
        state = sim.state()
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ips[1:3]
    assert state["totals"]["requests"] == 0
