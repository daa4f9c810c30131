"""fleet's Python API on any asyncio loop: embedded in an application that runs uvloop (uvicorn's
default when uvloop is installed), both transports start ODP on simulated agents as on asyncio's
own loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

import fleet
from fleet.api.options import Transport
from fleet.models import Outcome
from tests.harness import SIM_PASSWORD, addresses, sim_fleet


@pytest.mark.parametrize("transport", ["lean", "aiohttp"])
def test_the_api_starts_odp_on_a_uvloop_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             transport: Transport) -> None:
    """fleet.start awaited on a uvloop loop: every simulated agent ends ``succeeded`` (main, lean:
    every host ended ``internal_error``, the transport not being an asyncio.Transport) and the
    run's folder is written."""
    ips = addresses("127.144.0.1", 4)
    monkeypatch.chdir(tmp_path)
    loops: list[type] = []

    async def embedded() -> fleet.RunResult:
        loops.append(type(asyncio.get_running_loop()))
        return await fleet.start(",".join(ips) + ",", forks=4, poll_cap=0.3, timeout=30, transport=transport,
                                 environ={"OBSHELL_AGENT_PASSWORD": SIM_PASSWORD})

    with (sim_fleet(tmp_path, ips[0], 4, {"defaults": {"dag_duration": [0.1, 0.3]}}),
          asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner):
        result = runner.run(embedded())
    assert loops == [uvloop.Loop]
    assert [(r.host.name, r.outcome) for r in result.hosts] == [(ip, Outcome.SUCCEEDED) for ip in ips]
    assert result.error is None and result.folder is not None
    assert (Path(result.folder) / "report.html").exists()
