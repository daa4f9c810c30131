"""The simulated obshell fleet: agent logic (pure), verification order, faults, config, state file, CLI."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from conftest import REPO, allocate_base_ip

from fleet.protocol import crypto
from fleet.protocol.ids import odp_generic_id
from fleet.simulator.agent import SimAgent
from fleet.simulator.config import config_from_dict, parse_config, resolve_settings
from fleet.simulator.exchange import Env, SimRequest
from fleet.simulator.keys import generate_key_pair
from fleet.simulator.settings import AgentSettings, ConfigError, Faults
from fleet.simulator.state import read_state

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import SimFactory, SimProcess

PASSWORD = "fleet-sim-password"
FAST = {"defaults": {"dag_duration": [0.2, 0.3]}}
_KEY = generate_key_pair(1024)


# -- helpers ----------------------------------------------------------------------------------


async def call(address: str, method: str, target: str, *, password: str | None = PASSWORD,
               header: str = "X-OCS-Agent-Header", doc: dict[str, Any] | None = None, body: Any = None,
               trace: str | None = None, ts_offset: int = 60,
               timeout: float = 5.0) -> tuple[int, Any]:  # noqa: ASYNC109  becomes aiohttp's ClientTimeout
    """One raw request; with ``password`` set it carries an auth header built like fleet's client."""
    base = f"http://{address}"
    headers: dict[str, str] = {}
    if trace:
        headers["X-OBSHELL-Trace-ID"] = trace
    payload = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        if password is not None:
            async with http.get(base + "/api/v1/secret") as resp:
                key = crypto.load_public_key((await resp.json())["data"]["public_key"])
            session = crypto.SessionKey.generate()
            if doc is None:
                doc = {"auth": password, "ts": str(int(time.time()) + ts_offset), "uri": target,
                       "keys": session.to_wire()}
            headers[header] = crypto.encrypt_header(json.dumps(doc).encode(), key)
            if body is not None:
                payload = crypto.encrypt_body(json.dumps(body).encode(), session)
        async with http.request(method, base + target, headers=headers, data=payload) as resp:
            raw = await resp.read()
            try:
                return resp.status, json.loads(raw)
            except ValueError:
                return resp.status, raw


def agent(settings: AgentSettings = AgentSettings(), ip: str = "127.30.0.1") -> tuple[SimAgent, Env]:
    env = Env(random.Random(1), lambda bits: generate_key_pair(bits))
    return SimAgent(ip, 2886, settings, _KEY, pid=42, started_ns=0), env


def auth_request(a: SimAgent, method: str, target: str, now: float, body: dict[str, Any] | None = None,
                 password: str = PASSWORD) -> SimRequest:
    session = crypto.SessionKey.generate()
    doc = crypto.header_json(password, int(now) + 60, target, session)
    headers = {"X-OCS-Agent-Header": crypto.encrypt_header(doc, a.key.private.public_key())}
    raw = crypto.encrypt_body(json.dumps(body).encode(), session) if body is not None else b""
    return SimRequest(method, target, headers, raw)


# -- pure agent logic --------------------------------------------------------------------------


def test_dag_lifecycle_is_computed_from_time() -> None:
    """A start DAG is READY, then RUNNING stage 1, RUNNING stage 2, then SUCCEED — from time alone."""
    a, env = agent(AgentSettings(dag_duration=(10.0, 10.0)))
    t0 = 1000.0
    ans = a.handle(auth_request(a, "POST", "/api/v1/obproxy/start", t0), t0, env)
    assert ans.status == 200
    assert ans.doc is not None
    dto = ans.doc["data"]
    assert dto["id"] == odp_generic_id("127.30.0.1", 2886, 1) and dto["dag_id"] == 1
    assert (dto["name"], dto["stage"], dto["max_stage"], dto["state"], dto["operator"]) == \
        ("Start obproxy", 1, 2, "READY", "RUN")
    # end_time is the creation time (gorm autoCreateTime) until the DAG finishes
    assert dto["end_time"] == dto["start_time"] and dto["nodes"] is None and dto["additional_data"] is None
    assert dto["maintenance_type"] == 1 and dto["maintenance_key"] == ""
    dag = a.dags[1]
    assert dag.view(t0 + 0.05)[:2] == ("READY", 1)
    assert dag.view(t0 + 2)[:2] == ("RUNNING", 1)
    assert dag.view(t0 + 6)[:2] == ("RUNNING", 2)
    assert dag.view(t0 + 10.1)[:2] == ("SUCCEED", 2)
    detail = a.dag_dto(dag, t0 + 11, True)
    assert [n["name"] for n in detail["nodes"]] == ["Check obproxy status", "Start obproxy"]
    sub = detail["nodes"][1]["sub_tasks"][0]
    assert sub["execute_agent"] == {"ip": "127.30.0.1", "port": 2886} and sub["execute_times"] == 1
    assert sub["task_logs"]


