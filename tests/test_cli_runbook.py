"""End to end: the runbook controls of ``fleet start`` — --serial, --max-fail-percentage,
--canary, --step, --order — and the retry file, checked against the simulator's own record of
when each DAG was created and ended."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, write_inventory
from tests.test_cli_reports import run_in_pty

FAST = ["--poll-cap", "0.5", "--timeout", "3", "--request-timeout", "3", "--no-journal", "-q"]
DURATION = {"dag_duration": [0.2, 0.6]}
START = "POST /api/v1/obproxy/start"


def _dags(state: dict[str, Any], ip: str) -> list[dict[str, Any]]:
    dags: list[dict[str, Any]] = state["agents"][f"{ip}:2886"]["dags"]
    return dags


def _starts(state: dict[str, Any], ip: str) -> int:
    requests: dict[str, int] = state["agents"][f"{ip}:2886"]["requests"]
    return requests.get(START, 0)


def _assert_batches_in_turn(state: dict[str, Any], batches: list[list[str]]) -> None:
    """Every DAG of a batch was created after every DAG of the batch before it had ended."""
    for before, after in itertools.pairwise(batches):
        ended = max(_dags(state, ip)[0]["end_at"] for ip in before)
        created = min(_dags(state, ip)[0]["created_at"] for ip in after)
        assert created > ended, (before, after)


def test_serial_list_fires_batch_after_batch(tmp_path: Path) -> None:
    """--serial 1,3,50% over 12 hosts fires batches of 1, 3, 6 and the last element repeated
    (2 left); each batch's DAGs are created only after the previous batch's DAGs ended."""
    base = "127.42.1.1"
    ips = addresses(base, 12)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, 12, {"defaults": DURATION}) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--serial", "1,3,50%", *FAST], cwd=tmp_path)
        state = sim.state()
    assert run.returncode == 0, run.stderr[-2000:]
    assert set(run.outcomes().values()) == {"succeeded"}
    _assert_batches_in_turn(state, [ips[:1], ips[1:4], ips[4:10], ips[10:]])


def test_serial_number_and_percentage(tmp_path: Path) -> None:
    """--serial N fires N hosts at a time, --serial P% that share of the selection, each
    batch after the last one finished."""
    base = "127.42.2.1"
    ips = addresses(base, 12)
    with sim_fleet(tmp_path, base, 12, {"defaults": DURATION}) as sim:
        inv_a = write_inventory(tmp_path / "a.yaml", ips[:6])
        inv_b = write_inventory(tmp_path / "b.yaml", ips[6:])
        by_count = run_fleet(["start", "-i", str(inv_a), "--serial", "3", *FAST], cwd=tmp_path)
        by_share = run_fleet(["start", "-i", str(inv_b), "--serial", "34%", *FAST], cwd=tmp_path)
        state = sim.state()
    assert by_count.returncode == 0 and by_share.returncode == 0, by_count.stderr + by_share.stderr
    _assert_batches_in_turn(state, [ips[0:3], ips[3:6]])
    _assert_batches_in_turn(state, [ips[6:8], ips[8:10], ips[10:12]])  # 34% of 6 = 2


def test_max_fail_percentage_stops_only_when_exceeded(tmp_path: Path) -> None:
    """With --serial 2 --max-fail-percentage 50, a batch with 1 of 2 failed (50%, not over)
    lets the run go on (exit 2); a batch with 2 of 2 failed stops it: later hosts are never
    fired, they are `skipped` with the reason, and fleet exits 3. Exceeding P in the last (here
    the only) batch stops nothing, so the exit code stays 2."""
    base = "127.42.3.1"
    ips = addresses(base, 15)
    run_a, run_b, run_c = ips[:6], ips[6:12], ips[12:]
    config = {"defaults": DURATION, "agents": {
        run_a[2]: {"faults": {"dag_fails": True}}, run_c[1]: {"faults": {"dag_fails": True}},
        run_b[2]: {"faults": {"dag_fails": True}}, run_b[3]: {"password": "rotated"}}}
    with sim_fleet(tmp_path, base, 15, config) as sim:
        one_batch = run_fleet(["start", "-i", str(write_inventory(tmp_path / "c.yaml", run_c)),
                               "--max-fail-percentage", "10", *FAST], cwd=tmp_path)
        at_limit = run_fleet(["start", "-i", str(write_inventory(tmp_path / "a.yaml", run_a)), "--serial", "2",
                              "--max-fail-percentage", "50", *FAST], cwd=tmp_path)
        over = run_fleet(["start", "-i", str(write_inventory(tmp_path / "b.yaml", run_b)), "--serial", "2",
                          "--max-fail-percentage", "50", *FAST], cwd=tmp_path)
        state = sim.state()
    assert at_limit.returncode == 2, at_limit.stderr[-2000:]
    assert list(at_limit.outcomes().values()).count("succeeded") == 5
    assert over.returncode == 3, over.stderr[-2000:]
    outcomes = over.outcomes()
    assert [outcomes[ip] for ip in run_b] == ["succeeded", "succeeded", "failed", "auth_failed", "skipped", "skipped"]
    assert over.summary is not None
    skipped = next(h for h in over.summary["hosts"] if h["host"] == run_b[4])
    assert "max-fail-percentage" in skipped["error"]["message"]
    assert all(_starts(state, ip) == 0 for ip in run_b[4:])
    assert one_batch.returncode == 2, one_batch.stderr[-2000:]  # over P, but nothing was left unfired
    assert list(one_batch.outcomes().values()) == ["succeeded", "failed", "succeeded"]


def test_canary_failure_aborts_everything(tmp_path: Path) -> None:
    """--canary 2 fires two hosts alone; when one fails nothing else is fired (exit 3, the rest
    `skipped`); when both succeed the rest is fired after the canaries' DAGs ended (exit 0)."""
    base = "127.42.4.1"
    ips = addresses(base, 12)
    bad, good = ips[:6], ips[6:]
    config = {"defaults": DURATION, "agents": {bad[1]: {"faults": {"dag_fails": True}}}}
    with sim_fleet(tmp_path, base, 12, config) as sim:
        aborted = run_fleet(["start", "-i", str(write_inventory(tmp_path / "a.yaml", bad)), "--canary", "2", *FAST],
                            cwd=tmp_path)
        passed = run_fleet(["start", "-i", str(write_inventory(tmp_path / "b.yaml", good)), "--canary", "2", *FAST],
                           cwd=tmp_path)
        state = sim.state()
    assert aborted.returncode == 3, aborted.stderr[-2000:]
    assert [aborted.outcomes()[ip] for ip in bad] == ["succeeded", "failed"] + ["skipped"] * 4
    assert all(_starts(state, ip) == 0 for ip in bad[2:])
    assert aborted.summary is not None
    assert "canary" in next(h for h in aborted.summary["hosts"] if h["host"] == bad[5])["error"]["message"]
    assert passed.returncode == 0, passed.stderr[-2000:]
    _assert_batches_in_turn(state, [good[:2], good[2:]])


