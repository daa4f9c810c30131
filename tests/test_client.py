"""fleet's AgentClient against the simulated fleet: happy path, every auth errCode, transport faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from fleet.client import AgentClient, HttpClient
from fleet.errors import (
    ApiFailure,
    AuthRefused,
    BodyTooLarge,
    ConnectError,
    ConnectionLost,
    NotFound,
    ProtocolError,
    RequestTimeout,
)
from fleet.models import HostSpec, Limits, Secret, Timeouts
from fleet.simulator.server import Simulator

if TYPE_CHECKING:
    from tests.conftest import SimFactory

PASSWORD = "fleet-sim-password"


@pytest_asyncio.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(Limits(), Timeouts(connect=2.0, request=5.0)) as client:
        yield client


def client_for(http: HttpClient, address: str, password: str | None = PASSWORD) -> AgentClient:
    ip, _, port = address.rpartition(":")
    return AgentClient(http, HostSpec(name=ip, address=ip, port=int(port)),
                       Secret(password) if password is not None else None)


def counts(sim: Simulator, address: str) -> dict[str, int]:
    requests: dict[str, int] = sim.state()["agents"][address]["requests"]
    return requests


async def test_info_and_secret_is_cached(sim_factory: SimFactory, http: HttpClient) -> None:
    """info() parses /info; the public key is fetched once and cached."""
    sim = await sim_factory()
    addr = sim.addresses[0]
    c = client_for(http, addr)
    info = (await c.info()).data
    assert info.ip == addr.split(":")[0] and info.is_obproxy_agent and info.security
    assert info.supported_auth == ("v2",)
    first = await c.public_key()
    assert await c.public_key() is first
    assert counts(sim, addr)["GET /api/v1/secret"] == 1


async def test_start_poll_details_and_unfinished(sim_factory: SimFactory, http: HttpClient) -> None:
    """start → READY DagDetail; unfinished_dags lists it; get_dag with details ends SUCCEED with task logs."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.3, 0.3]}})
    c = client_for(http, sim.addresses[0])
    dag = (await c.start_obproxy()).data
    assert (dag.state, dag.operator, dag.stage, dag.max_stage, dag.name) == ("READY", "RUN", 1, 2, "Start obproxy")
    assert [d.id for d in (await c.unfinished_dags()).data] == [dag.id]
    await asyncio.sleep(0.35)
    done = (await c.get_dag(dag.id, details=True)).data
    assert done.succeeded and done.end_time != "0001-01-01T00:00:00Z"
    assert [n.name for n in done.nodes] == ["Check obproxy status", "Start obproxy"]
    # as a real agent: a passing "Check obproxy status" logs nothing; the start logs its command
    assert done.nodes[0].sub_tasks[0].task_logs == ()
    assert done.nodes[1].sub_tasks[0].task_logs[-1] == "start obproxy health check"
    assert done.nodes[0].sub_tasks[0].execute_agent == sim.addresses[0]
    assert (await c.unfinished_dags()).data == ()
    assert [d.id for d in (await c.agent_dags()).data] == [dag.id]


async def test_failed_dag_logs_and_operate(sim_factory: SimFactory, http: HttpClient) -> None:
    """A failing DAG shows the failed sub-task's log; RETRY re-runs it (the DAG's operator reads RUN
    again, as obshell sets it); CANCEL cancels."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.2, 0.2], "faults": {"dag_fails": 1}}})
    c = client_for(http, sim.addresses[0])
    dag = (await c.start_obproxy()).data
    await asyncio.sleep(0.25)
    failed = (await c.get_dag(dag.id, details=True)).data
    assert failed.state == "FAILED"
    assert failed.nodes[1].sub_tasks[0].task_logs[-1].startswith("ERROR: [Common.Unexpected]: Unexpected error: "
                                                                 "failed to start obproxy")
    await c.operate_dag(dag.id, "RETRY")
    assert (await c.get_dag(dag.id)).data.operator == "RUN"
    await c.operate_dag(dag.id, "CANCEL")
    await asyncio.sleep(0.45)  # READY until picked up, then RUNNING while it fails its sub-task
    cancelled = (await c.get_dag(dag.id)).data
    assert (cancelled.state, cancelled.operator) == ("FAILED", "CANCEL")


async def test_trace_ids_are_sent_echoed_and_recorded(sim_factory: SimFactory, http: HttpClient) -> None:
    """The client's X-OBSHELL-Trace-ID comes back as traceId, lands in returned_trace_ids and the state file."""
    sim = await sim_factory()
    addr = sim.addresses[0]
    c = client_for(http, addr)
    reply = await c.start_obproxy(trace_id="fleet-run-42")
    assert reply.trace_id == "fleet-run-42" == c.last_sent_trace_id
    assert c.returned_trace_ids[-1] == "fleet-run-42"
    assert ["POST /api/v1/obproxy/start", "fleet-run-42"] in sim.state()["agents"][addr]["trace_ids"]