def test_start_creates_a_new_dag_every_time() -> None:
    """Start has no conflict check: two starts make two DAGs with consecutive dag ids."""
    a, env = agent()
    for now in (1.0, 2.0):
        assert a.handle(auth_request(a, "POST", "/api/v1/obproxy/start", now), now, env).status == 200
    assert sorted(a.dags) == [1, 2] and a.starts_accepted == 2


def test_non_odp_agent_start_fails_in_first_task() -> None:
    """On a 4.3.1+ agent that manages no ODP, start is accepted and the DAG fails in 'Check obproxy status'."""
    a, env = agent(AgentSettings(is_obproxy_agent=False, dag_duration=(1.0, 1.0)))
    assert a.handle(auth_request(a, "POST", "/api/v1/obproxy/start", 0), 0, env).status == 200
    dto = a.dag_dto(a.dags[1], 5.0, True)
    assert dto["state"] == "FAILED" and dto["stage"] == 1
    first = dto["nodes"][0]["sub_tasks"][0]
    assert first["state"] == "FAILED"
    assert first["task_logs"][-1] == "ERROR: [OBProxy.NotBeManaged]: This is not an OBProxy agent"


def test_old_non_odp_agent_refuses_start() -> None:
    """Before 4.3.1 a non-ODP agent refuses start with 400, code 1000, and creates no DAG."""
    a, env = agent(AgentSettings(is_obproxy_agent=False, version="4.2.6.0"))
    ans = a.handle(auth_request(a, "POST", "/api/v1/obproxy/start", 0), 0, env)
    assert ans.doc is not None
    assert ans.status == 400 and ans.doc["error"]["code"] == 1000 and "errCode" not in ans.doc["error"]
    assert not a.dags and a.starts_refused == 1


@pytest.mark.parametrize(("operator", "status", "state", "op"), [("ROLLBACK", 400, "FAILED", "RUN"),
                                                                 ("PASS", 200, "SUCCEED", "PASS")])
def test_operators_on_failed_dag(operator: str, status: int, state: str, op: str) -> None:
    """PASS turns a FAILED DAG into SUCCEED + PASS; ROLLBACK is refused on an ODP DAG (its "Check
    obproxy status" node cannot roll back, as in obshell) and leaves it FAILED."""
    a, env = agent(AgentSettings(dag_duration=(1.0, 1.0), faults=Faults(dag_fails=1)))
    a.handle(auth_request(a, "POST", "/api/v1/obproxy/start", 0), 0, env)
    gid = odp_generic_id(a.ip, a.port, 1)
    assert a.dags[1].view(2)[0] == "FAILED"
    ans = a.handle(auth_request(a, "POST", f"/api/v1/task/dag/{gid}", 2, {"operator": operator}), 2, env)
    assert ans.doc is not None
    assert ans.status == status and "data" not in ans.doc
    assert a.dags[1].view(3)[0] == state and a.dags[1].operator == op


def test_cancel_then_retry() -> None:
    """CANCEL on a running DAG gives FAILED+CANCEL once the scheduler picks it up; RETRY runs it
    again to SUCCEED, its operator back at RUN (obshell's DAG-level operator for a retry)."""
    a, env = agent(AgentSettings(dag_duration=(1.0, 1.0)))
    a.handle(auth_request(a, "POST", "/api/v1/obproxy/start", 0), 0, env)
    gid = odp_generic_id(a.ip, a.port, 1)
    assert a.handle(auth_request(a, "POST", f"/api/v1/task/dag/{gid}", 0.5, {"operator": "cancel"}), 0.5,
                    env).status == 200
    assert a.dags[1].view(0.6)[0] == "READY"
    assert a.dags[1].view(0.8)[0] == "RUNNING"  # picked up, it fails its sub-task
    assert a.dags[1].view(0.95)[0] == "FAILED" and a.dags[1].operator == "CANCEL"
    assert a.handle(auth_request(a, "POST", f"/api/v1/task/dag/{gid}", 1, {"operator": "RETRY"}), 1,
                    env).status == 200
    assert a.dags[1].view(1.5)[0] == "RUNNING"
    assert a.dags[1].view(2.3)[0] == "SUCCEED" and a.dags[1].operator == "RUN"
    assert a.dags[1].execute_times == 2


