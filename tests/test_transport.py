"""One conformance suite for both HTTP transports (lean and aiohttp), on real loopback sockets.

Normal answers come from fleet's obshell simulator; HTTP-level hostility from small raw servers
(:mod:`rawserver`). Every case checks the error class fleet sees and, where it matters, what
reached the server: ``never_sent`` only when nothing was written, a POST never re-sent.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from rawserver import Conn, RawServer, Request, answer, chunked
from test_tls_ipv6 import TLS_IP, _ipv6_loopback_works, pki  # noqa: F401  (pki is a fixture)

from fleet.cli.config import OPTIONS
from fleet.client import AgentClient, HttpClient
from fleet.client.http import TRANSPORTS
from fleet.errors import (
    BodyTooLarge,
    ConnectError,
    ConnectionLost,
    ProtocolError,
    RequestTimeout,
)
from fleet.models import HostSpec, Limits, Secret, Timeouts, TlsSpec
from fleet.simulator.cli import server_tls
from fleet.simulator.server import Simulator
from fleet.simulator.settings import SimConfig
from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, write_inventory

if TYPE_CHECKING:
    from tests.conftest import SimFactory

PASSWORD = "fleet-sim-password"
CAP = 4096
Make = Callable[..., AbstractAsyncContextManager[HttpClient]]


@pytest.fixture(params=sorted(TRANSPORTS))
def make(request: pytest.FixtureRequest) -> Make:
    """An ``HttpClient`` factory on the transport under test (small body cap, short timeouts)."""

    @asynccontextmanager
    async def factory(connect: float = 1.0, total: float = 3.0, keepalive: float = 6.0) -> AsyncIterator[HttpClient]:
        limits = Limits(max_body_bytes=CAP, keepalive=keepalive, transport=request.param)
        async with HttpClient(limits, Timeouts(connect=connect, request=total)) as http:
            yield http

    return factory


def reply(data: bytes, keep: bool = True) -> Callable[[Conn, Request], object]:
    async def script(conn: Conn, req: Request) -> bool:
        await conn.send(data)
        return keep
    return script


async def get(http: HttpClient, url: str, path: str = "/api/v1/info", method: str = "GET",
              body: bytes | None = None) -> tuple[int, bytes]:
    raw = await http.send(method, url + path, headers={"Accept": "application/json"}, body=body)
    return raw.status, raw.body


async def test_simulator_answers_arrive_whole_and_requests_are_sent_as_given(
        make: Make, sim_factory: SimFactory,
) -> None:
    """Against the simulator: info, secret, an authenticated start and a DAG poll all succeed,
    and each reached the agent exactly once."""
    sim = await sim_factory({"defaults": {"dag_duration": [5, 5]}})
    address, port = sim.addresses[0].split(":")
    async with make() as http:
        client = AgentClient(http, HostSpec(name="a", address=address, port=int(port)), Secret(PASSWORD))
        assert (await client.info()).data.ip == address
        dag = (await client.start_obproxy()).data
        assert (await client.get_dag(dag.id)).data.id == dag.id
    requests = sim.state()["agents"][sim.addresses[0]]["requests"]
    assert requests["POST /api/v1/obproxy/start"] == 1 and requests["GET /api/v1/info"] == 1


async def test_the_request_names_its_target_verbatim_and_asks_for_no_compression(make: Make) -> None:
    """The request-target is sent byte for byte (percent-encoding kept), Host names the agent, no
    Accept-Encoding is sent, and a POST carries its Content-Length."""
    async with RawServer(reply(answer())) as srv, make() as http:
        await get(http, srv.url, "/api/v1/task/dag/a%2Fb?show_details=false")
        await get(http, srv.url, "/api/v1/obproxy/start", method="POST", body=b'{"x":1}')
    first, second = srv.requests
    assert first.target == "/api/v1/task/dag/a%2Fb?show_details=false"
    assert first.headers["host"] == srv.url.removeprefix("http://")
    assert "accept-encoding" not in first.headers and "accept-encoding" not in second.headers
    assert first.headers["user-agent"] == "fleet"
    assert second.method == "POST" and second.headers["content-length"] == "7" and second.body == b'{"x":1}'


async def test_a_request_that_cannot_be_written_is_refused_unsent(make: Make) -> None:
    """A header value with a line break (header injection) never leaves: an error, nothing reaches
    the server."""
    async with RawServer(reply(answer())) as srv, make() as http:
        with pytest.raises(ConnectError, match="not sent") as err:
            await http.send("GET", srv.url + "/api/v1/info", headers={"X-OBSHELL-Trace-ID": "a\r\nX-Evil: 1"})
    assert err.value.never_sent and srv.requests == []


@pytest.mark.parametrize(("status", "data"), [(204, answer(204, b"", length=False)), (200, answer(200, b""))])
async def test_empty_answers_are_empty_bodies(make: Make, status: int, data: bytes) -> None:
    """A 204 without a body and a 200 with Content-Length 0 come back as empty bodies."""
    async with RawServer(reply(data)) as srv, make() as http:
        assert await get(http, srv.url) == (status, b"")


async def test_redirects_are_returned_not_followed(make: Make) -> None:
    """A 302 is the answer: no request goes to its Location."""
    async with RawServer(reply(answer(302, b"", extra="Location: /api/v1/elsewhere\r\n"))) as srv, make() as http:
        assert (await get(http, srv.url))[0] == 302
    assert [r.target for r in srv.requests] == ["/api/v1/info"]


async def test_an_answer_delimited_by_the_connection_end_is_read_whole(make: Make) -> None:
    """No Content-Length, no chunking, Connection: close: the body is everything until the end."""
    async with RawServer(reply(answer(body=b"x" * 3000, extra="Connection: close\r\n", length=False), False)) as srv, \
            make() as http:
        assert await get(http, srv.url) == (200, b"x" * 3000)


async def test_chunked_answers_are_joined(make: Make) -> None:
    """A chunked body within the cap arrives joined."""
    async with RawServer(reply(chunked([b'{"a":', b' 1}']))) as srv, make() as http:
        assert await get(http, srv.url) == (200, b'{"a": 1}')


@pytest.mark.parametrize("data", [
    answer(body=b"x" * (CAP + 1)),
    answer(body=b"x" * (CAP * 4), extra="Connection: close\r\n", length=False),
    chunked([b"x" * 1000] * 8),
], ids=["content-length", "until-close", "chunked"])
async def test_a_body_over_the_cap_is_refused_while_read(make: Make, data: bytes) -> None:
    """Over the body cap, announced or not, chunked or not: BodyTooLarge with the status."""
    async with RawServer(reply(data, False)) as srv, make() as http:
        with pytest.raises(BodyTooLarge) as err:
            await get(http, srv.url)
    assert err.value.status == 200 and not err.value.never_sent


async def test_an_announced_oversize_body_is_refused_before_it_arrives(make: Make) -> None:
    """Content-Length over the cap is refused from the head, with the server still sending."""
    async def script(conn: Conn, req: Request) -> bool:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\nxx")
        await asyncio.sleep(5)
        return False
    async with RawServer(script) as srv, make(total=2.0) as http:
        with pytest.raises(BodyTooLarge, match="999999999"):
            await get(http, srv.url)


async def test_a_body_cut_off_is_connection_lost(make: Make) -> None:
    """Content-Length 100, 10 bytes, then the end: ConnectionLost, the request may have acted."""
    async with RawServer(reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", False)) as srv, \
            make() as http:
        with pytest.raises(ConnectionLost) as err:
            await get(http, srv.url)
    assert not err.value.never_sent


@pytest.mark.parametrize("data", [b"garbage\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"SSH-2.0-OpenSSH_9.6\r\n"])
async def test_a_garbage_status_line_is_a_protocol_error(make: Make, data: bytes) -> None:
    """Something that is not an HTTP status line: ProtocolError, not a crash."""
    async with RawServer(reply(data, False)) as srv, make() as http:
        with pytest.raises(ProtocolError, match="malformed HTTP answer") as err:
            await get(http, srv.url)
    assert not err.value.never_sent and "\n" not in str(err.value)


@pytest.mark.parametrize(("lines", "width"), [(4000, 100), (1, 200_000)], ids=["many-fields", "one-long-field"])
async def test_a_flood_of_headers_is_refused(make: Make, lines: int, width: int) -> None:
    """Thousands of header fields, or one field of 200 KB, before any body: ProtocolError, read bounded."""
    async def script(conn: Conn, req: Request) -> bool:
        await conn.send(b"HTTP/1.1 200 OK\r\n")
        for i in range(lines):
            await conn.send(b"X-Flood-%d: %s\r\n" % (i, b"y" * width))
        await conn.send(b"Content-Length: 2\r\n\r\n{}")
        return False
    async with RawServer(script) as srv, make() as http:
        with pytest.raises(ProtocolError, match="malformed HTTP answer") as err:
            await get(http, srv.url)
    assert "\n" not in str(err.value)


async def test_a_slow_loris_answer_hits_the_total_timeout(make: Make) -> None:
    """A head sent one byte every 0.1 s never completes within the total timeout: RequestTimeout
    (sent, so not never_sent)."""
    async def script(conn: Conn, req: Request) -> bool:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 1000:
            await conn.send(bytes([byte]))
            await asyncio.sleep(0.1)
        return False
    async with RawServer(script) as srv, make(total=0.8) as http:
        with pytest.raises(RequestTimeout) as err:
            await get(http, srv.url)
    assert not err.value.never_sent


async def test_a_refused_connection_was_never_sent(make: Make) -> None:
    """Nothing listens: ConnectError, never_sent."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with make() as http:
        with pytest.raises(ConnectError) as err:
            await get(http, f"http://127.0.0.1:{port}")
    assert err.value.never_sent


