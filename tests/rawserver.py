"""A tiny raw HTTP/1.1 server on loopback for transport tests: each behaviour is a script.

A script is an async function ``(conn, request) -> bool`` called for every request head read on a
connection; it writes whatever bytes it likes (well-formed or hostile) and returns True to keep
reading requests on that connection. The server records every request it read, and on which
connection, so tests can check what reached it (never twice, reuse, no re-send).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    connection: int
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Conn:
    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    served: int = 0

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()


Script = Callable[[Conn, Request], Awaitable[bool]]


@dataclass
class RawServer:
    script: Script
    host: str = "127.0.0.1"
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    #: connections that ended (either side closed them)
    ended: int = 0
    url: str = ""
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.url = f"http://{self.host}:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        conn = Conn(self.connections, reader, writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(conn.number, method, target, headers, body)
                self.requests.append(request)
                conn.served += 1
                if not await self.script(conn, request):
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self.ended += 1
            writer.close()
            self._tasks.discard(task)


def answer(status: int = 200, body: bytes = b'{"ok": true}', *, extra: str = "", length: bool = True) -> bytes:
    """A complete answer; ``length=False`` leaves out Content-Length (the body ends with the connection)."""
    reason = {200: "OK", 204: "No Content", 302: "Found"}.get(status, "X")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{extra}"
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def chunked(parts: list[bytes], status: int = 200) -> bytes:
    out = [f"HTTP/1.1 {status} OK\r\nTransfer-Encoding: chunked\r\n\r\n".encode()]
    out += [b"%x\r\n%s\r\n" % (len(p), p) for p in parts]
    out.append(b"0\r\n\r\n")
    return b"".join(out)