def test_retry_on_running_dag_is_refused() -> None:
    """RETRY needs a FAILED DAG; on a running one it is a 400."""
    a, env = agent(AgentSettings(dag_duration=(5.0, 5.0)))
    a.handle(auth_request(a, "POST", "/api/v1/obproxy/start", 0), 0, env)
    gid = odp_generic_id(a.ip, a.port, 1)
    assert a.handle(auth_request(a, "POST", f"/api/v1/task/dag/{gid}", 1, {"operator": "RETRY"}), 1,
                    env).status == 400


def test_stop_takes_the_maintenance_lock() -> None:
    """A second stop while one runs → 500 Agent.UnderMaintenance; a non-ODP agent → 400 OBProxy.NotBeManaged."""
    a, env = agent(AgentSettings(dag_duration=(5.0, 5.0)))
    assert a.handle(auth_request(a, "POST", "/api/v1/obproxy/stop", 0), 0, env).status == 200
    ans = a.handle(auth_request(a, "POST", "/api/v1/obproxy/stop", 1), 1, env)
    assert ans.doc is not None
    assert ans.status == 500 and ans.doc["error"]["errCode"] == "Agent.UnderMaintenance"
    assert "code" not in ans.doc["error"] and "is under maintenance" in ans.doc["error"]["message"]
    assert a.handle(auth_request(a, "POST", "/api/v1/obproxy/stop", 6), 6, env).status == 200
    b, env = agent(AgentSettings(is_obproxy_agent=False))
    ans = b.handle(auth_request(b, "POST", "/api/v1/obproxy/stop", 0), 0, env)
    assert ans.doc is not None
    assert ans.status == 400 and ans.doc["error"]["errCode"] == "OBProxy.NotBeManaged"


def test_timestamp_has_nanoseconds_offset_and_skew() -> None:
    """The envelope timestamp is RFC 3339 with the agent's offset and its clock skew applied."""
    from fleet.protocol.clock import parse_agent_time

    a, env = agent(AgentSettings(clock_skew=120.0, utc_offset="+08:00"))
    ans = a.handle(SimRequest("GET", "/api/v1/info", {}), 1_700_000_000.123456789, env)
    assert ans.doc is not None
    stamp = ans.doc["timestamp"]
    assert stamp.endswith("+08:00") and "." in stamp
    when = parse_agent_time(stamp)
    assert when is not None and abs(when - 1_700_000_120.123456789) < 1e-3


# -- verification over real sockets ----------------------------------------------------------------


async def test_info_and_secret(sim_factory: SimFactory) -> None:
    """/info carries the documented fields (startAt in ns, security, supportedAuth); /secret a PKCS#1 key."""
    sim = await sim_factory()
    addr = sim.addresses[0]
    status, doc = await call(addr, "GET", "/api/v1/info", password=None)
    data = doc["data"]
    assert status == 200 and doc["successful"] is True and len(doc["traceId"]) == 16
    assert {"ip", "port", "zone", "identity", "version", "pid", "state", "startAt", "homePath", "obVersion",
            "architecture", "isObproxyAgent", "security", "supportedAuth"} <= set(data)
    assert data["startAt"] > 10**18 and data["supportedAuth"] == ["v2"] and isinstance(data["state"], int)
    status, doc = await call(addr, "GET", "/api/v1/secret", password=None)
    key = crypto.load_public_key(doc["data"]["public_key"])
    assert key.key_size == 1024 and doc["data"]["ip"] == addr.split(":")[0]


async def test_trace_id_is_echoed(sim_factory: SimFactory) -> None:
    """The X-OBSHELL-Trace-ID sent is the traceId returned, and the state file records it with its route."""
    sim = await sim_factory()
    addr = sim.addresses[0]
    _status, doc = await call(addr, "GET", "/api/v1/info", password=None, trace="fleet-trace-0001")
    assert doc["traceId"] == "fleet-trace-0001"
    assert ["GET /api/v1/info", "fleet-trace-0001"] in sim.state()["agents"][addr]["trace_ids"]


