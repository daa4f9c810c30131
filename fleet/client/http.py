"""The HTTP seam: :class:`HttpClient`, shared by every agent of a run, on a chosen transport.

``HttpClient.send`` returns the status and the (size-capped) body, or raises one of fleet's
:mod:`~fleet.errors` transport errors. ``Limits.transport`` picks the transport: ``lean``
(:mod:`fleet.client.lean`, the default) or ``aiohttp`` (:mod:`fleet.client.aiohttp_transport`);
:mod:`fleet.client.transport` states the contract both keep. No third-party type escapes.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from fleet.client.lean import LeanTransport
from fleet.client.transport import RawResponse, Transport
from fleet.models import Limits, Timeouts, TlsSpec


def _aiohttp(limits: Limits, timeouts: Timeouts) -> Transport:
    """aiohttp's client, imported only when chosen (its import costs ~0.13 s of CPU per run)."""
    from fleet.client.aiohttp_transport import AiohttpTransport

    return AiohttpTransport(limits, timeouts)


TRANSPORTS: dict[str, Callable[[Limits, Timeouts], Transport]] = {"lean": LeanTransport, "aiohttp": _aiohttp}

__all__ = ["TRANSPORTS", "HttpClient", "RawResponse"]


class HttpClient:
    """A pooled HTTP client shared by every agent of a run (``async with`` opens and closes it)."""

    def __init__(self, limits: Limits = Limits(), timeouts: Timeouts = Timeouts()) -> None:
        factory = TRANSPORTS.get(limits.transport)
        if factory is None:
            raise ValueError(f"unknown transport {limits.transport!r} (expected {' or '.join(TRANSPORTS)})")
        self.transport_name = limits.transport
        self._transport: Transport = factory(limits, timeouts)

    async def __aenter__(self) -> HttpClient:
        await self._transport.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._transport.close()

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        scheme: str = "http",
        tls: TlsSpec = TlsSpec(),
    ) -> RawResponse:
        """One request, no redirects, body read up to ``Limits.max_body_bytes``."""
        return await self._transport.send(method, url, headers, body, scheme, tls)