def test_step_needs_a_terminal(tmp_path: Path) -> None:
    """--step without a terminal on stdin is a usage error (exit 5, one clear line) and no
    agent is contacted."""
    base = "127.42.5.1"
    ips = addresses(base, 3)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, 3, {"defaults": DURATION}) as sim:
        run = run_fleet(["start", "-i", str(inventory), "--serial", "1", "--step", *FAST], cwd=tmp_path)
        state = sim.state()
    assert run.returncode == 5
    assert run.stderr.strip() == "fleet: error: --step asks before each batch and needs a terminal on stdin"
    assert state["totals"]["requests"] == 0


def test_step_on_a_terminal_asks_before_each_batch(tmp_path: Path) -> None:
    """On a terminal --step asks before each batch: 'y' fires it, 'n' stops the run there —
    the declined batch and the rest are `skipped`, never fired, and fleet exits 3."""
    base = "127.42.6.1"
    ips = addresses(base, 5)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, 5, {"defaults": DURATION}) as sim:
        run = run_in_pty(["start", "-i", str(inventory), "--serial", "2", "--step", "-o", "s.json",
                          *FAST[:-1]], tmp_path, fleet_env(), answers=["y", "n"])
        state = sim.state()
    import json

    summary = json.loads((tmp_path / "s.json").read_text())
    assert run.returncode == 3, run.terminal[-2000:]
    assert f"fire batch 1 (2 hosts: {ips[0]}, {ips[1]})? [y/N]" in run.terminal
    assert f"fire batch 2 (2 hosts: {ips[2]}, {ips[3]})? [y/N]" in run.terminal
    assert "fire batch 3" not in run.terminal
    assert [h["outcome"] for h in summary["hosts"]] == ["succeeded"] * 2 + ["skipped"] * 3
    assert "declined batch 2" in summary["hosts"][2]["error"]["message"]
    assert [_starts(state, ip) for ip in ips] == [1, 1, 0, 0, 0]