@pytest.mark.parametrize(("doc_change", "err_code", "code"), [
    ({"ts": 12345}, "Security.Authentication.Header.DecryptFailed", 1),
    ({"auth": 5}, "Security.Authentication.Header.DecryptFailed", 1),
    ({"uri": "/api/v1/obproxy/stop"}, "Security.Authentication.Header.UriMismatch", 10008),
    ({"ts": "soon"}, "Security.Authentication.Timestamp.Invalid", 10008),
    ({"ts": "1"}, "Security.Authentication.Expired", 10008),
    ({"auth": "wrong"}, "Security.Authentication.IncorrectAgentPassword", 10008),
])
async def test_header_verification(
        sim_factory: SimFactory, doc_change: dict[str, Any], err_code: str, code: int,
) -> None:
    """Each header defect gets the Go agent's errCode and code; a decrypt failure has traceId ""."""
    sim = await sim_factory()
    addr = sim.addresses[0]
    target = "/api/v1/obproxy/start"
    doc = {"auth": PASSWORD, "ts": str(int(time.time()) + 60), "uri": target,
           "keys": crypto.SessionKey.generate().to_wire(), **doc_change}
    status, body = await call(addr, "POST", target, doc=doc, trace="t-1")
    assert status == 401 and body["error"]["errCode"] == err_code and body["error"]["code"] == code
    assert body["traceId"] == ("" if code == 1 else "t-1")
    if err_code.endswith(("Expired", "IncorrectAgentPassword")):
        assert body["error"]["message"].startswith("Unauthorized: ")
    assert not sim.agent(addr).dags
    assert sim.state()["agents"][addr]["auth_failures"] == {err_code: 1}


async def test_empty_auth_skips_the_timestamp(sim_factory: SimFactory) -> None:
    """With auth "" the expiry is not checked (Go VerifyAuth): an expired ts gets IncorrectAgentPassword."""
    sim = await sim_factory()
    doc = {"auth": "", "ts": "1", "uri": "/api/v1/obproxy/start", "keys": crypto.SessionKey.generate().to_wire()}
    _status, body = await call(sim.addresses[0], "POST", "/api/v1/obproxy/start", doc=doc)
    assert body["error"]["errCode"] == "Security.Authentication.IncorrectAgentPassword"


async def test_missing_and_wrong_headers(sim_factory: SimFactory) -> None:
    """No header → 400 Request.Header.NotFound; X-OCS-Header on /obproxy → the same;
    on an ODP DAG → WithAgentPassword."""
    sim = await sim_factory()
    addr = sim.addresses[0]
    status, body = await call(addr, "POST", "/api/v1/obproxy/start", password=None)
    assert status == 400 and body["error"]["errCode"] == "Request.Header.NotFound" and "code" not in body["error"]
    status, body = await call(addr, "POST", "/api/v1/obproxy/start", header="X-OCS-Header")
    assert status == 400 and body["error"]["errCode"] == "Request.Header.NotFound"
    gid = odp_generic_id(addr.split(":")[0], 2886, 1)
    status, body = await call(addr, "GET", f"/api/v1/task/dag/{gid}", header="X-OCS-Header")
    assert status == 401 and body["error"]["errCode"] == "Security.Authentication.WithAgentPassword"


async def test_password_not_initialised(sim_factory: SimFactory) -> None:
    """An agent without an agent password refuses ODP routes with AgentPasswordNotInitialized."""
    sim = await sim_factory({"defaults": {"agent_password_set": False}})
    status, body = await call(sim.addresses[0], "POST", "/api/v1/obproxy/start")
    assert status == 401 and body["error"]["errCode"] == "Security.Authentication.AgentPasswordNotInitialized"


async def test_clock_skew_expires_headers(sim_factory: SimFactory) -> None:
    """An agent whose clock runs 120 s ahead finds a 60 s header expired."""
    sim = await sim_factory({"defaults": {"clock_skew": 120}})
    status, body = await call(sim.addresses[0], "POST", "/api/v1/obproxy/start")
    assert body["error"]["errCode"] == "Security.Authentication.Expired"
    status, body = await call(sim.addresses[0], "POST", "/api/v1/obproxy/start", ts_offset=180)
    assert status == 200


