"""Run fleet's simulator and fleet itself as real processes, for end-to-end tests.

Everything listens on 127.0.0.0/8 only. Each test picks its own base address so tests can
run in parallel.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SIM_PASSWORD = "fleet-sim-password"


def addresses(base_ip: str, count: int) -> list[str]:
    first = ipaddress.IPv4Address(base_ip)
    assert first in ipaddress.IPv4Network("127.0.0.0/8")
    return [str(first + i) for i in range(count)]


@dataclass
class SimFleet:
    addresses: list[str]
    port: int
    state_file: Path
    process: subprocess.Popen[str]

    def state(self) -> dict[str, Any]:
        """Ask the running simulator to write its state (SIGUSR1) and read it."""
        before = self.state_file.stat().st_mtime_ns if self.state_file.exists() else 0
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.state_file.exists() and self.state_file.stat().st_mtime_ns != before:
                try:
                    state: dict[str, Any] = json.loads(self.state_file.read_text())
                    return state
                except ValueError:
                    pass
            time.sleep(0.05)
        raise AssertionError("simulator did not write its state file")


@contextmanager
def sim_fleet(tmp: Path, base_ip: str, count: int, config: dict[str, Any] | None = None,
              port: int = 2886) -> Iterator[SimFleet]:
    """Serve ``count`` simulated agents from ``base_ip`` in a subprocess until the block ends."""
    cfg_path = tmp / "sim.yaml"
    cfg_path.write_text(yaml.safe_dump(config or {}))
    state = tmp / "sim-state.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.simulator", "--agents", str(count), "--base-ip", base_ip,
         "--port", str(port), "--config", str(cfg_path), "--state-file", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            proc.kill()
            raise AssertionError(f"simulator did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
        yield SimFleet(addresses(base_ip, count), port, state, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def write_inventory(path: Path, hosts: Sequence[str], port: int = 2886, **all_vars: Any) -> Path:
    doc = {"all": {"vars": {"obshell_port": port, **all_vars}, "hosts": {h: None for h in hosts}}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class FleetRun:
    returncode: int
    stdout: str
    stderr: str
    summary: dict[str, Any] | None

    def outcomes(self) -> dict[str, str]:
        assert self.summary is not None, self.stderr[-2000:]
        return {h["host"]: h["outcome"] for h in self.summary["hosts"]}


def fleet_env(password: str | None = SIM_PASSWORD, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "CI_NODE_", "JOB_COMPLETION"))}
    env.pop("OBSHELL_AGENT_PASSWORD", None)
    if password is not None:
        env["OBSHELL_AGENT_PASSWORD"] = password
    env.update(extra)
    return env


def run_fleet(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
              timeout: float = 300) -> FleetRun:
    """``fleet ARGS`` as a subprocess (no TTY); the summary is parsed from stdout when it is JSON."""
    proc = subprocess.run([sys.executable, "-m", "fleet", *args], cwd=cwd, env=env or fleet_env(),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    summary = None
    if proc.stdout.strip().startswith("{"):
        summary = json.loads(proc.stdout)
    return FleetRun(proc.returncode, proc.stdout, proc.stderr, summary)


def wait_for(predicate: Callable[[], bool], timeout: float = 60) -> None:
    """Return once ``predicate()`` holds (checked every 20 ms); AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")