@pytest.mark.parametrize("bits", [512, 1024])
async def test_key_sizes(sim_factory: SimFactory, http: HttpClient, bits: int) -> None:
    """The client authenticates against agents with 512- and 1024-bit keys."""
    sim = await sim_factory({"defaults": {"key_bits": bits}})
    c = client_for(http, sim.addresses[0])
    assert (await c.public_key()).key_size == bits
    assert (await c.start_obproxy()).data.state == "READY"


# -- every auth errCode ------------------------------------------------------------------------


async def test_decrypt_failed_refetches_secret_and_retries_once(sim_factory: SimFactory, http: HttpClient) -> None:
    """After a key rotation, the client gets Header.DecryptFailed, refetches /secret and retries exactly once."""
    sim = await sim_factory({"defaults": {"faults": {"key_rotation": {"after_requests": 1}}}})
    addr = sim.addresses[0]
    c = client_for(http, addr)
    dag = (await c.start_obproxy()).data  # authenticated request #1 → the key rotates
    assert (await c.get_dag(dag.id)).data.id == dag.id
    state = sim.state()["agents"][addr]
    assert state["requests"]["GET /api/v1/secret"] == 2
    assert state["requests"]["GET /api/v1/task/dag/{id}"] == 2
    assert state["auth_failures"] == {"Security.Authentication.Header.DecryptFailed": 1}
    assert state["starts_accepted"] == 1


async def test_decrypt_failed_twice_gives_up(sim_factory: SimFactory, http: HttpClient) -> None:
    """If the retry fails to decrypt too (key rotates every request), the client raises instead of looping."""
    sim = await sim_factory({"defaults": {"faults": {"key_rotation": {"every_seconds": 0.001}}}})
    addr = sim.addresses[0]
    c = client_for(http, addr)
    await c.public_key()
    await asyncio.sleep(0.01)
    with pytest.raises(AuthRefused) as info:
        await c.unfinished_dags()
    assert info.value.error.err_code == "Security.Authentication.Header.DecryptFailed"
    assert counts(sim, addr)["GET /api/v1/task/dag/agent/unfinish"] == 2


async def test_uri_mismatch(sim_factory: SimFactory, http: HttpClient) -> None:
    """A header whose uri is not the request-target it travels with is refused: UriMismatch, 10008."""
    import json

    from fleet.protocol import crypto, wire

    sim = await sim_factory()
    c = client_for(http, sim.addresses[0])
    key = await c.public_key()
    session = crypto.SessionKey.generate()
    doc = crypto.header_json(PASSWORD, 2**31, "/api/v1/obproxy/stop", session)
    raw = await http.send("POST", c.host.base_url + "/api/v1/obproxy/start",
                          headers={"X-OCS-Agent-Header": crypto.encrypt_header(doc, key)})
    env = wire.parse_envelope(raw.status, raw.body)
    assert raw.status == 401 and env.error is not None
    assert env.error.err_code == "Security.Authentication.Header.UriMismatch"
    assert env.error.code == 10008
    assert json.loads(raw.body)["traceId"]