async def test_not_found_answers(sim_factory: SimFactory) -> None:
    """Unknown route → 404 Common.NotFound; unknown DAG → 404 Task.NotFound; malformed id → 400 GenericID.Invalid."""
    sim = await sim_factory()
    addr = sim.addresses[0]
    status, body = await call(addr, "GET", "/api/v1/nothing", password=None)
    assert status == 404
    assert body["error"] == {"errCode": "Common.NotFound", "message": "Element not found: 404 not found"}
    status, body = await call(addr, "GET", "/api/v1/task/dag/" + odp_generic_id(addr.split(":")[0], 2886, 99))
    assert status == 404 and body["error"]["message"] == "Task not found: record not found"
    status, body = await call(addr, "GET", "/api/v1/task/dag/4123")
    assert status == 400 and body["error"]["errCode"] == "Task.GenericID.Invalid"
    status, body = await call(addr, "GET", "/api/v1/task/dag/" + odp_generic_id("127.9.9.9", 2886, 1))
    assert status == 404 and body["error"]["errCode"] == "Task.NotFound"


async def test_legacy_error_style(sim_factory: SimFactory) -> None:
    """4.2.x agents answer {code, message} without errCode: unknown route 400/1000, auth 401/10008,
    unknown task 404/2300."""
    sim = await sim_factory({"defaults": {"version": "4.2.6.0-1"}})
    addr = sim.addresses[0]
    status, body = await call(addr, "GET", "/api/v1/nothing", password=None)
    assert status == 400 and body["error"]["code"] == 1000 and "errCode" not in body["error"]
    status, body = await call(addr, "POST", "/api/v1/obproxy/start", password="wrong")
    assert status == 401 and body["error"]["code"] == 10008
    assert body["error"]["message"].startswith("Verification failed: ")
    status, body = await call(addr, "GET", "/api/v1/task/dag/" + odp_generic_id(addr.split(":")[0], 2886, 5))
    assert status == 404 and body["error"]["code"] == 2300


async def test_old_version_has_no_obproxy_routes(sim_factory: SimFactory) -> None:
    """Agents below 4.2.6 have no /obproxy routes: start gets the not-found answer."""
    sim = await sim_factory({"defaults": {"version": "4.2.5.0"}})
    status, body = await call(sim.addresses[0], "POST", "/api/v1/obproxy/start")
    assert status == 400 and body["error"]["code"] == 1000


