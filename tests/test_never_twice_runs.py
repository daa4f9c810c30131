"""Never twice, run-level (issue 9, cases 1, 3 and 4): the journal is the run's lock, the advice
printed after an interrupt never leads to a second start, and --resume replays the rollout.
Every case runs fleet as a process against simulated agents on loopback and counts the starts
each agent received from the simulator's own record."""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, wait_for, write_inventory

START = "POST /api/v1/obproxy/start"


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fleet", *args], cwd=cwd, env=fleet_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def _count(journal: Path, ev: str) -> int:
    if not journal.exists():
        return 0
    return sum(1 for line in journal.read_text().splitlines() if f'"ev":"{ev}"' in line)


def _starts(state: dict[str, Any], ip: str) -> int:
    return int(state["agents"][f"{ip}:2886"]["requests"].get(START, 0))


def _header_only_journal(path: Path, inventory: Path, ips: list[str]) -> Path:
    """A journal whose run died right after its header: every host still to fire."""
    path.write_text(json.dumps({"ev": "run", "at": time.time(), "operation": "obproxy.start",
                                "hosts": [f"{ip}:2886" for ip in ips], "inventory": str(inventory),
                                "limit": None, "shard": None}) + "\n")
    return path


def test_a_second_resume_of_a_running_journal_exits_5_naming_the_holder(tmp_path: Path) -> None:
    """Case 1: while one `fleet start --resume J` runs, a second one on the same journal exits
    5 at once with one line naming the first one's pid and sends nothing; two resumes launched
    at the same instant never both fire: every agent receives at most one start."""
    base = "127.45.1.1"
    ips = addresses(base, 8)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    first, second = ips[:4], ips[4:]
    with sim_fleet(tmp_path, base, len(ips), {"defaults": {"dag_duration": [2.0, 2.5]}}) as sim:
        journal = _header_only_journal(tmp_path / "a.jsonl", inventory, first)
        holder = _spawn(["start", "--resume", str(journal), "-q"], tmp_path)
        wait_for(lambda: _count(journal, "fired") >= 1)
        late = run_fleet(["start", "--resume", str(journal)], cwd=tmp_path)
        _holder_out, holder_err = holder.communicate(timeout=60)

        racing = _header_only_journal(tmp_path / "b.jsonl", inventory, second)
        pair = [_spawn(["start", "--resume", str(racing), "-q"], tmp_path) for _ in range(2)]
        results = [(p.pid, p.wait(timeout=60), p.communicate()[1]) for p in pair]
        state = sim.state()
    assert holder.returncode == 0, holder_err[-2000:]
    assert late.returncode == 5 and late.stdout == ""
    [line] = late.stderr.strip().splitlines()
    assert line.startswith(f"fleet: error: --resume {journal}: in use by pid {holder.pid} (fleet start --resume since ")
    assert line.endswith("); nothing was sent (wait for that run to end, or stop it)")
    assert all(_starts(state, ip) == 1 for ip in first)
    codes = sorted(code for _, code, _ in results)
    assert codes in ([0, 5], [0, 0]), results  # [0, 0] only if one ended before the other began
    for pid, code, err in results:
        if code == 5:
            other = next(p for p, _, _ in results if p != pid)
            assert f"in use by pid {other}" in err
    assert all(_starts(state, ip) == 1 for ip in second), [_starts(state, ip) for ip in second]