async def test_odd_dag_ids_are_percent_encoded_and_still_authenticate(
        sim_factory: SimFactory, http: HttpClient,
) -> None:
    """A DAG id with characters a URL must escape is sent encoded, and the header's uri matches
    the encoded request-target, so the agent judges the id (Task.GenericID.Invalid), not the auth."""
    sim = await sim_factory()
    c = client_for(http, sim.addresses[0])
    with pytest.raises(ApiFailure) as info:
        await c.get_dag("4 1/x")
    assert info.value.error.err_code == "Task.GenericID.Invalid"


async def test_expired_without_clock_offset_then_ok_with_it(sim_factory: SimFactory, http: HttpClient) -> None:
    """An agent 120 s ahead: with the clock offset zeroed the header is Expired; applied, it is accepted."""
    sim = await sim_factory({"defaults": {"clock_skew": 120}})
    addr = sim.addresses[0]
    c = client_for(http, addr)
    await c.public_key()
    c.clock_offset = 0.0  # as if fleet had not measured the agent's clock
    with pytest.raises(AuthRefused) as info:
        await c.start_obproxy()
    assert info.value.error.err_code == "Security.Authentication.Expired"
    assert c.clock_offset is not None and 115 < c.clock_offset < 125  # learned from the refusal's timestamp
    assert (await c.start_obproxy()).data.state == "READY"
    assert sim.state()["agents"][addr]["starts_accepted"] == 1


async def test_incorrect_password(sim_factory: SimFactory, http: HttpClient) -> None:
    """A wrong agent password → AuthRefused carrying IncorrectAgentPassword; nothing is started."""
    sim = await sim_factory()
    c = client_for(http, sim.addresses[0], password="not-it")
    with pytest.raises(AuthRefused) as info:
        await c.start_obproxy()
    assert info.value.error.err_code == "Security.Authentication.IncorrectAgentPassword"
    assert info.value.error.status == 401 and info.value.trace_id == c.last_sent_trace_id
    assert sim.state()["totals"]["starts_accepted"] == 0


async def test_password_not_initialised(sim_factory: SimFactory, http: HttpClient) -> None:
    """An agent whose password was never set → AuthRefused with AgentPasswordNotInitialized."""
    sim = await sim_factory({"defaults": {"agent_password_set": False}})
    with pytest.raises(AuthRefused) as info:
        await client_for(http, sim.addresses[0]).start_obproxy()
    assert info.value.error.err_code == "Security.Authentication.AgentPasswordNotInitialized"


async def test_header_not_found_on_agent_ignoring_agent_header(sim_factory: SimFactory, http: HttpClient) -> None:
    """Agents < 4.2.6 ignore X-OCS-Agent-Header: the request arrives without a header → Request.Header.NotFound."""
    sim = await sim_factory({"defaults": {"version": "4.2.5.0", "error_style": "modern"}})
    with pytest.raises(ApiFailure) as info:
        await client_for(http, sim.addresses[0]).unfinished_dags()
    assert info.value.error.err_code == "Request.Header.NotFound" and info.value.error.status == 400


async def test_start_on_old_agent_is_not_found(sim_factory: SimFactory, http: HttpClient) -> None:
    """Start on a 4.2.5 agent (no /obproxy routes, legacy errors: 400 code 1000) is classified NotFound."""
    sim = await sim_factory({"defaults": {"version": "4.2.5.0"}})
    with pytest.raises(NotFound) as info:
        await client_for(http, sim.addresses[0]).start_obproxy()
    assert info.value.error.code == 1000 and info.value.error.err_code is None


async def test_legacy_errors_classify_the_same(sim_factory: SimFactory, http: HttpClient) -> None:
    """4.2.x envelopes (no errCode): wrong password → AuthRefused code 10008; a key change ("Verification
    failed: header decrypt failed", code 10008 too) → one refetch of /secret and one retry."""
    sim = await sim_factory({"defaults": {"version": "4.2.6.0", "faults": {"key_rotation": {"after_requests": 1}}}})
    addr = sim.addresses[0]
    c = client_for(http, addr)
    dag = (await c.start_obproxy()).data
    assert (await c.get_dag(dag.id)).data.id == dag.id  # decrypt failed → refetch /secret, retry once
    assert counts(sim, addr)["GET /api/v1/secret"] == 2
    bad = client_for(http, addr, password="nope")
    with pytest.raises(AuthRefused) as info:
        await bad.start_obproxy()
    assert info.value.error.code == 10008 and info.value.error.err_code is None
    with pytest.raises(NotFound):
        await c.get_dag(dag.id[:-1] + "9")