async def test_dag_details_default_on_and_listings(sim_factory: SimFactory) -> None:
    """GET dag without show_details returns nodes; the unfinished listing holds running DAGs as {"contents": []}."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.6, 0.6]}})
    addr = sim.addresses[0]
    _status, body = await call(addr, "POST", "/api/v1/obproxy/start")
    gid = body["data"]["id"]
    _status, body = await call(addr, "GET", f"/api/v1/task/dag/{gid}")
    assert body["data"]["nodes"] and body["data"]["additional_data"] == {}
    _status, body = await call(addr, "GET", "/api/v1/task/dag/agent/unfinish?show_details=false")
    assert [d["id"] for d in body["data"]["contents"]] == [gid]
    await asyncio.sleep(0.7)
    _status, body = await call(addr, "GET", "/api/v1/task/dag/agent/unfinish")
    assert body["data"]["contents"] == []
    _status, body = await call(addr, "GET", "/api/v1/task/dags/agent")
    assert body["data"]["contents"][0]["state"] == "SUCCEED"


async def test_operate_body_is_decrypted(sim_factory: SimFactory) -> None:
    """POST /task/dag/{id} carries an AES-encrypted body; CANCEL on a running DAG answers 200 without data."""
    sim = await sim_factory({"defaults": {"dag_duration": [5, 5]}})
    addr = sim.addresses[0]
    _, body = await call(addr, "POST", "/api/v1/obproxy/start")
    gid = body["data"]["id"]
    status, body = await call(addr, "POST", f"/api/v1/task/dag/{gid}", body={"operator": "CANCEL"})
    assert status == 200 and body["successful"] and "data" not in body
    _, body = await call(addr, "GET", f"/api/v1/task/dag/{gid}?show_details=false")
    assert (body["data"]["state"], body["data"]["operator"]) == ("READY", "CANCEL")


# -- faults ------------------------------------------------------------------------------------------


async def test_fault_refuse(sim_factory: SimFactory) -> None:
    """A refusing agent does not listen: the connection is refused."""
    sim = await sim_factory({"defaults": {"faults": {"refuse": True}}})
    with pytest.raises(aiohttp.ClientConnectorError):
        await call(sim.addresses[0], "GET", "/api/v1/info", password=None)


async def test_fault_hang_on_one_route(sim_factory: SimFactory) -> None:
    """hang: [start] answers /info but never answers start."""
    sim = await sim_factory({"defaults": {"faults": {"hang": ["start"]}}})
    assert (await call(sim.addresses[0], "GET", "/api/v1/info", password=None))[0] == 200
    with pytest.raises(asyncio.TimeoutError):
        await call(sim.addresses[0], "POST", "/api/v1/obproxy/start", timeout=0.5)
    assert not sim.agent(sim.addresses[0]).dags


@pytest.mark.parametrize("fault", ["http500", "garbage", "bad_types", "truncated", "oversize"])
async def test_fault_broken_answers(sim_factory: SimFactory, fault: str) -> None:
    """http500, garbage, bad_types, truncated and oversize answers are what they say."""
    sim = await sim_factory({"defaults": {"faults": {fault: ["info"]}}})
    addr = sim.addresses[0]
    if fault == "truncated":
        with pytest.raises(aiohttp.ClientPayloadError):
            await call(addr, "GET", "/api/v1/info", password=None)
        return
    status, body = await call(addr, "GET", "/api/v1/info", password=None)
    if fault == "http500":
        assert status == 500 and body["error"]["errCode"] == "Common.Unexpected"
    elif fault == "garbage":
        assert isinstance(body, bytes) and body.startswith(b"<html>")
    elif fault == "bad_types":
        assert body["successful"] == "yes" and body["status"] == "200"
    else:
        assert len(json.dumps(body)) >= 10 * 1024 * 1024
    assert (await call(addr, "GET", "/api/v1/secret", password=None))[0] == 200


async def test_fault_slow(sim_factory: SimFactory) -> None:
    """slow delays every answer by the configured seconds."""
    sim = await sim_factory({"defaults": {"faults": {"slow": 0.3}}})
    started = time.monotonic()
    await call(sim.addresses[0], "GET", "/api/v1/info", password=None)
    assert time.monotonic() - started >= 0.3


async def test_fault_dag_fails_and_stuck(sim_factory: SimFactory) -> None:
    """dag_fails ends the DAG FAILED with a task log; dag_stuck never finishes."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.2, 0.2]},
                             "agents": {}, "random_faults": {"dag_fails": 1, "dag_stuck": 1}}, agents=2)
    await asyncio.gather(*(call(a, "POST", "/api/v1/obproxy/start") for a in sim.addresses))
    await asyncio.sleep(0.3)
    states = {}
    for a in sim.addresses:
        _, body = await call(a, "GET", "/api/v1/task/dag/" + odp_generic_id(a.split(":")[0], 2886, 1))
        states[body["data"]["state"]] = body["data"]
    assert set(states) == {"FAILED", "RUNNING"}
    assert states["FAILED"]["nodes"][1]["sub_tasks"][0]["task_logs"][-1].startswith(
        "ERROR: [Common.Unexpected]: Unexpected error: failed to start obproxy")


async def test_fault_key_rotation(sim_factory: SimFactory) -> None:
    """key_rotation after 1 request: the next header made with the old key is a DecryptFailed."""
    sim = await sim_factory({"defaults": {"faults": {"key_rotation": {"after_requests": 1}}}})
    addr = sim.addresses[0]
    before = sim.agent(addr).key.public_wire
    assert (await call(addr, "POST", "/api/v1/obproxy/start"))[0] == 200
    assert sim.agent(addr).key.public_wire != before and sim.agent(addr).key_rotations == 1


async def test_fault_forget_dags(sim_factory: SimFactory) -> None:
    """forget_dags_after: the agent 'restarts' — its DAGs answer 404 Task.NotFound and its key changes."""
    sim = await sim_factory({"defaults": {"faults": {"forget_dags_after": 0.2}}})
    addr = sim.addresses[0]
    _, body = await call(addr, "POST", "/api/v1/obproxy/start")
    before = sim.agent(addr).key.public_wire
    await asyncio.sleep(0.3)
    status, resp = await call(addr, "GET", f"/api/v1/task/dag/{body['data']['id']}")
    assert status == 404 and resp["error"]["errCode"] == "Task.NotFound"
    assert sim.agent(addr).key.public_wire != before