def test_order_inventory_sorted_shuffle(tmp_path: Path) -> None:
    """--order inventory fires in inventory order, sorted in host-name order, shuffle in some
    order of the same hosts (seen from DAG creation times with --forks 1)."""
    base = "127.42.7.1"
    ips = addresses(base, 24)
    scrambled = [ips[i] for i in (5, 2, 7, 0, 3, 6, 1, 4)]
    groups = {"inventory": scrambled, "sorted": [ips[8 + i] for i in (5, 2, 7, 0, 3, 6, 1, 4)],
              "shuffle": [ips[16 + i] for i in (5, 2, 7, 0, 3, 6, 1, 4)]}
    runs = {}
    with sim_fleet(tmp_path, base, 24, {"defaults": DURATION}) as sim:
        for order, hosts in groups.items():
            inventory = write_inventory(tmp_path / f"{order}.yaml", hosts)
            runs[order] = run_fleet(["start", "-i", str(inventory), "--order", order, "--forks", "1", *FAST],
                                    cwd=tmp_path)
        state = sim.state()

    def fired_order(hosts: list[str]) -> list[str]:
        return sorted(hosts, key=lambda ip: _dags(state, ip)[0]["created_at"])

    assert all(run.returncode == 0 for run in runs.values()), [r.stderr[-500:] for r in runs.values()]
    assert fired_order(groups["inventory"]) == groups["inventory"]
    assert runs["inventory"].summary is not None
    assert [h["host"] for h in runs["inventory"].summary["hosts"]] == groups["inventory"]
    assert fired_order(groups["sorted"]) == sorted(groups["sorted"])
    assert sorted(fired_order(groups["shuffle"])) == sorted(groups["shuffle"])
    assert all(_starts(state, ip) == 1 for ip in groups["shuffle"])


def test_retry_file_round_trip(tmp_path: Path) -> None:
    """Every run writes the hosts that did not succeed for sure to its retry files (the latest
    per inventory and operation, .fleet/retry/<inventory>.start.retry, and the run folder's
    own); `--limit @FILE` selects exactly those hosts, and a run where everything succeeded
    leaves an empty retry file."""
    base = "127.42.8.1"
    ips = addresses(base, 8)
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    config = {"defaults": DURATION, "agents": {ips[1]: {"faults": {"dag_fails": True}},
                                               ips[6]: {"password": "rotated"}, ips[4]: {"faults": {"refuse": True}}}}
    with sim_fleet(tmp_path, base, 8, config) as sim:
        first = run_fleet(["start", "-i", str(inventory), *FAST], cwd=tmp_path)
        retry = tmp_path / ".fleet" / "retry" / "prod.start.retry"
        assert retry.read_text().split() == [ips[1], ips[4], ips[6]]
        [own] = (tmp_path / ".fleet" / "runs").glob("*-obproxy.start/retry")
        assert own.read_text() == retry.read_text()
        again = run_fleet(["start", "-i", str(inventory), "--limit", f"@{retry}",
                           "--retry-file", "second.retry", *FAST], cwd=tmp_path)
        clean = run_fleet(["start", "-i", str(inventory), "--limit", ips[0], "--retry-file", "clean.retry", *FAST],
                          cwd=tmp_path)
        state = sim.state()
    assert first.returncode == 2 and again.returncode == 2
    assert again.summary is not None
    assert [h["host"] for h in again.summary["hosts"]] == [ips[1], ips[4], ips[6]]
    assert (tmp_path / "second.retry").read_text().split() == [ips[1], ips[4], ips[6]]
    assert clean.returncode == 0 and (tmp_path / "clean.retry").read_text() == ""
    assert _starts(state, ips[2]) == 1  # untouched by the retry run
