"""The agent password never leaks: not in output, logs, summary, journal, reports or argv."""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, write_inventory

CANARY = "Canary-Pa55word-7f3e9b"


def test_canary_password_appears_nowhere(tmp_path: Path) -> None:
    """A faulty fleet run at debug level with a canary password: the canary is in none of
    stdout, stderr, the summary, the journal, the JUnit report or the retry file."""
    base = "127.45.0.1"
    ips = addresses(base, 24)
    faults = [
        {"password": "other"}, {"faults": {"garbage": True}}, {"faults": {"dag_fails": True}},
        {"faults": {"key_rotation": {"after_requests": 1}}}, {"faults": {"truncated": ["start"]}},
        {"faults": {"http500": ["start"]}}, {"clock_skew": 900}, {"faults": {"refuse": True}},
    ]
    agents = {f"{ip}:2886": faults[i % len(faults)] for i, ip in enumerate(ips)}
    config = {"defaults": {"password": CANARY, "dag_duration": [0.2, 0.5]}, "agents": agents}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    out = tmp_path / "out"
    out.mkdir()
    with sim_fleet(tmp_path, base, len(ips), config):
        run = run_fleet(["start", "-i", str(inventory), "--log-level", "debug", "--request-timeout", "2",
                         "--journal", str(out / "j.jsonl"), "--junit", str(out / "junit.xml"),
                         "--output", str(out / "summary.json"), "--retry-file", str(out / "retry")],
                        cwd=tmp_path, env=fleet_env(password=CANARY))
        check = run_fleet(["check", "-i", str(inventory), "--log-level", "debug",
                           "--output", str(out / "check.json"), "--junit", str(out / "check.xml")],
                          cwd=tmp_path, env=fleet_env(password=CANARY))
    assert run.returncode == 2 and check.returncode == 2, run.stderr[-2000:]
    assert "debug" in run.stderr or "info" in run.stderr
    for name, text in [("stdout", run.stdout), ("stderr", run.stderr), ("check stderr", check.stderr)]:
        assert CANARY not in text, name
    for path in out.iterdir():
        assert CANARY.encode() not in path.read_bytes(), path.name
    assert (out / "j.jsonl").stat().st_mode & 0o077 == 0


def test_password_is_refused_on_the_command_line(tmp_path: Path) -> None:
    """There is no option that takes a password: trying one is a usage error."""
    run = run_fleet(["start", "-i", "x.yaml", "--password", CANARY], cwd=tmp_path)
    assert run.returncode != 0 and "unrecognized arguments" in run.stderr


def test_password_file_with_loose_permissions_is_refused(tmp_path: Path) -> None:
    """A password file readable by others is refused before anything is sent (exit 5)."""
    secret = tmp_path / "pw"
    secret.write_text(CANARY + "\n")
    os.chmod(secret, 0o644)
    inventory = write_inventory(tmp_path / "inv.yaml", ["127.45.1.1"], obshell_password_file=str(secret))
    run = run_fleet(["start", "-i", str(inventory)], cwd=tmp_path, env=fleet_env(password=None))
    assert run.returncode == 5
    assert "chmod 600" in run.stderr and CANARY not in run.stderr
    assert "Traceback" not in run.stderr