async def test_fault_flaky_polls(sim_factory: SimFactory) -> None:
    """flaky_polls: 2 → the first two DAG GETs answer 500, the third works."""
    sim = await sim_factory({"defaults": {"faults": {"flaky_polls": 2}}})
    addr = sim.addresses[0]
    _, body = await call(addr, "POST", "/api/v1/obproxy/start")
    statuses = [(await call(addr, "GET", f"/api/v1/task/dag/{body['data']['id']}"))[0] for _ in range(3)]
    assert statuses == [500, 500, 200]


async def test_fault_drop_after_start(sim_factory: SimFactory) -> None:
    """drop_after_start creates the DAG, then closes the connection without an answer (the ambiguous case)."""
    sim = await sim_factory({"defaults": {"faults": {"drop_after_start": True}}})
    addr = sim.addresses[0]
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(addr, "POST", "/api/v1/obproxy/start")
    assert len(sim.agent(addr).dags) == 1
    _, body = await call(addr, "GET", "/api/v1/task/dag/agent/unfinish")
    assert len(body["data"]["contents"]) == 1


async def test_fault_die_after(sim_factory: SimFactory) -> None:
    """die_after: some seconds after the first start the agent stops answering and listening."""
    sim = await sim_factory({"defaults": {"faults": {"die_after": 0.2}}})
    addr = sim.addresses[0]
    assert (await call(addr, "POST", "/api/v1/obproxy/start"))[0] == 200
    await asyncio.sleep(0.3)
    with pytest.raises(aiohttp.ClientError):
        await call(addr, "GET", "/api/v1/info", password=None)
    with pytest.raises(aiohttp.ClientConnectorError):
        await call(addr, "GET", "/api/v1/info", password=None)


# -- config ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("defaults:\n  verison: 4.3\n", "cfg.yaml:2: defaults.verison: unknown key 'verison' (did you mean 'version'?)"),
    ("defaults:\n  faults:\n    hang: [strat]\n", "cfg.yaml:3: defaults.faults.hang.0: unknown route 'strat'"),
    ("agents:\n  nowhere: {}\n", "cfg.yaml:2: agents.nowhere: agent selector"),
    ("random_faults: {dag_fails: 0.7, refuse: 0.5}\n", "shares add up to 1.2"),
    ("defaults: [1\n", "cfg.yaml:2: invalid YAML"),
    ("defaults:\n  key_bits: 2048\n", "cfg.yaml:2: defaults.key_bits: must be one of 1024, 512"),
    ("defaults:\n  dag_duration: [3, 1]\n", "max is below min"),
    ("seeds: 1\n", "did you mean 'seed'"),
])
def test_config_errors_point_at_the_line(text: str, expected: str) -> None:
    """Invalid configs raise ConfigError naming file:line, the key path, and a did-you-mean hint."""
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml")
    assert expected in str(info.value)


def test_settings_resolution_and_random_faults_are_seeded() -> None:
    """Random faults land on disjoint, seed-determined agents; explicit overrides win; ranges select."""
    cfg = config_from_dict({"defaults": {"dag_duration": [1, 2]},
                            "agents": {"127.30.0.1-127.30.0.3": {"key_bits": 512},
                                       "127.30.0.2:2886": {"faults": {"slow": 1}}},
                            "random_faults": {"dag_fails": 0.25, "refuse": 5}})
    addrs = [(f"127.30.0.{i}", 2886) for i in range(1, 41)]
    first = resolve_settings(cfg, addrs, seed=3)
    assert first == resolve_settings(cfg, addrs, seed=3)
    assert first != resolve_settings(cfg, addrs, seed=4)
    assert sum(s.faults.dag_fails > 0 for s in first) == 10 and sum(s.faults.refuse for s in first) == 5
    assert not any(s.faults.dag_fails and s.faults.refuse for s in first)
    assert [s.key_bits for s in first[:4]] == [512, 512, 512, 1024]
    assert first[1].faults.slow == 1 and first[1].dag_duration == (1.0, 2.0)


def test_example_config_is_valid() -> None:
    """The documented fleet-sim.example.yaml parses."""
    from fleet.simulator.config import load_config

    cfg = load_config(str(REPO / "fleet-sim.example.yaml"))
    assert cfg.seed == 7 and cfg.random_faults