def test_interrupt_advice_never_leads_to_a_second_start(tmp_path: Path) -> None:
    """Case 3: after SIGINT with DAGs still running, the retry files hold only hosts that are
    done for sure (here the one whose DAG failed) — never the running or the unfired ones —
    and the advice names the resume for the rest. Following all of it (the retry run, then the
    resume) sends no agent whose DAG was running a second start, and fires each unfired host once."""
    base = "127.45.2.1"
    ips = addresses(base, 10)
    stuck, failing, quick, unfired = ips[:3], ips[3], ips[4], ips[5:]
    config = {"defaults": {"dag_duration": [0.2, 0.4]},
              "agents": {**{f"{ip}:2886": {"faults": {"dag_stuck": True}} for ip in stuck},
                         f"{failing}:2886": {"faults": {"dag_fails": True}}}}
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, base, len(ips), config) as sim:
        proc = _spawn(["start", "-i", str(inventory), "--serial", "5", "--grace", "0.5", "--journal", str(journal),
                       "--poll-cap", "0.5"], tmp_path)
        wait_for(lambda: _count(journal, "finished") >= 2 and _count(journal, "answered") >= 5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        retry = tmp_path / ".fleet" / "retry" / "prod.start.retry"
        [own] = (tmp_path / ".fleet" / "runs").glob("*/retry")
        listed = retry.read_text().split()
        again = run_fleet(["start", "-i", str(inventory), "--limit", f"@{retry}", "--no-journal",
                           "--poll-cap", "0.5"], cwd=tmp_path)
        resumed = run_fleet(["start", "--resume", str(journal), "--timeout", "1", "--poll-cap", "0.5"], cwd=tmp_path)
        state = sim.state()
    assert proc.returncode == 130, err[-2000:]
    outcomes = {h["host"]: h["outcome"] for h in json.loads(out)["hosts"]}
    assert [outcomes[ip] for ip in stuck] == ["interrupted"] * 3 and outcomes[failing] == "failed"
    assert {outcomes[ip] for ip in unfired} == {"skipped"}
    assert listed == [failing] and own.read_text().split() == [failing]
    assert (f"fleet: 3 hosts may still be starting (interrupted 3) and 5 hosts were never fired: "
            f"settle with fleet start --resume {journal}") in err
    assert f"fleet: 1 hosts to retry (never fired, or definitely done): --limit @{own.relative_to(tmp_path)}" in err
    assert again.outcomes() == {failing: "failed"}
    assert resumed.outcomes() == {**{ip: "timed_out" for ip in stuck}, failing: "failed", quick: "succeeded",
                                  **{ip: "succeeded" for ip in unfired}}, resumed.stderr[-2000:]
    assert (f"fleet: 3 hosts timed out with their DAG still running: cancel the DAGs with fleet dag cancel {journal} "
            f"(or follow them longer: fleet start --resume {journal} --timeout SECONDS)") in resumed.stderr
    assert "may still be starting" not in resumed.stderr
    assert "fleet: 1 hosts to retry" in resumed.stderr  # still only the failed one
    assert [_starts(state, ip) for ip in stuck] == [1, 1, 1]
    assert [_starts(state, ip) for ip in [quick, *unfired]] == [1] * 6
    assert _starts(state, failing) == 2  # its DAG had failed: the retry is a new, deliberate start


def _batches_in_turn(state: dict[str, Any], batches: list[list[str]]) -> None:
    for before, after in itertools.pairwise(batches):
        ended = max(state["agents"][f"{ip}:2886"]["dags"][-1]["end_at"] for ip in before)
        created = min(state["agents"][f"{ip}:2886"]["dags"][-1]["created_at"] for ip in after)
        assert created > ended, (before, after)


def test_resume_replays_serial_and_policy_and_an_explicit_option_wins(tmp_path: Path) -> None:
    """Case 4: a `--serial 5 --max-fail-percentage 20` run interrupted during its first batch,
    resumed with no options, fires the rest in batches of 5, each after the last ended, and
    stops (exit 3) when the second batch's 2 of 5 failures exceed 20 %: the third batch is
    never fired. The summary shows both options came from the journal. Resuming a copy of the
    same journal with --max-fail-percentage 50 goes on through the third batch, and the
    summary lists that override."""
    base = "127.45.3.1"
    ips = addresses(base, 15)
    first, second, third = ips[:5], ips[5:10], ips[10:]
    config = {"defaults": {"dag_duration": [0.2, 0.4]},
              "agents": {**{f"{ip}:2886": {"dag_duration": [1.5, 2.0]} for ip in first},
                         **{f"{ip}:2886": {"faults": {"dag_fails": True}} for ip in second[:2]}}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    journal = tmp_path / "run.jsonl"
    copy = tmp_path / "copy.jsonl"
    args = ["--poll-cap", "0.5", "-q"]
    (tmp_path / "a").mkdir()
    with sim_fleet(tmp_path / "a", base, 15, config) as sim:
        proc = _spawn(["start", "-i", str(inventory), "--serial", "5", "--max-fail-percentage", "20",
                       "--grace", "30", "--journal", str(journal), *args], tmp_path)
        wait_for(lambda: _count(journal, "answered") >= 5)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        shutil.copyfile(journal, copy)
        replayed = run_fleet(["start", "--resume", str(journal), *args], cwd=tmp_path)
        state = sim.state()
    assert proc.returncode == 130
    assert replayed.returncode == 3, replayed.stderr[-2000:]
    summary = replayed.summary
    assert summary is not None
    assert summary["options"]["serial"] == {"value": ["5"], "source": "journal"}
    assert summary["options"]["max_fail_percentage"] == {"value": 20.0, "source": "journal"}
    assert summary["resume"] == {"journal": str(journal), "overrides": {}}
    assert [_starts(state, ip) for ip in ips] == [1] * 10 + [0] * 5
    assert {h["outcome"] for h in summary["hosts"] if h["host"] in third} == {"skipped"}
    _batches_in_turn(state, [first, second])

    (tmp_path / "b").mkdir()
    with sim_fleet(tmp_path / "b", base, 15, config) as sim:
        overridden = run_fleet(["start", "--resume", str(copy), "--max-fail-percentage", "50", *args], cwd=tmp_path)
        state = sim.state()
    assert overridden.returncode == 2, overridden.stderr[-2000:]
    summary = overridden.summary
    assert summary is not None
    assert summary["options"]["max_fail_percentage"] == {"value": 50.0, "source": "command line"}
    assert summary["options"]["serial"] == {"value": ["5"], "source": "journal"}
    assert summary["resume"]["overrides"] == {"max_fail_percentage": {"journal": 20.0, "value": 50.0}}
    assert [_starts(state, ip) for ip in ips] == [0] * 5 + [1] * 10
    _batches_in_turn(state, [second, third])
