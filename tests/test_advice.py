"""The advice printed after a run is the command that settles its hosts (issue 22, item 6):
pure checks of :mod:`fleet.api.advice`, and one run whose printed advice is followed literally."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from fleet.api.advice import advice_lines, partition
from tests.harness import addresses, run_fleet, sim_fleet, write_inventory

FAST = ["--poll-cap", "0.3", "--request-timeout", "3"]


def _doc(*hosts: tuple[str, str, str | None], interrupted: bool = False) -> dict[str, Any]:
    return {"interrupted": interrupted,
            "hosts": [{"host": name, "outcome": outcome, "dag": {"id": "1", "state": state} if state else None}
                      for name, outcome, state in hosts]}


def test_timed_out_hosts_are_told_to_cancel_not_to_resume() -> None:
    """A run whose only unsettled hosts timed out is told ``fleet dag cancel RUN`` (which picks exactly
    those hosts), with the longer-timeout resume as the alternative, and no plain resume."""
    advice = partition(_doc(("a", "succeeded", "SUCCEED"), ("b", "timed_out", "RUNNING"),
                            ("c", "timed_out", "RUNNING"), ("d", "failed", "FAILED")))
    assert advice.timed_out == ("b", "c")
    assert advice_lines(advice, "r.retry", "j.jsonl", "start") == [
        "fleet: 2 hosts timed out with their DAG still running: cancel the DAGs with fleet dag cancel j.jsonl "
        "(or follow them longer: fleet start --resume j.jsonl --timeout SECONDS)",
        "fleet: 1 hosts to retry (never fired, or definitely done): --limit @r.retry",
    ]


def test_cancel_names_its_hosts_when_interrupted_ones_need_the_resume() -> None:
    """With interrupted hosts beside timed-out ones, the cancel names the timed-out hosts with --limit
    (fleet dag cancel alone would cancel the interrupted DAGs too) and the resume line counts only the
    others; without a journal the cancel reads the summary."""
    advice = partition(_doc(("a", "timed_out", "RUNNING"), ("b", "interrupted", "RUNNING"),
                            ("c", "timed_out", "RUNNING"), interrupted=True))
    lines = advice_lines(advice, "r.retry", "j.jsonl", "stop")
    assert lines[0].endswith("fleet dag cancel j.jsonl --limit a,c "
                             "(or follow them longer: fleet stop --resume j.jsonl --timeout SECONDS)")
    assert lines[1].startswith("fleet: 1 hosts may still be starting (interrupted 1): settle with fleet stop --resume")
    no_journal = advice_lines(partition(_doc(("a", "timed_out", "RUNNING")), resumable=False), "r", None, "start",
                              summary="out/summary.json")
    assert no_journal == ["fleet: 1 hosts timed out with their DAG still running: cancel the DAGs with "
                          "fleet dag cancel out/summary.json"]


def test_following_the_printed_advice_after_a_timeout_settles_the_hosts(tmp_path: Path) -> None:
    """A start whose DAGs are stuck ends timed_out; running the `fleet dag cancel` command it printed,
    word for word, cancels exactly those DAGs (FAILED + CANCEL on the agent), sends no second start,
    and the host that succeeded is left alone."""
    base = "127.62.0.1"
    ips = addresses(base, 3)
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    config = {"defaults": {"dag_duration": [0.2, 0.4]},
              "agents": {f"{ip}:2886": {"faults": {"dag_stuck": True}} for ip in ips[1:]}}
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        start = run_fleet(["start", "-i", str(inventory), "--timeout", "1.5", *FAST], cwd=tmp_path)
        [line] = [ln for ln in start.stderr.splitlines() if "fleet dag cancel" in ln]
        command = shlex.split(line.split("cancel the DAGs with ", 1)[1].split(" (or ", 1)[0])
        assert command[:3] == ["fleet", "dag", "cancel"]
        cancel = run_fleet([*command[1:], "--timeout", "10", *FAST], cwd=tmp_path)
        state = sim.state()
    assert start.returncode == 2
    assert start.outcomes() == {ips[0]: "succeeded", ips[1]: "timed_out", ips[2]: "timed_out"}
    assert "may still be starting" not in start.stderr
    assert cancel.returncode == 0, cancel.stderr[-2000:]
    assert cancel.outcomes() == {ips[1]: "succeeded", ips[2]: "succeeded"}
    for ip in ips:
        agent = state["agents"][f"{ip}:2886"]
        assert agent["requests"].get("POST /api/v1/obproxy/start") == 1
    dags = {ip: state["agents"][f"{ip}:2886"]["dags"][-1] for ip in ips[1:]}
    assert all((d["state"], d["operator"]) == ("FAILED", "CANCEL") for d in dags.values()), json.dumps(dags)
