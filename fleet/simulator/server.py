"""Serve many simulated agents from one aiohttp application, one listening socket per address.

Every agent listens on its own loopback address (``127.x.y.z:port``); the shared handler finds
the agent from the socket's local address. Only 127.0.0.0/8 is ever bound.

Usage (in-process)::

    async with Simulator(config, agents=3, base_ip="127.30.0.1") as sim:
        sim.addresses          # ["127.30.0.1:2886", ...]
        sim.agent("127.30.0.1:2886").settings
        sim.state()            # the state file's document
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import random
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from fleet.simulator.agent import SimAgent
from fleet.simulator.config import resolve_settings
from fleet.simulator.exchange import Action, Answer, Env, SimRequest
from fleet.simulator.keys import KeyPool
from fleet.simulator.settings import SimConfig
from fleet.simulator.state import build_state, write_state

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
OVERSIZE_BYTES = 10 * 1024 * 1024
_GARBAGE = b"<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>\n"


def _blackhole(ip: str, port: int) -> list[socket.socket]:
    """A listening socket whose accept queue is full and never drained: the kernel drops new
    SYNs, so clients see a connect timeout, as with a filtered port or a frozen host."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((ip, port))
    listener.listen(0)
    fillers = []
    for _ in range(2):
        filler = socket.socket(family, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect((ip, port))
        fillers.append(filler)
    return [listener, *fillers]


class AddressError(ValueError):
    """Raised when the requested agent addresses are not all inside 127.0.0.0/8."""


def _split(address: str) -> tuple[str, int]:
    """``("ip", port)`` of an ``IP:PORT`` (the hostile settings checked it has that shape)."""
    ip, _, port = address.rpartition(":")
    return ip.strip("[]"), int(port)


def agent_addresses(base_ip: str, count: int) -> list[str]:
    """``count`` consecutive IPv4 addresses from ``base_ip``, all inside 127.0.0.0/8 (or ``::1`` alone)."""
    if base_ip == "::1":
        if count != 1:
            raise AddressError("--base-ip ::1 serves exactly one agent (IPv6 has one loopback address)")
        return ["::1"]
    try:
        first = ipaddress.IPv4Address(base_ip)
    except ValueError:
        raise AddressError(f"--base-ip {base_ip!r} is not an IPv4 loopback address (or ::1)") from None
    if first not in LOOPBACK or first == LOOPBACK.network_address:
        raise AddressError(f"--base-ip {base_ip} is outside 127.0.0.0/8; the simulator binds loopback only")
    if count < 1:
        raise AddressError("--agents must be at least 1")
    last = int(first) + count - 1
    if last >= int(LOOPBACK.broadcast_address):
        raise AddressError(f"{count} agents from {base_ip} run past 127.255.255.254")
    return [str(ipaddress.IPv4Address(int(first) + i)) for i in range(count)]


class Simulator:
    """A fleet of simulated agents served by one aiohttp application."""

    def __init__(self, config: SimConfig, *, agents: int, base_ip: str = "127.30.0.1", port: int = 2886,
                 seed: int | None = None, clock: Callable[[], float] = time.time,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self._ssl = ssl_context
        self.seed = config.seed if seed is None else seed
        self.port = port
        self._ips = agent_addresses(base_ip, agents)
        self._settings = resolve_settings(config, [(ip, port) for ip in self._ips], self.seed)
        served = {(ip, port) for ip in self._ips}
        for (ip, _), s in zip([(ip, port) for ip in self._ips], self._settings):
            target = s.faults.hostile.impersonate
            if target is not None and (_split(target) not in served or _split(target) == (ip, port)):
                raise AddressError(f"hostile impersonate of {ip}:{port}: {target} is not another simulated agent")
        self._clock = clock
        self._rng = random.Random(self.seed)
        self._keys = KeyPool(config.key_pool, start=self._rng.randrange(config.key_pool))
        self._env = Env(self._rng, self._keys.fresh)
        self._agents: dict[tuple[str, int], SimAgent] = {}
        self._servers: dict[tuple[str, int], asyncio.AbstractServer] = {}
        self._blackholes: list[socket.socket] = []
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._oversize: bytes | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the agents (keys from the pool) and listen on every address but the refusing ones."""
        now = self._clock()
        addresses = [(ip, self.port) for ip in self._ips]
        for (ip, port), s in zip(addresses, self._settings):
            agent = SimAgent(ip, port, s, self._keys.take(s.key_bits), pid=self._rng.randrange(1000, 4_000_000),
                             started_ns=int(now * 1e9), key_since=now)
            self._agents[(ip, port)] = agent
        for agent in self._agents.values():
            target = agent.settings.faults.hostile.impersonate
            if target is not None:
                agent.poses_as = self._agents[_split(target)]
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        factory = self._runner.server
        assert factory is not None
        loop = asyncio.get_running_loop()
        try:
            for key, agent in self._agents.items():
                if agent.settings.faults.refuse:
                    continue
                if agent.settings.faults.blackhole:
                    self._blackholes.extend(_blackhole(*key))
                    continue
                self._servers[key] = await loop.create_server(factory, key[0], key[1], backlog=256,
                                                              reuse_address=True, ssl=self._ssl)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop listening, release hanging handlers, close connections."""
        self._closing.set()
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        for sock in self._blackholes:
            sock.close()
        self._blackholes.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- inspection ------------------------------------------------------------------------

    @property
    def addresses(self) -> list[str]:
        """Every agent's ``ip:port`` (refusing ones included), in address order."""
        return [f"{ip}:{port}" for ip, port in self._agents]

    @property
    def agents(self) -> list[SimAgent]:
        return list(self._agents.values())

    def agent(self, address: str) -> SimAgent:
        ip, _, port = address.rpartition(":")
        return self._agents[(ip, int(port))]

    def state(self) -> dict[str, Any]:
        """The state file's document, now."""
        return build_state(self._agents.values(), self._clock())

    async def write_state(self, path: str) -> None:
        """Snapshot on the loop (consistent), serialise and write in a thread (never blocks the loop)."""
        doc = self.state()
        await asyncio.to_thread(write_state, path, doc)

    # -- the handler -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        agent = self._agents.get((sockname[0], sockname[1])) if sockname else None
        if agent is None or transport is None:
            raise web.HTTPNotFound()
        body = await request.read()
        answer = agent.handle(SimRequest(request.method, request.raw_path, request.headers, body),
                             self._clock(), self._env)
        if answer.action == Action.DEAD:
            server = self._servers.pop((agent.ip, agent.port), None)
            if server is not None:
                server.close()
            transport.abort()
            return web.Response()
        if answer.action == Action.HANG:
            await self._closing.wait()
            transport.abort()
            return web.Response()
        if answer.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), answer.delay)
        if answer.action == Action.DROP:
            transport.abort()
            return web.Response()
        if answer.action == Action.PLAIN:
            return web.Response(status=404, text="404 page not found")
        if answer.action == Action.GARBAGE:
            return web.Response(status=200, body=_GARBAGE, content_type="text/html")
        if answer.action == Action.OVERSIZE:
            return web.Response(status=200, body=self._oversize_body(), content_type="application/json")
        if answer.action == Action.TRUNCATED:
            return await self._truncated(request, transport)
        if answer.action == Action.RAW:
            return web.Response(status=answer.status, body=answer.body, content_type="application/json")
        return web.Response(status=answer.status, body=_render(answer), content_type="application/json",
                            charset="utf-8")

    def _oversize_body(self) -> bytes:
        if self._oversize is None:
            head = b'{"successful":true,"status":200,"traceId":"","data":{"padding":"'
            tail = b'"}}'
            self._oversize = head + b"x" * (OVERSIZE_BYTES - len(head) - len(tail)) + tail
        return self._oversize

    async def _truncated(self, request: web.Request, transport: asyncio.BaseTransport) -> web.StreamResponse:
        part = b'{"successful":true,"status":200,"traceId":"0000000000000000","data":{"ip":'
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        resp.content_length = len(part) + 4096
        await resp.prepare(request)
        await resp.write(part)
        transport.close()
        return resp


def _render(answer: Answer) -> bytes:
    return json.dumps(answer.doc, separators=(",", ":")).encode("utf-8")
