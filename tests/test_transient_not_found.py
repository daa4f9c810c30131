"""A DAG lookup that fails on the agent (404 Task.NotFound whose message is not "record not
found", as obshell answers a busy sqlite) says nothing about the DAG: the lost-answer search
asks again or gives up inconclusive, polling retries it, and no agent ever gets a second start,
across --resume and --refire-ambiguous too. Checked against each agent's own request counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet.errors import DagLookupFailed, NotFound
from fleet.protocol import wire
from tests.harness import addresses, run_fleet, sim_fleet, write_inventory

START = "POST /api/v1/obproxy/start"


@pytest.mark.parametrize(("doc", "kind"), [
    ({"errCode": "Task.NotFound", "message": "Task not found: record not found"}, NotFound),
    ({"errCode": "Task.NotFound", "message": "Task not found: dag id not match"}, NotFound),
    ({"errCode": "Task.NotFound", "message": "Task not found: obproxy task not found"}, NotFound),
    ({"errCode": "Task.NotFound", "message": "Task not found: database is locked (5) (SQLITE_BUSY)"},
     DagLookupFailed),
    ({"errCode": "Task.NotFound", "message": "Task not found: record not found (login failed)"}, NotFound),
    ({"errCode": "Task.NotFound", "message": "Task not found: context deadline exceeded"}, DagLookupFailed),
    ({"code": 2300, "message": "Task not found: database is locked"}, DagLookupFailed),  # 4.2.x
    ({"code": 2300, "message": "Task not found: record not found"}, NotFound),
    ({"errCode": "Common.NotFound", "message": "Element not found: 404 not found"}, NotFound),
])
def test_only_definite_reasons_make_a_task_not_found_an_answer(doc: dict[str, object], kind: type) -> None:
    """Only "record not found", "dag id not match" (and obshell's "obproxy task not found") are
    answers about the DAG; any other Task.NotFound is a failed lookup (DagLookupFailed, transient)."""
    body = json.dumps({"successful": False, "status": 404, "traceId": "t", "error": doc}).encode()
    assert type(wire.failure_for(wire.parse_envelope(404, body))) is kind


def test_a_busy_lookup_never_reads_as_absent_and_never_leads_to_a_second_start(tmp_path: Path) -> None:
    """Lost start answers on FOLLOWER agents (found only by probing ids): with a few busy lookups
    the search asks again and adopts the DAG; with lookups busy for good it ends ambiguous, and a
    resume with --refire-ambiguous is still ambiguous — one start per agent. Polls answered busy
    are retried (the host succeeds); polls busy for good end the host unreachable with its DAG
    unsettled, never failed as if the agent had forgotten it."""
    base = "127.54.0.1"
    ips = addresses(base, 4)
    lost = {"identity": "FOLLOWER", "faults": {"drop_after_start": True}}
    config = {"defaults": {"dag_duration": [0.3, 0.5]}, "agents": {
        f"{ips[0]}:2886": {**lost, "faults": {"drop_after_start": True, "busy_lookups": 3}},
        f"{ips[1]}:2886": {**lost, "faults": {"drop_after_start": True, "busy_lookups": True}},
        f"{ips[2]}:2886": {"faults": {"busy_lookups": 3}},
        f"{ips[3]}:2886": {"faults": {"busy_lookups": True}}}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        first = run_fleet(["start", "-i", str(inventory), "--journal", str(journal)], cwd=tmp_path)
        again = run_fleet(["start", "--resume", str(journal), "--refire-ambiguous"], cwd=tmp_path)
        state = sim.state()
    assert first.summary is not None, first.stderr[-3000:]
    hosts = {h["host"]: h for h in first.summary["hosts"]}
    assert hosts[ips[0]]["outcome"] == "succeeded" and hosts[ips[0]]["adopted"]["reason"] == "answer_lost"
    assert hosts[ips[1]]["outcome"] == "ambiguous", hosts[ips[1]]
    assert "SQLITE_BUSY" in hosts[ips[1]]["error"]["message"] and "not re-fired" in hosts[ips[1]]["error"]["message"]
    assert hosts[ips[2]]["outcome"] == "succeeded", hosts[ips[2]]["error"]
    assert hosts[ips[3]]["outcome"] == "unreachable" and hosts[ips[3]]["dag"]["state"] != "SUCCEED"
    assert "lost track" in hosts[ips[3]]["error"]["message"], hosts[ips[3]]
    assert again.outcomes()[ips[1]] == "ambiguous", again.stderr[-3000:]
    for ip in ips:
        assert state["agents"][f"{ip}:2886"]["requests"][START] == 1, ip
