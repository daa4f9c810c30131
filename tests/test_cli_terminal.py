"""Reading a run on a 100-column terminal (issue 22, item 4): fleet runs with stdout and stderr on
a real pseudo-terminal of 100 columns, against simulated agents on loopback."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Sequence
from pathlib import Path

from fleet.cli.status import status_table
from fleet.report.hostview import host_record
from fleet.report.recap import recap
from tests.harness import addresses, fleet_env, read_terminal, sim_fleet, write_inventory

COLUMNS = 100
FAST = ["--poll-cap", "0.3", "--request-timeout", "3"]
_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def on_terminal(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
                timeout: float = 90) -> tuple[int, str]:
    """``fleet ARGS`` with stdin, stdout and stderr on one pseudo-terminal of COLUMNS x 40; the exit
    code and the lines shown, the progress line's redraws resolved (the text after the last \\r)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    run_env = {k: v for k, v in (env or fleet_env()).items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "fleet", *args], cwd=cwd, env={**run_env, "NO_COLOR": "1"},
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        shown = read_terminal(master, proc, timeout) or b""
        code = proc.wait(timeout=10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = _ESCAPES.sub("", shown.decode("utf-8", "replace")).replace("\r\n", "\n")
    return code, "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n")).strip("\n")


def _too_wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > COLUMNS]


def test_a_run_reads_well_on_a_100_column_terminal(tmp_path: Path) -> None:
    """A start with an answer lost, a failed DAG and a stuck one: its log lines read like the host
    lines (no "[warning]" column, no "dag=None"); then `fleet runs`, `fleet status` and `fleet show`
    fit 100 columns, status shows no end for the DAG still RUNNING, and `fleet show` prints the
    failed sub-task's log, every line of it with --host."""
    base = "127.64.0.1"
    ips = addresses(base, 5)
    ok, lost, failing, stuck = ips[0], ips[1], ips[2], ips[3]
    config = {"defaults": {"dag_duration": [0.2, 0.4]},
              "agents": {f"{lost}:2886": {"faults": {"drop_after_start": True}},
                         f"{failing}:2886": {"faults": {"dag_fails": True}},
                         f"{stuck}:2886": {"faults": {"dag_stuck": True}}}}
    inventory = write_inventory(tmp_path / "a-rather-long-inventory-name-for-the-runs-table.yaml", ips)
    with sim_fleet(tmp_path, base, len(ips), config):
        code, started = on_terminal(["start", "-i", str(inventory), "--timeout", "2", "--limit",
                                     ",".join(ips), *FAST], tmp_path)
        _, runs = on_terminal(["runs"], tmp_path)
        _, status = on_terminal(["status"], tmp_path)
        _, shown = on_terminal(["show"], tmp_path)
        _, one = on_terminal(["show", "--host", failing], tmp_path)
    assert code == 2, started
    assert f"ok: [{ok}]" in started and f"failed: [{failing}]" in started
    assert f"warning: [{lost}] fire.answer_lost" in started, started
    assert "[warning" not in started and "dag=None" not in started
    for table in (runs, status, shown, one):
        assert not _too_wide(table), table
    assert "unreachable" not in runs and "ok=3" in runs and "timed_out=1" in runs, runs
    [stuck_row] = [line for line in status.splitlines() if line.startswith(stuck)]
    assert "RUNNING" in stuck_row and re.search(r"\d\d:\d\d:\d\d\s+-", stuck_row), status
    # obshell's failure entry, wrapped to the terminal: read it with the wrapping undone
    assert "failed task logs" in shown and "failed to start obproxy, output: obproxy exited with code 1" in " ".join(
        shown.split())
    assert one.splitlines()[1].startswith(f"host       {failing}:2886")
    assert "outcome    failed" in one and "failed to start obproxy" in " ".join(one.split())


