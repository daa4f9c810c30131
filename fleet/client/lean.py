"""The lean transport: HTTP/1.1 on asyncio protocols with llhttp, a kept-alive connection per agent.

It does what fleet needs and nothing else: no redirects, no compression, no cookies, no proxies,
no DNS cache (agents are addressed by IP or a name the resolver answers), one request at a time
per connection. Idle connections are kept for ``Limits.keepalive`` seconds, then closed by one
sweep that runs every quarter of that while any connection is idle (one timer for all of them,
not one per request: timers are a visible share of a run's CPU).
"""

from __future__ import annotations

import asyncio
import ssl

from fleet.client.http1 import Connection
from fleet.client.transport import IDEMPOTENT_METHODS, RawResponse, TlsContexts, check_headers
from fleet.errors import ConnectError, ConnectionLost, RequestTimeout
from fleet.models import Limits, Timeouts, TlsSpec

_DEFAULT_PORTS = {"http": 80, "https": 443}
_USER_AGENT = b"User-Agent: fleet\r\n"
_Origin = tuple[str, str, int, TlsSpec]


class LeanTransport:
    """Every agent's connections, keyed by origin (scheme, host, port, TLS settings)."""

    def __init__(self, limits: Limits, timeouts: Timeouts) -> None:
        self._limits = limits
        self._timeouts = timeouts
        self._tls = TlsContexts()
        self._idle: dict[_Origin, list[Connection]] = {}
        self._live: set[Connection] = set()
        self._origins: dict[str, tuple[str, int, bytes]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._live):
            conn.close()
        self._live.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports run their close callbacks

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None, scheme: str,
                   tls: TlsSpec) -> RawResponse:
        loop = self._loop
        assert loop is not None, "HttpClient used outside 'async with'"
        host, port, target, host_line = self._split(url)
        try:
            head = [f"{method} {target} HTTP/1.1\r\n".encode("ascii"), host_line, _USER_AGENT]
            check_headers(headers)
            for name, value in headers.items():
                head.append(f"{name}: {value}\r\n".encode("latin-1"))
        except UnicodeEncodeError:
            raise ConnectError(f"not sent: {method} {url!r} is not plain ASCII/Latin-1") from None
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: %d\r\n" % len(body or b""))
        head.append(b"\r\n")
        if body:
            head.append(body)
        data = b"".join(head)
        origin: _Origin = (scheme, host, port, tls)
        deadline = loop.time() + self._timeouts.request
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                return await self._exchange(conn, origin, data, deadline)
            except ConnectionLost:
                # A kept-alive connection the agent had already given up on: an idempotent request
                # may go again on a fresh one if nothing of an answer arrived (RFC 9112 §9.3.1).
                if method not in IDEMPOTENT_METHODS or conn.received_any:
                    raise
        conn = await self._connect(origin, deadline)
        return await self._exchange(conn, origin, data, deadline)

    def _split(self, url: str) -> tuple[str, int, str, bytes]:
        """(host, port, request-target, Host header line) of an absolute URL, kept byte for byte."""
        slash = url.find("/", url.find("://") + 3)
        if slash < 0:
            slash = len(url)
        base = url[:slash]
        known = self._origins.get(base)
        if known is None:
            scheme, _, authority = base.partition("://")
            if authority.startswith("["):
                host, _, rest = authority[1:].partition("]")
                port_text = rest[1:] if rest.startswith(":") else ""
            else:
                host, _, port_text = authority.partition(":")
            if not host or scheme not in _DEFAULT_PORTS or not (port_text.isdigit() or port_text == ""):
                raise ConnectError(f"invalid URL {url}")
            port = int(port_text) if port_text else _DEFAULT_PORTS[scheme]
            try:
                host_line = f"Host: {authority}\r\n".encode("ascii")
            except UnicodeEncodeError:
                raise ConnectError(f"invalid URL {url}") from None
            known = (host, port, host_line)
            self._origins[base] = known
        return known[0], known[1], url[slash:] or "/", known[2]

    def _take_idle(self, origin: _Origin) -> Connection | None:
        pool = self._idle.get(origin)
        while pool:
            conn = pool.pop()
            if conn.open:
                return conn
            self._live.discard(conn)
        return None

    async def _connect(self, origin: _Origin, deadline: float) -> Connection:
        loop = self._loop
        assert loop is not None
        scheme, host, port, tls = origin
        ctx: ssl.SSLContext | None = self._tls.get(tls) if scheme == "https" else None
        budget = min(self._timeouts.connect, deadline - loop.time())
        cap = self._limits.max_body_bytes
        try:
            async with asyncio.timeout(budget):
                _, conn = await loop.create_connection(
                    lambda: Connection(cap), host, port, ssl=ctx, server_hostname=host if ctx else None)
        except TimeoutError:
            raise ConnectError(f"connect timed out after {self._timeouts.connect:g} s") from None
        except ssl.SSLCertVerificationError as exc:
            raise ConnectError(f"TLS certificate refused: {exc.verify_message or exc.reason}") from None
        except ssl.SSLError as exc:
            raise ConnectError(f"TLS handshake failed: {exc.reason or exc}") from None
        except OSError as exc:  # refused, unreachable, name not resolved (socket.gaierror)
            raise ConnectError(f"cannot connect: {exc.strerror or exc}") from None
        self._live.add(conn)
        return conn

    async def _exchange(self, conn: Connection, origin: _Origin, data: bytes, deadline: float) -> RawResponse:
        loop = self._loop
        assert loop is not None
        answer: asyncio.Future[RawResponse] = loop.create_future()
        timer = loop.call_at(deadline, _expire, answer, self._timeouts.request)
        try:
            conn.request(data, answer)
            response = await answer
        except BaseException:
            conn.close()
            self._live.discard(conn)
            raise
        finally:
            timer.cancel()
        if conn.reusable and conn.open:
            conn.idle_since = loop.time()
            self._idle.setdefault(origin, []).append(conn)
            if self._sweeper is None:
                self._sweeper = loop.call_later(self._limits.keepalive / 4, self._sweep)
        else:
            conn.close()
            self._live.discard(conn)
        return response

    def _sweep(self) -> None:
        """Close connections idle for ``Limits.keepalive`` seconds or closed by the agent."""
        loop = self._loop
        assert loop is not None
        oldest = loop.time() - self._limits.keepalive
        for origin in list(self._idle):
            pool = self._idle[origin]
            keep = [conn for conn in pool if conn.idle_since > oldest and conn.open]
            for conn in pool:
                if conn.idle_since <= oldest or not conn.open:
                    conn.close()
                    self._live.discard(conn)
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]
        self._sweeper = loop.call_later(self._limits.keepalive / 4, self._sweep) if self._idle else None


def _expire(answer: asyncio.Future[RawResponse], seconds: float) -> None:
    if not answer.done():
        answer.set_exception(RequestTimeout(f"no complete answer within {seconds:g} s"))
