"""Every run keeps its record; on a terminal the recap replaces the JSON; past runs read back offline."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, write_inventory


def _in_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """``fleet ARGS`` with stdin, stdout and stderr on a pseudo-terminal, as a person runs it."""
    leader, follower = pty.openpty()
    env = fleet_env(COLUMNS="100", LINES="40", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "fleet", *args], cwd=cwd, env=env,
                            stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    return proc.wait(timeout=60), re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # colours and line erases


def test_a_terminal_run_shows_the_recap_and_keeps_the_record_for_later(tmp_path: Path) -> None:
    """In a terminal, `fleet start` prints host lines and the recap but no JSON, and names the run
    folder holding journal, summary.json, retry and report.html; with the agents gone, `fleet runs`
    lists the run with its counts, `fleet show` prints its recap and failures, and `fleet status`
    lists every host (also one that never got a DAG) under a header, without Go's zero time."""
    base = "127.81.0.1"
    ips = addresses(base, 4)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    config = {"defaults": {"dag_duration": [0.1, 0.3]},
              "agents": {ips[1]: {"faults": {"dag_fails": True}}, ips[2]: {"password": "rotated"}}}
    with sim_fleet(tmp_path, base, 4, config):
        code, screen = _in_a_terminal(["start", "-i", str(inventory), "--poll-cap", "0.5"], tmp_path)
    assert code == 2, screen
    assert '"schema"' not in screen and "RECAP obproxy.start: 4 hosts" in screen
    assert f"failed: [{ips[1]}]" in screen and f"auth_failed: [{ips[2]}]" in screen
    folders = list((tmp_path / ".fleet" / "runs").iterdir())
    assert len(folders) == 1 and f"fleet: run .fleet/runs/{folders[0].name}" in screen
    assert {p.name for p in folders[0].iterdir()} == {"journal.jsonl", "summary.json", "retry", "report.html"}

    runs = run_fleet(["runs"], cwd=tmp_path)
    assert runs.returncode == 0 and runs.stdout.splitlines()[0].split()[:3] == ["STARTED", "(UTC)", "RUN"]
    assert folders[0].name in runs.stdout and "ok=2  failed=1  auth_failed=1" in runs.stdout
    show = run_fleet(["show"], cwd=tmp_path)
    assert show.returncode == 0 and "RECAP obproxy.start: 4 hosts" in show.stdout
    assert "failed to start obproxy" in show.stdout and "Security.Authentication.IncorrectAgentPassword" in show.stdout
    code, status = _in_a_terminal(["status"], tmp_path)
    lines = [line.strip() for line in status.splitlines()]
    header = next(i for i, line in enumerate(lines) if line.startswith("HOST"))
    assert lines[header].split()[:4] == ["HOST", "OUTCOME", "DAG", "STATE"], status
    assert all(len(line) <= 100 for line in status.splitlines()), status
    rows = {line.split()[0]: line.split()[1:4] for line in lines[header + 1:] if line.startswith("127.")}
    assert rows[ips[2]] == ["auth_failed", "-", "-"] and rows[ips[1]][0] == "failed" and len(rows) == 4
    assert "0001-01-01" not in status and '"schema"' not in status

    (folders[0] / "summary.json").unlink()  # a run killed before its summary: read from the journal
    again = run_fleet(["show", folders[0].name], cwd=tmp_path)
    assert again.returncode == 0 and "read from the journal" in again.stdout and "4 hosts" in again.stdout
