"""obshell's ODP maintenance lock, end to end: `fleet start` and `fleet stop` against agents whose
lock another operator's upgrade, add, delete or stop holds, or released when it failed checking.
What each agent itself recorded (its requests and DAGs) is checked, not only fleet's summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness import addresses, run_fleet, sim_fleet, write_inventory

START = "POST /api/v1/obproxy/start"
STOP = "POST /api/v1/obproxy/stop"
#: (planted DAGs, identity, start outcome, the DAG named in the error)
CASES: list[tuple[list[dict[str, Any]], str, str, str | None]] = [
    ([{"kind": "upgrade", "state": "RUNNING", "stage": 8}], "SINGLE", "precheck_failed", "Upgrade obproxy"),
    ([{"kind": "upgrade", "state": "RUNNING", "stage": 8}], "FOLLOWER", "precheck_failed", "Upgrade obproxy"),
    ([{"kind": "add", "state": "RUNNING", "stage": 2}], "SINGLE", "precheck_failed", "Add obproxy"),
    ([{"kind": "delete", "state": "FAILED", "stage": 3}], "SINGLE", "precheck_failed", "Delete obproxy"),
    ([{"kind": "stop", "state": "FAILED", "stage": 2}], "SINGLE", "precheck_failed", "Stop obproxy"),
    ([{"kind": "stop", "state": "FAILED", "stage": 1}], "SINGLE", "succeeded", None),
    ([{"kind": "stop", "state": "FAILED", "stage": 1}, {"kind": "delete", "state": "FAILED", "stage": 1}],
     "FOLLOWER", "succeeded", None),
]


def test_start_and_stop_never_fire_into_a_held_lock_and_fire_past_dags_that_released_it(tmp_path: Path) -> None:
    """A start is not sent while a running upgrade or add, or a delete or stop that failed past
    'Check obproxy status', holds the lock (precheck_failed naming that DAG, on SINGLE and FOLLOWER
    agents); it is sent, once, where only dead DAGs that released the lock are unfinished. Then a
    stop: sent where the lock is free (after the start), never where the lock is held, and a
    failed stop is not adopted as running."""
    base = "127.53.0.1"
    ips = addresses(base, len(CASES))
    agents = {f"{ip}:2886": {"identity": identity, "dags": planted}
              for ip, (planted, identity, _, _) in zip(ips, CASES, strict=True)}
    config = {"defaults": {"dag_duration": [0.3, 0.5]}, "agents": agents}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        start = run_fleet(["start", "-i", str(inventory), "--no-journal"], cwd=tmp_path)
        stop = run_fleet(["stop", "-i", str(inventory), "--no-journal"], cwd=tmp_path)
        state = sim.state()
    assert start.summary is not None and stop.summary is not None, start.stderr[-2000:] + stop.stderr[-2000:]
    started = {h["host"]: h for h in start.summary["hosts"]}
    stopped = {h["host"]: h for h in stop.summary["hosts"]}
    for ip, (planted, identity, outcome, holder) in zip(ips, CASES, strict=True):
        agent = state["agents"][f"{ip}:2886"]
        host, after = started[ip], stopped[ip]
        assert host["outcome"] == outcome, (planted, identity, host["error"])
        if holder is None:
            assert agent["requests"].get(START) == 1 and agent["starts_accepted"] == 1, (planted, identity)
            assert after["outcome"] == "succeeded" and agent["requests"].get(STOP) == 1, (planted, after["error"])
            continue
        message = host["error"]["message"]
        assert host["dag"]["name"] == holder and host["dag"]["id"] in message and f"'{holder}'" in message
        assert agent["requests"].get(START) is None and agent["starts_accepted"] == 0, (planted, identity)
        assert after["outcome"] == "precheck_failed" and after["adopted"] is None, (planted, after)
        assert agent["requests"].get(STOP) is None, planted
        planted_dags = {d["dag_id"]: d for d in agent["dags"]}
        assert len(planted_dags) == len(planted)  # nothing new was created on a locked agent