async def test_unknown_dag_and_forgotten_dags(sim_factory: SimFactory, http: HttpClient) -> None:
    """Polling a DAG the agent no longer knows (restart) → NotFound (after the key refetch)."""
    sim = await sim_factory({"defaults": {"faults": {"forget_dags_after": 0.1}}})
    c = client_for(http, sim.addresses[0])
    dag = (await c.start_obproxy()).data
    await asyncio.sleep(0.15)
    with pytest.raises(NotFound) as info:
        await c.get_dag(dag.id)
    assert info.value.error.err_code == "Task.NotFound"


# -- transport and protocol faults -------------------------------------------------------------


@pytest.mark.parametrize(("fault", "error"), [("garbage", ProtocolError), ("bad_types", ProtocolError),
                                              ("oversize", BodyTooLarge), ("truncated", ConnectionLost)])
async def test_broken_answers(sim_factory: SimFactory, http: HttpClient, fault: str, error: type[Exception]) -> None:
    """garbage/bad types → ProtocolError, oversize → BodyTooLarge, truncated → ConnectionLost."""
    sim = await sim_factory({"defaults": {"faults": {fault: ["info"]}}})
    with pytest.raises(error):
        await client_for(http, sim.addresses[0]).info()


async def test_http500_is_an_api_failure(sim_factory: SimFactory, http: HttpClient) -> None:
    """An http500 envelope is an ApiFailure (not auth, not not-found)."""
    sim = await sim_factory({"defaults": {"faults": {"http500": ["start"]}}})
    with pytest.raises(ApiFailure) as info:
        await client_for(http, sim.addresses[0]).start_obproxy()
    assert type(info.value) is ApiFailure and info.value.error.err_code == "Common.Unexpected"


async def test_refuse_is_connect_error(sim_factory: SimFactory, http: HttpClient) -> None:
    """A refusing agent → ConnectError with never_sent True."""
    sim = await sim_factory({"defaults": {"faults": {"refuse": True}}})
    with pytest.raises(ConnectError) as info:
        await client_for(http, sim.addresses[0]).info()
    assert info.value.never_sent is True


async def test_hang_is_request_timeout(sim_factory: SimFactory) -> None:
    """A hanging agent → RequestTimeout after the (short) request timeout; never_sent stays False."""
    sim = await sim_factory({"defaults": {"faults": {"hang": ["start"]}}})
    async with HttpClient(Limits(), Timeouts(connect=1.0, request=0.5)) as http:
        c = client_for(http, sim.addresses[0])
        await c.public_key()
        with pytest.raises(RequestTimeout) as info:
            await c.start_obproxy()
    assert info.value.never_sent is False


async def test_drop_after_start_is_connection_lost(sim_factory: SimFactory, http: HttpClient) -> None:
    """drop_after_start → ConnectionLost, yet the DAG exists: unfinished_dags reveals it."""
    sim = await sim_factory({"defaults": {"faults": {"drop_after_start": True}}})
    c = client_for(http, sim.addresses[0])
    with pytest.raises(ConnectionLost):
        await c.start_obproxy()
    assert len((await c.unfinished_dags()).data) == 1


async def test_dead_agent_mid_run(sim_factory: SimFactory, http: HttpClient) -> None:
    """die_after: polling after the agent died fails with a transport error."""
    sim = await sim_factory({"defaults": {"faults": {"die_after": 0.1}}})
    c = client_for(http, sim.addresses[0])
    dag = (await c.start_obproxy()).data
    await asyncio.sleep(0.15)
    with pytest.raises((ConnectionLost, ConnectError)):
        await c.get_dag(dag.id)
    with pytest.raises(ConnectError):
        await c.get_dag(dag.id)
