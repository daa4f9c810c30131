"""The same scenario against fleet's simulator and against a real obshell agent: they must answer alike.

The scenario (tests/differential.py) covers auth failures, unknown ids and routes, start on a
running and on a stopped ODP, stop twice, DAG operators on failed and running DAGs and the DAG
listings; each answer is reduced to status, envelope keys, errCode/code, DAG/node/sub-task
fields, masked task logs and the states a DAG went through (ids, times and trace ids aside).

Without a binary the simulator is compared with the record of a real obshell 4.5.0 agent kept in
tests/data (made by this scenario); with ``FLEET_OBSHELL_BIN`` the live agent is compared with the
simulator configured as its release, and a 4.5.0 agent with that record too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import launch_simulator
from tests.differential import Observation, differences, scenario
from tests.realagent_harness import AGENT_PASSWORD, RealAgent, obshell_binary, real_agents
from tests.standin.obproxy import FAIL_START_FILE

RECORD = Path(__file__).parent / "data" / "obshell-4.5.0-scenario.json"
RECORDED_VERSION = "4.5.0.0-0"
Steps = list[tuple[str, Observation]]


def simulated(tmp_path: Path, version: str) -> Steps:
    """The scenario against one simulated agent of ``version`` (three start runs fail, as the stand-in's)."""
    config = {"defaults": {"password": AGENT_PASSWORD, "version": version, "dag_duration": [1, 1],
                           "faults": {"dag_fails": 3}}}
    sim = launch_simulator(tmp_path, config, agents=1)
    try:
        ip, port = sim.addresses[0].split(":")
        return scenario(RealAgent(Path("unused"), tmp_path, int(port), ip), lambda _on: None)
    finally:
        sim.terminate()
        if sim.proc.stdout is not None:
            sim.proc.stdout.close()


def recorded() -> Steps:
    return [(name, observation) for name, observation in json.loads(RECORD.read_text())]


def test_simulator_answers_as_the_recorded_real_agent(tmp_path: Path) -> None:
    """The simulator (as obshell 4.5.0) answers the scenario exactly as a real 4.5.0 agent did."""
    assert differences(recorded(), simulated(tmp_path, RECORDED_VERSION)) == []


def test_real_agent_and_simulator_answer_alike(tmp_path: Path) -> None:
    """A live real agent and the simulator configured as its release answer the scenario alike (and a
    4.5.0 agent still answers as the record says)."""
    binary = obshell_binary()
    if binary is None:
        pytest.skip("real obshell agent: set FLEET_OBSHELL_BIN to an obshell binary")
    with real_agents(binary, tmp_path / "real", 1) as (agent,):
        version = agent.info()["version"]

        def fail_starts(on: bool) -> None:
            marker = agent.odp_home / FAIL_START_FILE
            if on:
                marker.touch()
                agent.kill_odp()
            else:
                marker.unlink()

        real = scenario(agent, fail_starts)
    assert differences(real, simulated(tmp_path, version)) == []
    if version == RECORDED_VERSION:
        assert differences(recorded(), real) == []
