"""End to end: `fleet dag retry|rollback|cancel|pass` on the DAGs a past run recorded, and
`fleet start --retry-failed`, against simulated agents that model obshell's operators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from fleet.report import load_summary_schema
from tests.harness import addresses, run_fleet, sim_fleet, write_inventory

FAST = ["--poll-cap", "0.3", "--request-timeout", "3", "-q"]
OPERATE = "POST /api/v1/task/dag/{id}"
START = "POST /api/v1/obproxy/start"


def _agent(state: dict[str, Any], ip: str) -> dict[str, Any]:
    agent: dict[str, Any] = state["agents"][f"{ip}:2886"]
    return agent


def _by_host(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["host"]: h for h in summary["hosts"]}


def test_maintenance_window_start_retry_cancel(tmp_path: Path) -> None:
    """A start leaves 2 hosts failed (the cause then goes away) and 2 stuck (timed_out).
    `fleet dag rollback` on the failed ones is refused by the agent (rejected, its errCode);
    `fleet dag pass` without --limit is bad input (exit 5, nothing sent); `fleet dag retry
    SUMMARY` retries exactly the failed DAGs in place (one RETRY each, no second start) and
    they succeed; `fleet dag cancel JOURNAL` cancels exactly the stuck ones, which end FAILED +
    CANCEL (succeeded). Each step writes its own schema-valid summary; running the retry again
    reports the same hosts, resumed, and sends no second RETRY."""
    base = "127.43.1.1"
    ips = addresses(base, 6)
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    config = {"defaults": {"dag_duration": [0.3, 0.5]},
              "agents": {ips[2]: {"faults": {"dag_fails": 1}}, ips[3]: {"faults": {"dag_fails": 1}},
                         ips[4]: {"faults": {"dag_stuck": True}}, ips[5]: {"faults": {"dag_stuck": True}}}}
    journal = tmp_path / "start.jsonl"
    schema = load_summary_schema()
    with sim_fleet(tmp_path, base, 6, config) as sim:
        start = run_fleet(["start", "-i", str(inventory), "--timeout", "2", "--journal", str(journal),
                           "-o", "start.json", *FAST], cwd=tmp_path)
        start_doc = json.loads((tmp_path / "start.json").read_text())
        rollback = run_fleet(["dag", "rollback", "start.json", "-o", "rollback.json", *FAST], cwd=tmp_path)
        no_limit = run_fleet(["dag", "pass", "start.json", *FAST], cwd=tmp_path)
        retry = run_fleet(["dag", "retry", "start.json", "--timeout", "10", "-o", "retry.json", *FAST],
                          cwd=tmp_path)
        cancel = run_fleet(["dag", "cancel", str(journal), "--timeout", "10", "-o", "cancel.json", *FAST],
                           cwd=tmp_path)
        again = run_fleet(["dag", "retry", "start.json", "--timeout", "10", *FAST], cwd=tmp_path)
        state = sim.state()
    assert start.returncode == 2
    assert [h["outcome"] for h in start_doc["hosts"]] == ["succeeded"] * 2 + ["failed"] * 2 + ["timed_out"] * 2
    assert rollback.returncode == 2
    refused = json.loads((tmp_path / "rollback.json").read_text())
    assert refused["operation"] == "dag.rollback" and sorted(_by_host(refused)) == ips[2:4]
    for host in refused["hosts"]:
        assert host["outcome"] == "rejected"
        assert host["error"]["errCode"] == "Task.Dag.Operator.RollbackNotAllowed"
    assert no_limit.returncode == 5 and "--limit" in no_limit.stderr
    assert retry.returncode == 0, retry.stderr[-2000:]
    retried = json.loads((tmp_path / "retry.json").read_text())
    jsonschema.validate(retried, schema)
    assert retried["operation"] == "dag.retry" and sorted(_by_host(retried)) == ips[2:4]
    for ip in ips[2:4]:
        host = _by_host(retried)[ip]
        assert host["outcome"] == "succeeded" and host["dag"]["state"] == "SUCCEED"
        assert host["dag"]["id"] == _by_host(start_doc)[ip]["dag"]["id"]
    assert cancel.returncode == 0, cancel.stderr[-2000:]
    cancelled = json.loads((tmp_path / "cancel.json").read_text())
    jsonschema.validate(cancelled, schema)
    assert cancelled["operation"] == "dag.cancel" and sorted(_by_host(cancelled)) == ips[4:6]
    for ip in ips[4:6]:
        host = _by_host(cancelled)[ip]
        assert host["outcome"] == "succeeded"
        assert (host["dag"]["state"], host["dag"]["operator"]) == ("FAILED", "CANCEL")
    assert again.returncode == 0 and again.summary is not None
    assert {h["host"]: (h["outcome"], h["resumed"]) for h in again.summary["hosts"]} == {
        ip: ("succeeded", True) for ip in ips[2:4]}
    for ip in ips:
        agent = _agent(state, ip)
        assert agent["requests"].get(START) == 1 and len(agent["dags"]) == 1
        # failed hosts: one refused ROLLBACK and one RETRY; stuck hosts: one CANCEL; others none
        assert agent["requests"].get(OPERATE, 0) == {2: 2, 3: 2, 4: 1, 5: 1}.get(ips.index(ip), 0)


def test_an_operator_journaled_before_a_crash_is_never_sent_again(tmp_path: Path) -> None:
    """A `fleet dag retry` that journaled its intent for a host and died is resumed by the same
    command: the host's DAG is followed, and no RETRY is sent (it may have left), so the DAG is
    reported as it stands (failed)."""
    base = "127.43.2.1"
    ips = addresses(base, 1)
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    with sim_fleet(tmp_path, base, 1, {"defaults": {"dag_duration": [0.2, 0.3], "faults": {"dag_fails": 1}}}) as sim:
        start = run_fleet(["start", "-i", str(inventory), "--timeout", "3", "-o", "start.json", *FAST], cwd=tmp_path)
        dag = json.loads((tmp_path / "start.json").read_text())["hosts"][0]["dag"]["id"]
        crashed = tmp_path / "crashed.jsonl"
        crashed.write_text(
            json.dumps({"ev": "run", "at": 1, "operation": "dag.retry", "hosts": [f"{ips[0]}:2886"]}) + "\n"
            + json.dumps({"ev": "fired", "at": 2, "host": f"{ips[0]}:2886", "trace_id": "t1", "dag": dag,
                          "operator": "RETRY"}) + "\n")
        resumed = run_fleet(["dag", "retry", "start.json", "--resume", str(crashed), "--timeout", "3", *FAST],
                            cwd=tmp_path)
        state = sim.state()
    assert start.returncode == 2 and resumed.summary is not None
    assert resumed.summary["hosts"][0]["outcome"] == "failed"
    assert _agent(state, ips[0])["requests"].get(OPERATE, 0) == 0


def test_retry_failed_retries_in_place_and_lists_every_attempt(tmp_path: Path) -> None:
    """`fleet start --retry-failed 2`: a DAG failing twice is RETRYed twice on the same DAG and
    succeeds, one failing three times ends failed after two RETRYs; each host's `attempts`
    lists every run (START, then each RETRY) with its trace id; a host that succeeded at once
    has no attempts. No agent gets a second start."""
    base = "127.43.3.1"
    ips = addresses(base, 3)
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    config = {"defaults": {"dag_duration": [0.2, 0.3]},
              "agents": {ips[1]: {"faults": {"dag_fails": 2}}, ips[2]: {"faults": {"dag_fails": 3}}}}
    with sim_fleet(tmp_path, base, 3, config) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--retry-failed", "2", "--timeout", "5", *FAST],
                        cwd=tmp_path)
        state = sim.state()
    assert run.returncode == 2 and run.summary is not None
    jsonschema.validate(run.summary, load_summary_schema())
    hosts = _by_host(run.summary)
    assert "attempts" not in hosts[ips[0]] and hosts[ips[0]]["outcome"] == "succeeded"
    ok, bad = hosts[ips[1]], hosts[ips[2]]
    assert ok["outcome"] == "succeeded" and bad["outcome"] == "failed"
    assert [(a["operator"], a["state"]) for a in ok["attempts"]] == [
        ("START", "FAILED"), ("RETRY", "FAILED"), ("RETRY", "SUCCEED")]
    assert [(a["operator"], a["state"]) for a in bad["attempts"]] == [
        ("START", "FAILED"), ("RETRY", "FAILED"), ("RETRY", "FAILED")]
    assert all(a["trace_id"] for a in ok["attempts"]) and len({a["trace_id"] for a in ok["attempts"]}) == 3
    assert bad["attempts"][-1]["message"].startswith("DAG ")
    for ip, retries in ((ips[0], 0), (ips[1], 2), (ips[2], 2)):
        assert _agent(state, ip)["requests"].get(START) == 1
        assert _agent(state, ip)["requests"].get(OPERATE, 0) == retries


def test_operator_refusals_are_the_agents_on_4_2_6_and_on_4_3(tmp_path: Path) -> None:
    """`fleet dag rollback` of failed start DAGs, which obshell refuses ("Check obproxy status"
    cannot roll back): 4.2.6 answers 500, code 1010, "Known error: …", 4.3.1+ 400
    Task.Dag.Operator.RollbackNotAllowed; both hosts end rejected, "refused by the agent", with the
    agent's own codes, and each agent got exactly one operator request (nothing re-sent)."""
    base = "127.43.9.1"
    ips = addresses(base, 2)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    config = {"defaults": {"dag_duration": [0.3, 0.5], "faults": {"dag_fails": 1}},
              "agents": {ips[0]: {"version": "4.2.6.0-100000012024060412"}}}
    with sim_fleet(tmp_path, base, 2, config) as sim:
        start = run_fleet(["start", "-i", str(inventory), "--no-journal", "-o", "start.json", *FAST], cwd=tmp_path)
        rollback = run_fleet(["dag", "rollback", "start.json", "-o", "rollback.json", *FAST], cwd=tmp_path)
        state = sim.state()
    started = json.loads((tmp_path / "start.json").read_text())
    assert start.returncode == 2 and {h["outcome"] for h in started["hosts"]} == {"failed"}, start.stderr[-2000:]
    assert rollback.returncode == 2, rollback.stderr[-2000:]
    hosts = _by_host(json.loads((tmp_path / "rollback.json").read_text()))
    legacy, modern = hosts[ips[0]], hosts[ips[1]]
    assert legacy["outcome"] == modern["outcome"] == "rejected"
    assert (legacy["error"]["status"], legacy["error"]["code"], legacy["error"]["errCode"]) == (500, 1010, None)
    assert "Known error: " in legacy["error"]["message"]
    assert (modern["error"]["status"], modern["error"]["errCode"]) == (400, "Task.Dag.Operator.RollbackNotAllowed")
    for host in (legacy, modern):
        assert host["error"]["message"].startswith("refused by the agent"), host["error"]
    for ip in ips:
        assert _agent(state, ip)["requests"].get(OPERATE) == 1, ip
