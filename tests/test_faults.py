"""The fault matrix: every way an agent misbehaves, in one run, each host classified and reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness import addresses, run_fleet, sim_fleet, write_inventory

BASE = "127.43.0.1"

# fault name → (agent settings, expected outcome, a phrase the host's error message must carry)
MATRIX: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("healthy", {}, "succeeded", None),
    ("refused", {"faults": {"refuse": True}}, "unreachable", "cannot connect"),
    ("connect_timeout", {"faults": {"blackhole": True}}, "unreachable", "connect timed out"),
    ("hangs", {"faults": {"hang": True}}, "unreachable", "no complete answer"),
    ("hangs_on_start", {"faults": {"hang": ["start"]}}, "ambiguous", "no complete answer"),
    ("http500_on_start", {"faults": {"http500": ["start"]}}, "rejected", None),
    ("http500_on_info", {"faults": {"http500": ["info"]}}, "precheck_failed", None),
    ("not_json", {"faults": {"garbage": ["info"]}}, "protocol_error", "not JSON"),
    ("truncated", {"faults": {"truncated": ["info"]}}, "unreachable", "cut off"),
    ("truncated_start", {"faults": {"truncated": ["start"]}}, "ambiguous", "cut off"),
    ("wrong_types", {"faults": {"bad_types": ["info"]}}, "protocol_error", "not a boolean"),
    ("oversize", {"faults": {"oversize": ["info"]}}, "protocol_error", "cap"),
    ("key_rotation", {"faults": {"key_rotation": {"after_requests": 1}}}, "succeeded", None),
    ("clock_ahead", {"clock_skew": 3600}, "succeeded", None),
    ("key_512", {"key_bits": 512}, "succeeded", None),
    ("legacy_4_2", {"error_style": "legacy", "version": "4.2.6.0-1"}, "succeeded", None),
    ("dag_fails", {"faults": {"dag_fails": True}}, "failed", "failed at stage"),
    ("dag_stuck", {"faults": {"dag_stuck": True}}, "timed_out", "still RUNNING"),
    ("forgets_dags", {"faults": {"forget_dags_after": 0.2}, "dag_duration": [2.0, 2.5]}, "failed", "no longer knows"),
    ("flaky_polls", {"faults": {"flaky_polls": 3}}, "succeeded", None),
    ("drop_after_start", {"faults": {"drop_after_start": True}}, "succeeded", None),
    ("dies_mid_run", {"faults": {"die_after": 0.2}, "dag_duration": [3.0, 3.5]}, "unreachable", "lost track"),
    ("slow", {"faults": {"slow": 3.0}}, "unreachable", "no complete answer"),
    ("wrong_password", {"password": "not-the-one"}, "auth_failed", "incorrect"),
    ("no_agent_password", {"agent_password_set": False}, "precheck_failed", "password is not set"),
    ("not_odp", {"is_obproxy_agent": False}, "precheck_failed", "ODP"),
    ("too_old", {"version": "4.2.5.0-1"}, "precheck_failed", "4.2.6"),
]
PER_FAULT = 3


def test_fault_matrix_classifies_every_host_and_loses_none(tmp_path: Path) -> None:
    """One run over agents with every fault: each host gets its expected outcome and message,
    no host is missing from the summary, and no agent received two starts."""
    ips = addresses(BASE, len(MATRIX) * PER_FAULT)
    agents, expected = {}, {}
    for n, (name, settings, outcome, phrase) in enumerate(MATRIX):
        for ip in ips[n * PER_FAULT:(n + 1) * PER_FAULT]:
            agents[f"{ip}:2886"] = settings
            expected[ip] = (name, outcome, phrase)
    config = {"seed": 5, "defaults": {"dag_duration": [0.3, 0.8]}, "agents": agents}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, BASE, len(ips), config) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--timeout", "5", "--request-timeout", "1.5",
                         "--connect-timeout", "1",
                         "--journal", str(tmp_path / "j.jsonl")], cwd=tmp_path)
        state = sim.state()
    assert run.summary is not None, run.stderr[-3000:]
    assert run.returncode == 2
    by_host = {h["host"]: h for h in run.summary["hosts"]}
    assert set(by_host) == set(ips)
    problems = []
    for ip, (name, outcome, phrase) in expected.items():
        host = by_host[ip]
        if host["outcome"] != outcome:
            problems.append(f"{name} {ip}: {host['outcome']} ({host['error']}) != {outcome}")
        elif phrase and phrase.lower() not in (host["error"] or {}).get("message", "").lower():
            problems.append(f"{name} {ip}: message {host['error']} lacks {phrase!r}")
        # starts the agent acted on (a DecryptFailed refusal is re-sent once; the agent acted once)
        starts = state["agents"][f"{ip}:2886"]["starts_accepted"]
        if starts > 1:
            problems.append(f"{name} {ip}: {starts} starts")
    assert not problems, "\n".join(problems)
    clock = next(h for h in run.summary["hosts"] if expected[h["host"]][0] == "clock_ahead")
    assert 3_590_000 < clock["clock_offset_ms"] < 3_610_000
