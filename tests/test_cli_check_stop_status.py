"""End to end: `fleet check` (preflight and credentials, no side effects), `fleet stop`, and
`fleet status --journal`, against the simulator as a separate process."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from fleet.report import load_summary_schema
from tests.harness import addresses, run_fleet, sim_fleet, write_inventory

FAST = ["--poll-cap", "0.5", "--timeout", "3", "--request-timeout", "3", "-q"]
DURATION = {"dag_duration": [0.2, 0.6]}


def test_check_verifies_credentials_without_side_effects(tmp_path: Path) -> None:
    """`fleet check` writes the usual summary with operation "check": a good agent succeeds, a
    wrong password is auth_failed (with the agent's errCode), a non-ODP agent precheck_failed,
    an old agent precheck_failed; the simulator saw no start, no stop and created no DAG."""
    base = "127.42.10.1"
    ips = addresses(base, 4)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    config = {"defaults": DURATION, "agents": {ips[1]: {"password": "rotated"}, ips[2]: {"is_obproxy_agent": False},
                                               ips[3]: {"version": "4.2.5.0-100000022024"}}}
    with sim_fleet(tmp_path, base, 4, config) as sim:
        run = run_fleet(["check", "-i", str(inventory), "--junit", "check.xml", *FAST], cwd=tmp_path)
        state = sim.state()
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.summary is not None
    jsonschema.validate(run.summary, load_summary_schema())
    assert run.summary["operation"] == "check"
    assert run.outcomes() == {ips[0]: "succeeded", ips[1]: "auth_failed", ips[2]: "precheck_failed",
                              ips[3]: "precheck_failed"}
    wrong = next(h for h in run.summary["hosts"] if h["host"] == ips[1])
    assert wrong["error"]["errCode"] == "Security.Authentication.IncorrectAgentPassword"
    assert state["totals"]["starts_accepted"] == 0 and state["totals"]["dags"] == {}
    for agent in state["agents"].values():
        assert not any(route.startswith("POST") for route in agent["requests"]), agent["requests"]
        assert agent["dags"] == []
    assert (tmp_path / "check.xml").read_text().count("<testcase ") == 4


def test_stop_reports_the_stop_operation(tmp_path: Path) -> None:
    """`fleet stop` sends POST /api/v1/obproxy/stop once per host, follows the stop DAGs and
    writes a summary with operation "obproxy.stop"; its journal hint names `fleet stop`."""
    base = "127.42.11.1"
    ips = addresses(base, 5)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    config = {"defaults": DURATION, "agents": {ips[3]: {"faults": {"dag_fails": True}}}}
    with sim_fleet(tmp_path, base, 5, config) as sim:
        run = run_fleet(["stop", "-i", str(inventory), "--journal", "stop.jsonl", *FAST], cwd=tmp_path)
        state = sim.state()
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.summary is not None
    assert run.summary["operation"] == "obproxy.stop"
    assert run.outcomes() == {ip: ("failed" if ip == ips[3] else "succeeded") for ip in ips}
    assert all(h["dag"]["name"] == "Stop obproxy" for h in run.summary["hosts"])
    for ip in ips:
        requests = state["agents"][f"{ip}:2886"]["requests"]
        assert requests.get("POST /api/v1/obproxy/stop") == 1 and "POST /api/v1/obproxy/start" not in requests
    assert "fleet stop --resume stop.jsonl" in run.stderr


def test_status_repolls_the_dags_of_a_past_run(tmp_path: Path) -> None:
    """`fleet status --journal F --poll` re-polls every DAG the journal recorded and prints each
    one's state (JSON on stdout, a table with a header on stderr), listing hosts that never got a
    DAG too; exit 2 when some DAG did not succeed. An unreadable journal is a one-line usage error
    (exit 5)."""
    base = "127.42.12.1"
    ips = addresses(base, 5)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    config = {"defaults": DURATION, "agents": {ips[1]: {"faults": {"dag_fails": True}}, ips[2]: {"password": "x"}}}
    with sim_fleet(tmp_path, base, 5, config):
        start = run_fleet(["start", "-i", str(inventory), "--journal", "run.jsonl", *FAST], cwd=tmp_path)
        status = run_fleet(["status", "--journal", "run.jsonl", "--poll"], cwd=tmp_path)
        missing = run_fleet(["status", "--journal", "nope.jsonl"], cwd=tmp_path)
    assert start.returncode == 2
    assert start.summary is not None
    dags = {h["host"]: h["dag"]["id"] for h in start.summary["hosts"] if h["dag"]}
    assert status.returncode == 2, status.stderr
    doc = json.loads(status.stdout)
    assert doc["schema"] == "fleet.status/v1" and doc["operation"] == "obproxy.start" and doc["polled"]
    states = {row["host"]: (row["dag"], row["state"]) for row in doc["hosts"]}
    assert states == {ip: (dags.get(ip), "FAILED" if ip == ips[1] else "-" if ip == ips[2] else "SUCCEED")
                      for ip in ips}
    assert all(row["trace_ids"] for row in doc["hosts"] if row["dag"])
    assert [row["outcome"] for row in doc["hosts"] if row["host"] == ips[2]] == ["auth_failed"]
    assert status.stderr.splitlines()[1].split()[:4] == ["HOST", "OUTCOME", "DAG", "STATE"]
    table = {line.split()[0]: line.split()[1:4] for line in status.stderr.splitlines() if line.startswith("127.")}
    assert table[ips[1]] == ["failed", dags[ips[1]], "FAILED"]
    assert table[ips[0]] == ["succeeded", dags[ips[0]], "SUCCEED"]
    assert table[ips[2]] == ["auth_failed", "-", "-"] and "0001-01-01" not in status.stderr
    assert missing.returncode == 5
    assert missing.stderr.strip() == "fleet: error: --journal nope.jsonl: cannot read: No such file or directory"
