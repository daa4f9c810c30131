"""Tests never collide with other processes (issue 22, item 6): loopback addresses are chosen at run
time by one allocator in tests/harness.py, which skips any address someone listens on, and fixed
addresses written in tests are moved onto it."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

from tests.harness import SIM_PORT, LoopbackAllocator, addresses, relocate, run_fleet, sim_fleet, write_inventory


@contextlib.contextmanager
def listening(address: str, port: int = SIM_PORT) -> Iterator[None]:
    """Another process's server on ``address:port`` (a simulator left running, another test session)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as server:
        server.bind((address, port))
        server.listen()
        yield


def test_a_region_someone_listens_in_is_never_handed_out() -> None:
    """Two allocators with the same seed choose the same region, unless an address of it is busy on the
    simulator's port: then the second chooses another, none of whose addresses is busy."""
    first = LoopbackAllocator(seed=b"fixed").free_block(20)
    busy = str(ipaddress.IPv4Address(first) + 7)
    with listening(busy):
        second = LoopbackAllocator(seed=b"fixed").free_block(20)
    assert second != first
    start = int(ipaddress.IPv4Address(second))
    assert not start <= int(ipaddress.IPv4Address(busy)) < start + 20


def test_fixed_addresses_are_moved_consistently() -> None:
    """A fixed base keeps its last octet in a region chosen at run time, the same region for every
    address of its /24 (so addresses() and sim_fleet() agree); addresses already handed out and
    127.0.0.x (localhost) are kept; regions never overlap within a run."""
    allocator = LoopbackAllocator()
    moved = allocator.relocate("127.45.2.1")
    assert moved != "127.45.2.1" and moved.endswith(".1") and ipaddress.IPv4Address(moved).is_loopback
    assert allocator.relocate("127.45.2.9") == moved.rsplit(".", 1)[0] + ".9"
    assert allocator.relocate(moved) == moved
    assert allocator.relocate("127.0.0.1") == "127.0.0.1"
    other = allocator.relocate("127.45.3.1")
    assert abs(int(ipaddress.IPv4Address(other)) - int(ipaddress.IPv4Address(moved))) >= 1024
    fresh = allocator.free_block(300)
    span = {int(ipaddress.IPv4Address(fresh)) + i for i in range(300)}
    assert not span & {int(ipaddress.IPv4Address(moved)), int(ipaddress.IPv4Address(other))}


def test_a_test_with_fixed_addresses_runs_beside_a_process_holding_them(tmp_path: Path) -> None:
    """A server left listening on the very address a test names (127.45.250.1:2886) does not disturb
    it: the harness serves the simulated agents elsewhere, and fleet reaches them there."""
    nominal = "127.45.250.1"
    with listening(nominal):
        ips = addresses(nominal, 2)
        assert ips[0] == relocate(nominal) != nominal
        inventory = write_inventory(tmp_path / "inv.yaml", ips)
        with sim_fleet(tmp_path, nominal, 2, {"defaults": {"dag_duration": [0.1, 0.2]}}):
            run = run_fleet(["start", "-i", str(inventory), "--poll-cap", "0.3", "-q"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.outcomes() == {ips[0]: "succeeded", ips[1]: "succeeded"}
