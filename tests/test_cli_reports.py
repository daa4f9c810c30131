"""End to end: what a run reports — JUnit for CI, the live progress line on a TTY, the failure
table, and the exit codes the README documents. fleet and the simulator run as processes."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.harness import addresses, fleet_env, read_terminal, run_fleet, sim_fleet

BASE = "127.42.20.1"
FAST = ["--poll-cap", "0.5", "--timeout", "3", "--request-timeout", "3", "--no-journal"]


@dataclass
class PtyRun:
    returncode: int
    terminal: str  # everything fleet wrote to the terminal (stderr, plus echoed input)


def run_in_pty(args: Sequence[str], cwd: Path, env: dict[str, str], *, answers: Sequence[str] = (),
               prompt: str = "? [y/N] ", stdin_tty: bool = True, timeout: float = 60) -> PtyRun:
    """``fleet ARGS`` with stderr (and stdin, unless ``stdin_tty`` is false) on a pseudo-terminal.

    Each time ``prompt`` appears on the terminal, the next of ``answers`` is typed. stdout is
    discarded: pass ``-o FILE`` to keep the summary.
    """
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "fleet", *args], cwd=cwd, env={**env, "COLUMNS": "220"},
                            stdin=slave if stdin_tty else subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave)
    os.close(slave)
    pending = list(answers)
    answered = 0

    def answer(shown: bytes) -> None:
        nonlocal answered
        seen = shown.decode("utf-8", "replace").count(prompt)
        while pending and answered < seen:
            os.write(master, (pending.pop(0) + "\n").encode())
            answered += 1

    try:
        shown = read_terminal(master, proc, timeout, answer)
        if shown is None:
            proc.kill()
            raise AssertionError("fleet did not finish in time")
        return PtyRun(proc.wait(timeout=10), shown.decode("utf-8", "replace"))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def grouped_inventory(path: Path, groups: dict[str, list[str]], port: int = 2886) -> Path:
    """An inventory whose hosts sit in the named child groups, in that order."""
    doc = {"all": {"vars": {"obshell_port": port},
                   "children": {name: {"hosts": {h: None for h in hosts}} for name, hosts in groups.items()}}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_junit_one_testcase_per_host_with_failures_and_trace_ids(tmp_path: Path) -> None:
    """--junit writes one testsuite with one testcase per host (name host:port, classname its
    first group); failed hosts carry a <failure> with errCode/message and the task logs, refused
    credentials an <error>; every testcase's system-out lists the traceIds the summary reports."""
    ips = addresses(BASE, 6)
    inventory = grouped_inventory(tmp_path / "inv.yaml", {"hz": ips[:3], "sh": ips[3:]})
    config = {"seed": 1, "defaults": {"dag_duration": [0.2, 0.6]},
              "agents": {ips[1]: {"faults": {"dag_fails": True}}, ips[4]: {"password": "rotated"}}}
    junit = tmp_path / "report.xml"
    with sim_fleet(tmp_path, BASE, 6, config):
        run = run_fleet(["start", "-i", str(inventory), "--junit", str(junit), *FAST], cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    root = ET.parse(junit).getroot()
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "1", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {f"{ip}:2886" for ip in ips}
    assert {name: case.get("classname") for name, case in cases.items()} == {
        f"{ip}:2886": ("hz" if ip in ips[:3] else "sh") for ip in ips}

    failed = cases[f"{ips[1]}:2886"].find("failure")
    assert failed is not None and failed.get("type") == "failed"
    assert run.summary is not None
    host = next(h for h in run.summary["hosts"] if h["host"] == ips[1])
    for line in host["failed_tasks"][0]["task_logs"]:
        assert line in (failed.text or "")
    refused = cases[f"{ips[4]}:2886"].find("error")
    assert refused is not None
    assert refused.get("message", "").startswith("Security.Authentication.IncorrectAgentPassword: ")
    for name, case in cases.items():
        host = next(h for h in run.summary["hosts"] if f"{h['host']}:{h['port']}" == name)
        out = case.findtext("system-out") or ""
        assert host["trace_ids"] and all(trace in out for trace in host["trace_ids"]), name
        if host["outcome"] == "succeeded":
            assert case.find("failure") is None and case.find("error") is None


def test_exit_codes_and_failure_table(tmp_path: Path) -> None:
    """Exit 0 when every host succeeded (stderr then says so), 2 when some did not, with a
    recap on stderr: counts per group, then each failed host under its outcome, errCode and last log line."""
    base = "127.42.21.1"
    ips = addresses(base, 4)
    inventory = grouped_inventory(tmp_path / "inv.yaml", {"hz": ips})
    config = {"defaults": {"dag_duration": [0.2, 0.6]},
              "agents": {ips[2]: {"faults": {"dag_fails": True}}, ips[3]: {"password": "rotated"}}}
    with sim_fleet(tmp_path, base, 4, config):
        ok = run_fleet(["start", "-i", str(inventory), "--limit", f"{ips[0]},{ips[1]}", *FAST], cwd=tmp_path)
        bad = run_fleet(["start", "-i", str(inventory), *FAST], cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "all 2 hosts succeeded" in ok.stderr
    assert bad.returncode == 2
    lines = bad.stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("failed [1 host]"))
    # obshell's whole failure entry, wrapped (its last line alone would read ": exit status 1")
    assert "failed to start obproxy" in lines[first]
    assert "exit status 1" in lines[first + 1] and lines[first + 2].startswith(f"    {ips[2]}:2886 trace ")
    auth = next(i for i, line in enumerate(lines) if line.startswith("auth_failed [1 host]"))
    assert "Security.Authentication.IncorrectAgentPassword" in lines[auth]
    assert any(line.startswith(f"    {ips[3]}:2886") for line in lines[auth + 1 : auth + 3])
    assert "RECAP obproxy.start: 4 hosts" in bad.stderr and "hz" in bad.stderr and "ok=2" in bad.stderr
    assert "2 of 4 hosts did not succeed (failed 1, auth_failed 1); 2 succeeded" in bad.stderr


def test_progress_redrawn_in_place_on_a_tty_only(tmp_path: Path) -> None:
    """With stderr on a terminal the progress line ('obproxy.start 10/10 …') is drawn and
    redrawn in place with carriage returns, with one 'ok: [host]' line per finished host above it
    and a recap at the end; --quiet, or stderr not a terminal, draws none of it."""
    base = "127.42.22.1"
    ips = addresses(base, 10)
    inventory = grouped_inventory(tmp_path / "inv.yaml", {"hz": ips})
    env = fleet_env()
    with sim_fleet(tmp_path, base, 10, {"defaults": {"dag_duration": [0.4, 1.2]}}):
        tty = run_in_pty(["start", "-i", str(inventory), "--serial", "5", "-o", "s1.json", *FAST],
                         tmp_path, env, stdin_tty=False)
        quiet = run_in_pty(["start", "-i", str(inventory), "--quiet", "-o", "s2.json", *FAST],
                           tmp_path, env, stdin_tty=False)
        piped = run_fleet(["start", "-i", str(inventory), "-o", "s3.json", *FAST], cwd=tmp_path)
    assert tty.returncode == 0, tty.terminal[-2000:]
    redraws = [part for part in tty.terminal.split("\r") if part.startswith("obproxy.start ")]
    assert len(redraws) >= 3, tty.terminal[-2000:]
    assert any("hosts/s" in part for part in redraws)
    assert any(part.startswith("obproxy.start 10/10") for part in redraws)
    assert "\x1b[K" in tty.terminal  # each redraw clears the rest of the old line
    assert "all 10 hosts succeeded" in tty.terminal
    assert tty.terminal.count("ok:\x1b[0m [") == 10  # one live line per host, above the status line
    assert "RECAP obproxy.start: 10 hosts" in tty.terminal and "hz : ok=10" in tty.terminal

    assert quiet.returncode == 0
    assert "hosts/s" not in quiet.terminal and "obproxy.start 0/" not in quiet.terminal
    assert piped.returncode == 0
    assert "\r" not in piped.stderr and "hosts/s" not in piped.stderr


def test_outputs_are_checked_first_and_special_files_written_in_place(tmp_path: Path) -> None:
    """--output/--junit/--retry-file/--journal that cannot be written are refused before
    anything is sent (exit 5, one line); a missing directory is created; an existing special
    file (a FIFO here, /dev/null in practice) is written in place, never replaced by a file."""
    import json
    import threading

    inventory = grouped_inventory(tmp_path / "inv.yaml", {"hz": addresses("127.42.29.1", 2)})
    empty = ["start", "-i", str(inventory), "--shard", "3/3", "-q"]  # an empty shard: no agent needed
    env = fleet_env(password=None)
    (tmp_path / "adir").mkdir()
    for flag in ("-o", "--junit", "--retry-file", "--journal"):
        run = run_fleet([*empty, flag, "adir"], cwd=tmp_path, env=env)
        assert run.returncode == 5, (flag, run.stderr)
        assert run.stderr.strip().endswith("adir: is a directory") and "Traceback" not in run.stderr

    created = run_fleet([*empty, "--no-journal", "-o", "new/dir/s.json", "--junit", "new/j.xml"], cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    assert json.loads((tmp_path / "new/dir/s.json").read_text())["totals"]["hosts"] == 0
    assert (tmp_path / "new/j.xml").exists()

    fifo = tmp_path / "summary.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    piped = run_fleet([*empty, "--no-journal", "-o", str(fifo)], cwd=tmp_path, env=env)
    reader.join(timeout=30)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(received[0])["shard"] == "3/3"
    assert fifo.is_fifo()
