"""Run fleet's simulator and fleet itself as real processes, for end-to-end tests.

Everything listens on 127.0.0.0/8 only. Loopback addresses are chosen at run time, so the suite
never collides with another process on the machine (a simulator left running, another test
session): :func:`free_block` hands out a region nobody listens on, chosen at random per process
and checked by binding; :func:`relocate` maps a fixed base address a test names
(``addresses("127.45.2.1", 10)``, ``sim_fleet(tmp, "127.45.2.1", 10)``) to such a region, the same
one for the same base within the process, so a test written with fixed addresses gets fresh ones
through these helpers without a change. ``127.0.0.x`` is left as it is (``localhost``).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SIM_PASSWORD = "fleet-sim-password"
SIM_PORT = 2886
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
#: left as written: 127.0.0.1 is what ``localhost`` names
_KEPT = ipaddress.IPv4Network("127.0.0.0/24")
#: second octets of the regions handed out (fixed addresses written in tests stay below 100)
_OCTETS = range(100, 254)
#: /24 blocks per region: 1,024 addresses, enough for any base a test names and the hosts after it
_REGION_BLOCKS = 4


class LoopbackAllocator:
    """Regions of 127.0.0.0/8 chosen at run time: random per process, never twice in one process,
    and each address of a region free on the simulator's port when handed out (a bind succeeds)."""

    def __init__(self, seed: bytes | None = None) -> None:
        self._rng = random.Random(seed if seed is not None else os.urandom(16))
        self._lock = threading.Lock()
        self._taken: set[int] = set()  # first address (as an int) of each /24 handed out
        self._nominal: dict[int, int] = {}  # a fixed base's /24 → its region's first /24

    def free_block(self, count: int, port: int = SIM_PORT) -> str:
        """The first address (``127.a.b.1``) of a fresh region with room for ``count`` addresses."""
        with self._lock:
            return str(ipaddress.IPv4Address(self._allocate(count + 1, port) + 1))

    def relocate(self, address: str, count: int = 1, port: int = SIM_PORT) -> str:
        """``address`` moved into a region chosen at run time (the same region for the same /24),
        keeping its last octet; an address already handed out, or in 127.0.0.0/24, is kept."""
        ip = ipaddress.IPv4Address(address)
        assert ip in LOOPBACK, f"{address}: tests use loopback addresses only"
        block = int(ip) & ~0xFF
        with self._lock:
            if ip in _KEPT or block in self._taken:
                return address
            if block not in self._nominal:
                self._nominal[block] = self._allocate(max(_REGION_BLOCKS * 256, (int(ip) & 0xFF) + count), port)
            return str(ipaddress.IPv4Address(self._nominal[block] + (int(ip) & 0xFF)))

    def _allocate(self, size: int, port: int) -> int:
        blocks = -(-size // 256)
        for _ in range(1000):
            second = self._rng.choice(_OCTETS)
            third = self._rng.randrange(0, 256 - blocks + 1)
            first = int(ipaddress.IPv4Address(f"127.{second}.{third}.0"))
            region = [first + 256 * i for i in range(blocks)]
            if any(b in self._taken for b in region) or not _all_free(first + 1, blocks * 256 - 2, port):
                continue
            self._taken.update(region)
            return first
        raise AssertionError("no free loopback region found")


def _all_free(first: int, count: int, port: int) -> bool:
    """Nothing listens on ``port`` at any of ``count`` addresses from ``first``: each binds."""
    for value in range(first, first + count):
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
            try:
                probe.bind((str(ipaddress.IPv4Address(value)), port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
                raise
    return True


#: the process's allocator: every helper below goes through it
ALLOCATOR = LoopbackAllocator()


def free_block(count: int, port: int = SIM_PORT) -> str:
    """The first of ``count`` consecutive loopback addresses chosen at run time, free on ``port``."""
    return ALLOCATOR.free_block(count, port)


def relocate(address: str, count: int = 1, port: int = SIM_PORT) -> str:
    """A fixed loopback address as this run's (see the module docstring)."""
    return ALLOCATOR.relocate(address, count, port)


_IPV4 = re.compile(r"\b127\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


def relocate_config(config: dict[str, Any]) -> dict[str, Any]:
    """A simulator config whose ``agents`` keys (``ip``, ``ip:port``, ``ip-ip``) name fixed addresses,
    with each address as this run places it (:func:`relocate`)."""
    agents = config.get("agents")
    if not isinstance(agents, dict):
        return config
    moved = {_IPV4.sub(lambda m: relocate(m.group(0)), str(key)): value for key, value in agents.items()}
    return {**config, "agents": moved}


def addresses(base_ip: str, count: int) -> list[str]:
    """``count`` consecutive addresses from ``base_ip`` as this run places it (:func:`relocate`)."""
    first = ipaddress.IPv4Address(relocate(base_ip, count))
    assert first in LOOPBACK
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
    """Serve ``count`` simulated agents from ``base_ip`` (as this run places it: :func:`relocate`)
    in a subprocess until the block ends."""
    base_ip = relocate(base_ip, count, port)
    cfg_path = tmp / "sim.yaml"
    cfg_path.write_text(yaml.safe_dump(relocate_config(config or {})))
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


def read_terminal(master: int, proc: subprocess.Popen[bytes], timeout: float,
                  on_output: Callable[[bytes], None] | None = None) -> bytes | None:
    """Everything written to the pseudo-terminal ``master`` until ``proc`` exits and the terminal
    is closed, or None when ``timeout`` seconds pass first. ``on_output`` sees all that came so
    far after each read (to type answers at prompts)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal has exited
                return b"".join(chunks)
            if not data:
                return b"".join(chunks)
            chunks.append(data)
            if on_output is not None:
                on_output(b"".join(chunks))
        elif proc.poll() is not None:
            return b"".join(chunks)
    return None