def test_quiet_prints_nothing_after_a_clean_run(tmp_path: Path) -> None:
    """`fleet start -q` on a terminal, every host succeeding: nothing at all on the terminal."""
    base = "127.64.1.1"
    ips = addresses(base, 3)
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    with sim_fleet(tmp_path, base, len(ips), {"defaults": {"dag_duration": [0.2, 0.3]}}):
        code, text = on_terminal(["start", "-i", str(inventory), "-q", *FAST], tmp_path)
    assert code == 0 and text == ""


def test_a_running_dag_shows_no_end_and_times_on_one_day_show_the_time() -> None:
    """obshell reports a running DAG's start as its end: the status table shows '-' until it
    finishes; times all on one UTC day are shown as times under a line naming the day."""
    rows = [{"host": "h1", "port": 2886, "outcome": "timed_out", "dag": "4000", "state": "RUNNING",
             "operator": "RUN", "stage": 1, "max_stage": 2, "fired_at": 1_795_000_000.0,
             "end_time": "2026-11-18T11:06:40+00:00", "error": None},
            {"host": "h2", "port": 2886, "outcome": "succeeded", "dag": "4001", "state": "SUCCEED",
             "operator": "RUN", "stage": 2, "max_stage": 2, "fired_at": 1_795_000_000.0,
             "end_time": "2026-11-18T11:06:49+00:00", "error": None}]
    lines = status_table(rows, 100)
    assert lines[0] == "times are UTC, on 2026-11-18"
    assert lines[2].split()[6:] == ["11:06:40", "-"]
    assert lines[3].split()[6:] == ["11:06:40", "11:06:49"]
    assert status_table(rows)[1].split()[6:] == ["2026-11-18", "11:06:40", "-"]


def test_the_recap_fits_the_width_with_every_outcome_and_a_long_group() -> None:
    """Per-group counts wrap under their group (a name too long for the line gets its counts below
    it), never cut inside a count; with the failure table, every line fits 100 and 60 columns."""
    outcomes = ["succeeded", "failed", "timed_out", "unreachable", "auth_failed", "rejected", "precheck_failed",
                "protocol_error", "ambiguous", "interrupted", "skipped"]
    groups = ["hz", "a-rather-long-group-name-for-the-hangzhou-cluster-number-one"]
    doc = {"operation": "obproxy.start", "duration_ms": 1000,
           "hosts": [{"host": f"{g[:2]}-{o}", "port": 2886, "groups": [g], "outcome": o, "trace_ids": [],
                      "error": None} for g in groups for o in outcomes]}
    for width in (100, 60):
        text = recap(doc, width)
        assert all(len(line) <= width for line in text.splitlines()), text
        counts = " ".join(text.split())
        assert all(f"{'ok' if o == 'succeeded' else o}=1" in counts for o in outcomes)


def test_one_hosts_record_shows_no_end_for_a_running_dag() -> None:
    """fleet show --host: a DAG still RUNNING has no end (obshell shows its start there), a finished
    one has its end; every task-log line is shown, wrapped to the width."""
    dag = {"id": "4000", "state": "RUNNING", "stage": 1, "max_stage": 2, "operator": "RUN",
           "start_time": "2026-11-27T21:10:13+08:00", "end_time": "2026-11-27T21:10:13+08:00"}
    host = {"host": "h1", "port": 2886, "groups": ["hz"], "outcome": "timed_out", "dag": dag, "trace_ids": ["t1"],
            "error": None, "failed_tasks": [{"node": "n", "task": "t", "execute_agent": None,
                                             "task_logs": [f"line {i} " + "x" * 150 for i in range(8)]}]}
    lines = host_record(host, 100)
    assert "dag times  2026-11-27T21:10:13+08:00 → (not ended)" in lines
    assert all(len(line) <= 100 for line in lines) and sum("line " in line for line in lines) == 8
    finished = host_record({**host, "dag": {**dag, "state": "SUCCEED", "end_time": "2026-11-27T21:11:00+08:00"}})
    assert "dag times  2026-11-27T21:10:13+08:00 → 2026-11-27T21:11:00+08:00" in finished