async def test_a_blackholed_connect_times_out_and_was_never_sent(make: Make) -> None:
    """A listener whose backlog is full drops new SYNs: connect timeout, ConnectError, never_sent."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        await asyncio.sleep(0.2)
        async with make(connect=0.5, total=3.0) as http:
            with pytest.raises(ConnectError, match="connect timed out") as err:
                await get(http, f"http://127.0.0.1:{port}")
        assert err.value.never_sent
    finally:
        for s in fillers:
            s.close()
        listener.close()


async def test_a_tls_handshake_that_never_answers_is_a_connect_timeout(make: Make) -> None:
    """An https agent that accepts TCP but never speaks TLS: the handshake is part of the connect,
    so the connect timeout ends it and nothing was sent."""
    async with RawServer(reply(answer())) as srv, make(connect=0.5, total=3.0) as http:
        url = srv.url.replace("http://", "https://")
        with pytest.raises(ConnectError, match="connect timed out") as err:
            await http.send("GET", url + "/api/v1/info", headers={}, scheme="https", tls=TlsSpec(verify=False))
    assert err.value.never_sent and srv.requests == []


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_connection_closed_after_the_request_is_not_never_sent(make: Make, method: str) -> None:
    """The server reads the request and closes without answering: ConnectionLost (the agent may
    have acted); a POST reached the server exactly once."""
    async with RawServer(reply(b"", False)) as srv, make() as http:
        with pytest.raises(ConnectionLost) as err:
            await get(http, srv.url, "/api/v1/obproxy/start", method=method)
    assert not err.value.never_sent
    if method == "POST":
        assert len(srv.requests) == 1


async def test_kept_alive_connections_are_reused(make: Make) -> None:
    """Three requests in a row to one agent travel on one connection."""
    async with RawServer(reply(answer())) as srv, make() as http:
        for _ in range(3):
            assert (await get(http, srv.url))[0] == 200
    assert srv.connections == 1 and len(srv.requests) == 3


async def test_idle_connections_are_closed_after_the_keepalive(make: Make) -> None:
    """A kept-alive connection left idle is closed by fleet once Limits.keepalive has passed (finished
    hosts hold no sockets open on either side); the next request opens a fresh one."""
    async with RawServer(reply(answer())) as srv, make(keepalive=0.3) as http:
        await get(http, srv.url)
        for _ in range(40):
            if srv.ended:
                break
            await asyncio.sleep(0.1)
        assert srv.ended == 1
        assert (await get(http, srv.url))[0] == 200
    assert srv.connections == 2


async def test_an_idle_connection_the_server_closed_is_not_used(make: Make) -> None:
    """The server closes a kept-alive connection after answering; the next POST goes on a fresh
    connection and succeeds, sent once."""
    async def script(conn: Conn, req: Request) -> bool:
        await conn.send(answer())
        await asyncio.sleep(0.05)
        return False
    async with RawServer(script) as srv, make() as http:
        await get(http, srv.url)
        await asyncio.sleep(0.3)
        assert (await get(http, srv.url, "/api/v1/obproxy/start", method="POST"))[0] == 200
    assert srv.connections == 2 and [r.method for r in srv.requests] == ["GET", "POST"]


@pytest.mark.parametrize("extra", [
    b"HTTP/1.1 200 OK\r\nContent-Le",
    b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{\"forged\": ",
    answer(body=b'{"forged": true}'),
], ids=["partial-head", "partial-body", "whole-forged-answer"])
async def test_bytes_after_an_answer_never_frame_the_next_one(make: Make, extra: bytes,
                                                              request: pytest.FixtureRequest) -> None:
    """The first answer is followed, in the same write, by (the start of) a message nobody asked for:
    the next request gets its own answer whole, never the extra one nor one framed by it (main,
    lean: the leftover head framed the next answer, status 0). The lean transport closes such a
    connection (the second request goes on a fresh one)."""
    async def script(conn: Conn, req: Request) -> bool:
        if len(srv.requests) == 1:
            await conn.send(answer() + extra)
        else:
            await conn.send(answer(body=b'{"second": true}'))
        return True
    async with RawServer(script) as srv, make() as http:
        assert await get(http, srv.url) == (200, b'{"ok": true}')
        await asyncio.sleep(0.1)  # the extra bytes have arrived
        assert await get(http, srv.url) == (200, b'{"second": true}')
    assert len(srv.requests) == 2
    if request.node.callspec.params["make"] == "lean":
        assert srv.connections == 2 and [r.connection for r in srv.requests] == [1, 2]


async def test_a_chunked_answer_with_an_endless_trailer_hits_the_caps(make: Make) -> None:
    """A chunked answer whose trailer never ends (one field growing for ever): refused while read,
    well before the total timeout, after at most a few head caps' worth of bytes (main, lean: read
    until the timeout, its memory growing with every byte)."""
    sent = 0

    async def script(conn: Conn, req: Request) -> bool:
        nonlocal sent
        await conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: ")
        piece = b"a" * 65536
        for _ in range(1024):  # up to 64 MiB
            await conn.send(piece)
            sent += len(piece)
        return False
    async with RawServer(script) as srv, make(total=20.0) as http:
        with pytest.raises((ProtocolError, BodyTooLarge)):
            await get(http, srv.url)
    assert sent <= 4 * 1024 * 1024, sent


def stale_after_first() -> Callable[[Conn, Request], object]:
    """Answers the first request on each connection; closes on the second without answering."""
    async def script(conn: Conn, req: Request) -> bool:
        if conn.served > 1:
            return False
        await conn.send(answer())
        return True
    return script


async def test_a_stale_connection_never_resends_a_post(make: Make) -> None:
    """A kept-alive connection the server drops on the next request: the POST written to it is
    ConnectionLost (it may have reached the agent) and is never silently sent again."""
    async with RawServer(stale_after_first()) as srv, make() as http:
        await get(http, srv.url)
        with pytest.raises(ConnectionLost) as err:
            await get(http, srv.url, "/api/v1/obproxy/start", method="POST")
    assert not err.value.never_sent
    assert [r.method for r in srv.requests] == ["GET", "POST"]


async def test_a_stale_connection_retries_a_get_on_a_fresh_one(make: Make) -> None:
    """The same stale connection under an idempotent GET: it goes again on a fresh connection."""
    async with RawServer(stale_after_first()) as srv, make() as http:
        await get(http, srv.url)
        assert (await get(http, srv.url))[0] == 200
    assert srv.connections == 2 and [r.connection for r in srv.requests] == [1, 1, 2]


async def test_https_with_mutual_tls(make: Make, pki: dict[str, str], request: pytest.FixtureRequest) -> None:  # noqa: F811
    """HTTPS with a private CA and a client certificate works; trusting another CA fails before
    anything is sent; no client certificate fails cleanly; the agent saw only the good requests."""
    ctx = server_tls(pki["server"], pki["server_key"], pki["ca"])
    # the certificate names TLS_IP: each transport's run (maybe on two xdist workers at once) gets its own port
    port = 28864 + sorted(TRANSPORTS).index(request.node.callspec.params["make"])
    async with Simulator(SimConfig(), agents=1, base_ip=TLS_IP, port=port, ssl_context=ctx) as sim, make() as http:
        def host(tls: TlsSpec) -> AgentClient:
            return AgentClient(http, HostSpec(name="t", address=TLS_IP, port=port, scheme="https", tls=tls),
                               Secret(PASSWORD))
        good = TlsSpec(ca_file=pki["ca"], client_cert=pki["client"], client_key=pki["client_key"])
        assert (await host(good).info()).data.ip == TLS_IP
        assert (await host(good).start_obproxy()).data.name == "Start obproxy"
        with pytest.raises(ConnectError, match="TLS") as err:
            await host(TlsSpec(ca_file=pki["other_ca"], client_cert=pki["client"],
                               client_key=pki["client_key"])).info()
        assert err.value.never_sent
        with pytest.raises((ConnectError, ConnectionLost)):
            await host(TlsSpec(ca_file=pki["ca"])).info()
        assert sim.state()["agents"][f"{TLS_IP}:{port}"]["requests"] == {
            "GET /api/v1/info": 1, "GET /api/v1/secret": 1, "POST /api/v1/obproxy/start": 1}


@pytest.mark.skipif(not _ipv6_loopback_works(), reason="this machine has no IPv6 loopback")
async def test_ipv6_loopback(make: Make, request: pytest.FixtureRequest) -> None:
    """An agent on [::1] is reached, its DAG started and polled."""
    port = 28866 + sorted(TRANSPORTS).index(request.node.callspec.params["make"])  # one per transport's run
    async with Simulator(SimConfig(), agents=1, base_ip="::1", port=port), make() as http:
        client = AgentClient(http, HostSpec(name="v6", address="::1", port=port), Secret(PASSWORD))
        dag = (await client.start_obproxy()).data
        assert (await client.get_dag(dag.id)).data.id == dag.id


def test_an_unknown_transport_is_refused() -> None:
    """Limits.transport must name a transport; the config option accepts only lean and aiohttp."""
    with pytest.raises(ValueError, match="transport must be one of lean, aiohttp, not 'curl'"):
        HttpClient(Limits(transport="curl"))
    option = next(o for o in OPTIONS if o.name == "transport")
    assert option.default in TRANSPORTS and option.convert(" AIOHTTP ") == "aiohttp"
    with pytest.raises(ValueError, match="expected lean or aiohttp"):
        option.convert("curl")


E2E_BASE = "127.48.0.1"
E2E_FAULTS = {0: {"faults": {"refuse": True}}, 1: {"faults": {"garbage": True}}, 2: {"faults": {"garbage": ["start"]}},
              3: {"faults": {"key_rotation": {"after_requests": 1}}}}
E2E_OUTCOMES = {0: "unreachable", 1: "protocol_error", 2: "ambiguous", 3: "succeeded"}


@pytest.mark.parametrize("how", ["flag-aiohttp", "env-lean"])
def test_fleet_start_on_each_transport_gives_the_same_outcomes(tmp_path: Path, how: str) -> None:
    """`fleet start --transport aiohttp` and `FLEET_TRANSPORT=lean` drive the same mixed fleet to the
    same per-host outcomes (refused → unreachable, garbage → protocol_error, garbage start → ambiguous)."""
    ips = addresses(E2E_BASE if how == "env-lean" else "127.48.1.1", 8)
    config = {"seed": 1, "defaults": {"dag_duration": [0.2, 0.4]},
              "agents": {f"{ips[i]}:2886": settings for i, settings in E2E_FAULTS.items()}}
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    args = ["start", "-i", str(inventory), "--quiet", "--no-journal", "--timeout", "30"]
    env = fleet_env(FLEET_TRANSPORT="lean") if how == "env-lean" else fleet_env()
    if how == "flag-aiohttp":
        args += ["--transport", "aiohttp"]
    with sim_fleet(tmp_path, ips[0], len(ips), config):
        run = run_fleet(args, tmp_path, env)
    expected = {ip: E2E_OUTCOMES.get(i, "succeeded") for i, ip in enumerate(ips)}
    assert run.outcomes() == expected


def test_a_bad_transport_setting_is_an_input_error(tmp_path: Path) -> None:
    """FLEET_TRANSPORT=curl: a one-line error naming the variable, exit 5, nothing sent."""
    inventory = write_inventory(tmp_path / "inv.yaml", ["127.48.2.1"])
    run = run_fleet(["start", "-i", str(inventory), "--quiet", "--no-journal"], tmp_path,
                    fleet_env(FLEET_TRANSPORT="curl"))
    assert run.returncode == 5 and "FLEET_TRANSPORT" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