# -- state file and CLI (subprocess) ------------------------------------------------------------------


def test_sigterm_writes_state_and_exits_zero(sim_process: Callable[..., SimProcess]) -> None:
    """SIGTERM writes the state file (requests, trace ids, DAGs, totals) and exits 0."""
    proc = sim_process(FAST, agents=2)
    addr = proc.addresses[0]
    status, body = asyncio.run(call(addr, "POST", "/api/v1/obproxy/start", trace="soak-1"))
    assert status == 200
    asyncio.run(call(addr, "POST", "/api/v1/obproxy/start", password="nope"))
    assert proc.terminate() == 0
    state = proc.final_state()
    mine = state["agents"][addr]
    assert mine["requests"]["POST /api/v1/obproxy/start"] == 2 and mine["starts_accepted"] == 1
    assert mine["starts_refused"] == 1
    assert ["POST /api/v1/obproxy/start", "soak-1"] in mine["trace_ids"]
    assert mine["dags"][0]["id"] == body["data"]["id"] and mine["dags"][0]["name"] == "Start obproxy"
    assert mine["auth_failures"] == {"Security.Authentication.IncorrectAgentPassword": 1}
    assert state["totals"]["agents"] == 2 and state["totals"]["starts_accepted"] == 1 and state["written_at"]


def test_sigusr1_and_interval_rewrite_state(sim_process: Callable[..., SimProcess]) -> None:
    """SIGUSR1 rewrites the state file while serving; --state-interval does it periodically."""
    proc = sim_process(agents=1, extra_args=("--state-interval", "0.2"))
    asyncio.run(call(proc.addresses[0], "GET", "/api/v1/info", password=None))
    assert proc.state()["agents"][proc.addresses[0]]["requests"] == {"GET /api/v1/info": 1}
    first = proc.final_state()["written_at_unix"]
    time.sleep(0.5)
    assert proc.final_state()["written_at_unix"] > first
    assert proc.proc.poll() is None


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleet.simulator", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=30)


@pytest.mark.parametrize("base_ip", ["10.0.0.1", "192.168.1.1", "0.0.0.0", "::1", "127.255.255.250"])
def test_base_ip_outside_loopback_is_refused(base_ip: str) -> None:
    """A base address outside 127.0.0.0/8 (or a range running out of it) → one-line error, exit 5, nothing bound."""
    result = _run_cli("--agents", "10", "--base-ip", base_ip)
    assert result.returncode == 5 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bad_config_is_one_line_exit_5(tmp_path: Path) -> None:
    """A bad config file → 'file:line: …' on one line, exit 5, no traceback."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("defaults:\n  dag_duraton: [1, 2]\n")
    result = _run_cli("--config", str(cfg), "--base-ip", allocate_base_ip(1))
    assert result.returncode == 5
    assert result.stderr.strip() == (f"fleet simulate: error: {cfg}:2: defaults.dag_duraton: unknown key "
                                     "'dag_duraton' (did you mean 'dag_duration'?)")


def test_thousand_agents_start_quickly(sim_process: Callable[..., SimProcess]) -> None:
    """--agents 1000 is READY within seconds and every address answers, including the last (octets roll over)."""
    proc = sim_process(agents=1000)
    assert proc.ready_after < 20
    last = proc.addresses[-1]
    status, body = asyncio.run(call(last, "GET", "/api/v1/info", password=None))
    assert status == 200 and f"{body['data']['ip']}:2886" == last
    assert proc.terminate() == 0
    assert len(read_state(str(proc.state_file))["agents"]) == 1000


def test_signal_interrupt_also_exits_zero(sim_process: Callable[..., SimProcess]) -> None:
    """SIGINT is handled like SIGTERM: state written, exit 0."""
    proc = sim_process(agents=1)
    proc.proc.send_signal(signal.SIGINT)
    assert proc.proc.wait(15) == 0 and proc.state_file.exists()


def test_simulator_never_imports_engine_client_or_cli() -> None:
    """fleet.simulator reuses fleet.protocol and fleet.models only: importing it loads no engine/client/cli."""
    code = ("import sys, fleet.simulator, fleet.simulator.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('fleet.engine', 'fleet.client', 'fleet.cli'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "[]"
