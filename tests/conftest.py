"""Shared fixtures: a simulated obshell fleet, in-process or as a subprocess.

In-process (async tests)::

    async def test_x(sim_factory):
        sim = await sim_factory({"defaults": {"dag_duration": [0.2, 0.4]}}, agents=3)
        sim.addresses                     # ["127.a.b.c:2886", ...]
        sim.state()["agents"][addr]       # the state file's document, live
        sim.agent(addr)                   # the SimAgent (settings, dags, counters)

Subprocess (``python -m fleet.simulator``; sync or async tests)::

    def test_y(sim_process):
        proc = sim_process({"defaults": {...}}, agents=10)   # waits for READY
        proc.addresses, proc.state_file
        proc.state()          # SIGUSR1, then the freshly written state file
        proc.terminate()      # SIGTERM → exit code; then proc.final_state()

Each test gets its own block of loopback addresses, chosen at run time and checked free
(:func:`tests.harness.free_block`), so tests, xdist workers and other processes on the machine
never collide. Configs are dicts (written to YAML for the subprocess) or YAML text.
"""

from __future__ import annotations

import ipaddress
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from fleet.simulator.config import config_from_dict, parse_config
from fleet.simulator.server import Simulator
from fleet.simulator.state import read_state
from tests.harness import free_block, relocate, relocate_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fleet_home_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's runs stay in its own tmp_path: ``tmp_path/.fleet`` exists (fleet's home when a
    test runs fleet there), and the platform's state directory is one inside tmp_path, never the
    user's (``XDG_STATE_HOME``, passed on to every fleet process the test starts)."""
    (tmp_path / ".fleet").mkdir(exist_ok=True)
    monkeypatch.delenv("FLEET_HOME", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
SIM_PORT = 2886
def allocate_base_ip(agents: int) -> str:
    """A fresh loopback block for ``agents`` addresses, chosen at run time and free (see tests/harness.py)."""
    return free_block(agents, SIM_PORT)


def _as_config_text(config: dict[str, Any] | str | None) -> str:
    if config is None:
        return ""
    return config if isinstance(config, str) else yaml.safe_dump(relocate_config(config))


SimFactory = Callable[..., Awaitable[Simulator]]


@pytest_asyncio.fixture
async def sim_factory() -> AsyncIterator[SimFactory]:
    """An async factory starting in-process simulators (stopped at teardown)."""
    started: list[Simulator] = []

    async def start(config: dict[str, Any] | str | None = None, *, agents: int = 1, seed: int = 0,
                    port: int = SIM_PORT) -> Simulator:
        parsed = config_from_dict(config or {}) if not isinstance(config, str) else parse_config(config)
        sim = Simulator(parsed, agents=agents, base_ip=allocate_base_ip(agents), port=port, seed=seed)
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()


class SimProcess:
    """A ``python -m fleet.simulator`` subprocess that printed ``READY``."""

    def __init__(self, proc: subprocess.Popen[str], addresses: list[str], state_file: Path, ready_after: float):
        self.proc = proc
        self.addresses = addresses
        self.state_file = state_file
        self.ready_after = ready_after

    def state(self, timeout: float = 10.0) -> dict[str, Any]:
        """Ask for a fresh state file (SIGUSR1) and return it once written."""
        before = self.state_file.stat().st_mtime_ns if self.state_file.exists() else -1
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state_file.exists() and self.state_file.stat().st_mtime_ns != before:
                return read_state(str(self.state_file))
            time.sleep(0.02)
        raise TimeoutError("the simulator did not rewrite its state file")

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait, return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def final_state(self) -> dict[str, Any]:
        return read_state(str(self.state_file))


def launch_simulator(tmp_path: Path, config: dict[str, Any] | str | None = None, *, agents: int = 1,
                     seed: int = 0, extra_args: tuple[str, ...] = (), base_ip: str | None = None,
                     ready_timeout: float = 60.0) -> SimProcess:
    """Start ``python -m fleet.simulator`` and wait for ``READY <N>``."""
    base_ip = relocate(base_ip, agents) if base_ip else allocate_base_ip(agents)
    cmd = [sys.executable, "-m", "fleet.simulator", "--agents", str(agents), "--base-ip", base_ip,
           "--port", str(SIM_PORT), "--seed", str(seed)]
    config_text = _as_config_text(config)
    if config_text:
        cfg = tmp_path / f"sim-{base_ip}.yaml"
        cfg.write_text(config_text)
        cmd += ["--config", str(cfg)]
    state_file = tmp_path / f"sim-state-{base_ip}.json"
    cmd += ["--state-file", str(state_file), *extra_args]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = time.monotonic()
    stderr_path = tmp_path / f"sim-stderr-{base_ip}.txt"
    with open(stderr_path, "w") as stderr:  # a file, not a pipe: a chatty child can never block
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=REPO)
    assert proc.stdout is not None  # stdout=PIPE
    ready, _, _ = select.select([proc.stdout], [], [], ready_timeout)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != f"READY {agents}":
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise RuntimeError(f"simulator did not become ready: {line!r} {stderr_path.read_text().strip()[-500:]}")
    first = int(ipaddress.IPv4Address(base_ip))
    addresses = [f"{ipaddress.IPv4Address(first + i)}:{SIM_PORT}" for i in range(agents)]
    return SimProcess(proc, addresses, state_file, time.monotonic() - started)


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[Callable[..., SimProcess]]:
    """A factory starting simulator subprocesses (killed at teardown if still running)."""
    procs: list[SimProcess] = []

    def start(config: dict[str, Any] | str | None = None, **kwargs: Any) -> SimProcess:
        proc = launch_simulator(tmp_path, config, **kwargs)
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        if p.proc.poll() is None:
            p.proc.kill()
        p.proc.wait()
        if p.proc.stdout:
            p.proc.stdout.close()
