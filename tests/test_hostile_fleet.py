"""A mixed fleet with every hostile behaviour at once beside honest agents: each hostile host ends
as its own outcome, the honest ones all succeed, memory and files stay small, nothing leaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.harness import addresses, fleet_env, sim_fleet, write_inventory

BASE = "127.46.0.1"
PASSWORD = "Hostile-Canary-pw-42"
HONEST = 12
RSS_LIMIT_MB = 250
FILE_LIMIT_BYTES = 2 * 1024 * 1024

# behaviour → (agent settings, expected outcome)
HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("bad_offset", {"faults": {"hostile": {"bad_offset": True}}}, "succeeded"),
    ("deep_nesting", {"faults": {"hostile": {"deep_nesting": ["info"]}}}, "protocol_error"),
    ("superscript_version", {"faults": {"hostile": {"info_version": "4.3.²"}}}, "protocol_error"),
    ("huge_version", {"faults": {"hostile": {"info_version": "4.3." + "9" * 5000}}}, "protocol_error"),
    ("huge_trace_id", {"faults": {"hostile": {"huge_trace_id": 3_800_000}}}, "succeeded"),
    ("95000_failed_sub_tasks", {"faults": {"dag_fails": True, "hostile": {"failed_sub_tasks": 95_000}}}, "failed"),
    # the agent created the DAG, then answered 500: fleet finds that DAG and follows it
    ("echoes_password_on_start", {"faults": {"hostile": {"echo_password": ["start"]}}}, "succeeded"),
    # "operate" is a route fleet never calls: only the failed task logs echo the password here
    ("echoes_password_in_logs", {"faults": {"dag_fails": True, "hostile": {"echo_password": ["operate"]}}},
     "failed"),
    ("terminal_escapes", {"faults": {"dag_fails": True, "hostile": {"control_chars": True}}}, "failed"),
    ("bad_ids", {"faults": {"hostile": {"bad_ids": True}}}, "protocol_error"),
    # DAG times no clock can hold: the ODP started all the same; only the host's times are unknown
    *((f"dag_time {name}", {"faults": {"hostile": {"dag_time": text}}}, "succeeded") for name, text in (
        ("+99:00", '"2025-01-01T00:00:00+99:00"'),
        ("year 0", '"0000-01-01T00:00:00Z"'),
        ("year 9999", '"9999-12-31T23:59:59-23:59"'),
        ("NaN", "NaN"),
        ("400 digits", "1" + "0" * 399),
        ("400-digit year", '"' + "9" * 400 + '-01-01T00:00:00Z"'),
        ("deep nesting", "[" * 500 + "]" * 500),
    )),
]


def _run_measured(args: list[str], cwd: Path) -> tuple[int, str, str, int]:
    """``(exit code, stdout, stderr, peak RSS in bytes)`` of ``fleet ARGS`` as a child process."""
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "fleet", *args], cwd=cwd, env=fleet_env(password=PASSWORD),
                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out.read_text(), err.read_text(), usage.ru_maxrss * 1024


def test_every_hostile_behaviour_at_once_stays_with_its_host(tmp_path: Path) -> None:
    """Ten hostile agents (bad offsets, deep nesting, odd versions, a 3.8 MB traceId on every answer,
    95,000 failed sub-tasks, password echoes, terminal escapes, bad ids) beside honest ones: exit 2,
    every honest host succeeds, no host interrupted, each hostile host its own outcome, peak RSS
    under 250 MB, no output over 2 MB, the password in no output and no raw escape on stderr.
    DAG times no clock can hold (+99:00, year 0, year 9999, NaN, 400 digits, deep nesting) leave
    those hosts succeeded with unknown times, and every output (summary, JUnit, retry file,
    report.html, recap) is still written."""
    ips = addresses(BASE, HONEST + len(HOSTILE))
    agents, expected = {}, {}
    for ip in ips[:HONEST]:
        expected[ip] = ("honest", "succeeded")
    for ip, (name, settings, outcome) in zip(ips[HONEST:], HOSTILE):
        agents[f"{ip}:2886"] = settings
        expected[ip] = (name, outcome)
    config = {"seed": 3, "defaults": {"password": PASSWORD, "dag_duration": [0.3, 0.6]}, "agents": agents}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    out = tmp_path / "out"
    out.mkdir()
    with sim_fleet(tmp_path, BASE, len(ips), config):
        code, stdout, stderr, rss = _run_measured(
            ["start", "-i", str(inventory), "--timeout", "20", "--request-timeout", "5", "--log-level", "debug",
             "--journal", str(out / "journal.jsonl"), "--junit", str(out / "junit.xml"),
             "--output", str(out / "summary.json"), "--retry-file", str(out / "retry")], tmp_path)
    summary = json.loads((out / "summary.json").read_text())
    outcomes = {h["host"]: h["outcome"] for h in summary["hosts"]}
    wrong = {f"{expected[ip][0]} {ip}": outcomes.get(ip) for ip in ips if outcomes.get(ip) != expected[ip][1]}
    assert not wrong, (wrong, stderr[-3000:])
    assert code == 2 and summary["error"] is None and not summary["interrupted"]
    sizes = {path.name: path.stat().st_size for path in out.iterdir()}
    print(f"\nhostile fleet: peak RSS {rss / 2**20:.1f} MB; file sizes {sizes}; stderr {len(stderr)} B")
    assert rss < RSS_LIMIT_MB * 2**20
    assert max(sizes.values()) < FILE_LIMIT_BYTES and len(stderr) < FILE_LIMIT_BYTES
    for name in sizes:
        assert PASSWORD.encode() not in (out / name).read_bytes(), name
    assert PASSWORD not in stdout and PASSWORD not in stderr
    assert not any(c in stderr for c in "\x1b\x07\u202e\x9b")
    by_name = {expected[h["host"]][0]: h for h in summary["hosts"]}
    trace = by_name["huge_trace_id"]
    assert 1 <= len(trace["trace_ids"]) <= 32 and all(len(t) <= 128 for t in trace["trace_ids"])
    flood = by_name["95000_failed_sub_tasks"]
    assert len(flood["failed_tasks"]) == 32 and flood["failed_tasks_dropped"] == 95_000 - 32
    assert by_name["echoes_password_on_start"]["adopted"]["reason"] == "answer_lost"
    # a DAG time no clock can hold is unknown in that host's entry; every output of the run is written
    for name, _settings, _outcome in HOSTILE:
        if name.startswith("dag_time"):
            assert by_name[name]["dag"]["start_time"] is None and by_name[name]["dag"]["end_time"] is None, name
    assert {"report.html", "junit.xml", "summary.json", "retry"} <= set(sizes)
    assert "RECAP obproxy.start" in stderr and "Traceback" not in stderr and "cannot render" not in stderr
    junit = ET.parse(out / "junit.xml").getroot()
    assert int(junit.attrib["tests"]) == len(ips)
    assert "********" in json.dumps(by_name["echoes_password_in_logs"]["failed_tasks"])
