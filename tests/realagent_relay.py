"""A loopback TCP relay in front of one real agent, for faults a real agent will not make itself.

fleet talks to the relay's port; the relay forwards every byte to the agent, except that it can
- ``drop_start_answers``: forward a ``POST /api/v1/obproxy/start`` to the agent, let the agent
  act on it, and close the client's connection instead of passing the answer on (a lost answer);
- ``delay_starts``: hold each start request that long before forwarding it, so its auth header
  arrives past its expiry on the agent's clock (other requests pass at once, so fleet's estimate
  of the agent's clock offset stays near zero).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

START_LINE = b"POST /api/v1/obproxy/start"


@dataclass
class Relay:
    """Listens on ``ip:port`` (127.0.0.0/8) and forwards to ``127.0.0.1:target_port``."""

    ip: str
    target_port: int
    drop_start_answers: int = 0
    delay_starts: float = 0.0
    dropped: int = 0
    port: int = 0
    _server: socket.socket | None = field(default=None, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _open: list[socket.socket] = field(default_factory=list, repr=False)

    def __enter__(self) -> Relay:
        server = socket.create_server((self.ip, self.port))
        self.port = server.getsockname()[1]
        self._server = server
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            state = {"drop": False}
            self._spawn(self._requests, client, upstream, state)
            self._spawn(self._answers, upstream, client, state)

    def _requests(self, client: socket.socket, upstream: socket.socket, state: dict[str, bool]) -> None:
        while data := _recv(client):
            if self.delay_starts and START_LINE in data:
                time.sleep(self.delay_starts)
            with self._lock:
                if START_LINE in data and self.dropped < self.drop_start_answers:
                    self.dropped += 1
                    state["drop"] = True
            with contextlib.suppress(OSError):
                upstream.sendall(data)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def _answers(self, upstream: socket.socket, client: socket.socket, state: dict[str, bool]) -> None:
        while data := _recv(upstream):
            if state["drop"]:
                break
            with contextlib.suppress(OSError):
                client.sendall(data)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""
