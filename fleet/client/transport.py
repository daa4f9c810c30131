"""What every HTTP transport of fleet provides, and the TLS contexts they share.

A transport sends one request and returns the status and the (size-capped) body, or raises one
of fleet's :mod:`~fleet.errors` transport errors; no third-party type escapes it. Two exist:
``lean`` (:mod:`fleet.client.lean`, asyncio protocols and llhttp) and ``aiohttp``
(:mod:`fleet.client.aiohttp_transport`). Both follow the same contract, checked by
``tests/test_transport.py``:

* ``ConnectError`` (``never_sent``) only when no byte of the request was written: refused, no
  route, connect timeout, TLS handshake refused;
* after the first byte is written, a broken connection is ``ConnectionLost`` and a missed
  deadline ``RequestTimeout``; a non-idempotent request is never re-sent; an idempotent one
  (GET) is re-sent once on a fresh connection when a kept-alive connection turns out stale;
* redirects are returned, never followed; no compression is asked for; the body is cut at
  ``Limits.max_body_bytes`` while it is read (``BodyTooLarge``).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Protocol

from fleet.errors import ConnectError
from fleet.models import TlsSpec

#: methods RFC 9110 calls idempotent: the only ones re-sent after a stale kept-alive connection
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    body: bytes


class Transport(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None, scheme: str,
                   tls: TlsSpec) -> RawResponse: ...


def check_headers(headers: dict[str, str]) -> None:
    """Refuse (unsent) header values that would split the request: a line break inside one."""
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise ConnectError(f"not sent: header {name} contains a line break")


class TlsContexts:
    """One :class:`ssl.SSLContext` per distinct :class:`~fleet.models.TlsSpec`, built on first use."""

    def __init__(self) -> None:
        self._by_spec: dict[TlsSpec, ssl.SSLContext] = {}

    def get(self, tls: TlsSpec) -> ssl.SSLContext:
        ctx = self._by_spec.get(tls)
        if ctx is None:
            try:
                ctx = ssl.create_default_context(cafile=tls.ca_file)
                if not tls.verify:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                if tls.client_cert:
                    ctx.load_cert_chain(tls.client_cert, tls.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise ConnectError(f"TLS setup failed: {exc}") from None
            self._by_spec[tls] = ctx
        return ctx
