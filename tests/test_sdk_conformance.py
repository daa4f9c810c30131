"""The official obshell SDK (PyPI ``obshell``, synchronous, requests) against the simulator.

This proves the simulator accepts the real client's encoding (pycryptodome, 53-byte RSA chunks,
``show_details=True`` in the query, ``X-OCS-Agent-Header`` for ODP) — so fleet's tests against
the simulator say something about real agents. The simulator runs as a subprocess.
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
from conftest import allocate_base_ip
from obshell import ClientSet
from obshell.auth.password import PasswordAuth
from obshell.service.client_v1 import OBShellHandleError

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import SimProcess

PASSWORD = "fleet-sim-password"


def sdk_client(address: str, password: str = PASSWORD) -> ClientSet:
    ip, _, port = address.rpartition(":")
    return ClientSet(ip, int(port), PasswordAuth(agent_password=password), timeout=10)


def test_sdk_starts_odp_and_waits_for_success(sim_process: Callable[..., SimProcess]) -> None:
    """start_obproxy then wait_dag_succeed works on simulated agents of both key sizes; the state file agrees."""
    base_ip = allocate_base_ip(2)
    second = str(ipaddress.IPv4Address(base_ip) + 1)
    proc = sim_process({"defaults": {"dag_duration": [0.2, 0.5]}, "agents": {second: {"key_bits": 512}}},
                       agents=2, base_ip=base_ip)

    def run(address: str) -> tuple[str, str]:
        client = sdk_client(address).v1
        dag = client.start_obproxy()
        done = client.wait_dag_succeed(dag.generic_id)
        return dag.generic_id, done.state

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, proc.addresses))
    assert [state for _, state in results] == ["SUCCEED", "SUCCEED"]
    state = proc.state()
    for address, (generic_id, _) in zip(proc.addresses, results):
        mine = state["agents"][address]
        assert mine["starts_accepted"] == 1 and mine["auth_failures"] == {}
        assert mine["dags"][0]["id"] == generic_id and mine["dags"][0]["state"] == "SUCCEED"
        assert mine["requests"]["GET /api/v1/task/dag/{id}"] >= 1


def test_sdk_fails_on_a_clock_skewed_agent(sim_process: Callable[..., SimProcess]) -> None:
    """With the agent's clock 90 s ahead, the SDK's 60 s header is Expired (and its blind re-send is too).

    This is why fleet measures each agent's clock offset and sets ``ts`` on the agent's clock.
    """
    proc = sim_process({"defaults": {"clock_skew": 90}})
    with pytest.raises(OBShellHandleError) as info:
        sdk_client(proc.addresses[0]).v1.start_obproxy()
    assert info.value.err_code == "Security.Authentication.Expired" and info.value.code == 10008
    mine = proc.state()["agents"][proc.addresses[0]]
    assert mine["requests"]["POST /api/v1/obproxy/start"] == 2
    assert mine["auth_failures"] == {"Security.Authentication.Expired": 2}  # the SDK re-sent once
    assert mine["starts_accepted"] == 0
