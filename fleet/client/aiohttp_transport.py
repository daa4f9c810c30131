"""The aiohttp transport: one shared session, its limits, and aiohttp's errors translated.

The connector's limits are derived from :class:`~fleet.models.Limits` here: the engine's
semaphores bound requests in flight; the connector must never be the (silent) bottleneck, so its
cap is set just above the sum of those semaphores.
"""

from __future__ import annotations

import aiohttp
from yarl import URL

from fleet.client.transport import RawResponse, TlsContexts, check_headers
from fleet.errors import BodyTooLarge, ConnectError, ConnectionLost, ProtocolError, RequestTimeout
from fleet.models import Limits, Timeouts, TlsSpec

_READ_CHUNK = 64 * 1024


class AiohttpTransport:
    """A pooled aiohttp ``ClientSession`` shared by every agent of a run."""

    def __init__(self, limits: Limits, timeouts: Timeouts) -> None:
        self._limits = limits
        self._timeouts = timeouts
        self._session: aiohttp.ClientSession | None = None
        self._tls = TlsContexts()

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._limits.forks + self._limits.polls_in_flight + 16,
            limit_per_host=0,
            ttl_dns_cache=300,
            keepalive_timeout=self._limits.keepalive,
            enable_cleanup_closed=False,
        )
        timeout = aiohttp.ClientTimeout(total=self._timeouts.request, sock_connect=self._timeouts.connect)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            headers={"User-Agent": "fleet"},
            trust_env=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None, scheme: str,
                   tls: TlsSpec) -> RawResponse:
        assert self._session is not None, "HttpClient used outside 'async with'"
        check_headers(headers)
        cap = self._limits.max_body_bytes
        ssl_arg = self._tls.get(tls) if scheme == "https" else True
        try:
            # The URL is sent exactly as given (already percent-encoded): the auth header's uri
            # must equal the request-target byte for byte.
            async with self._session.request(
                method, URL(url, encoded=True), headers=headers, data=body, allow_redirects=False, ssl=ssl_arg
            ) as resp:
                length = resp.content_length
                if length is not None and length > cap:
                    raise BodyTooLarge(f"HTTP {resp.status} body of {length} bytes exceeds the {cap}-byte cap",
                                       status=resp.status)
                chunks: list[bytes] = []
                size = 0
                while chunk := await resp.content.read(_READ_CHUNK):
                    size += len(chunk)
                    if size > cap:
                        raise BodyTooLarge(f"HTTP {resp.status} body exceeds the {cap}-byte cap", status=resp.status)
                    chunks.append(chunk)
                return RawResponse(resp.status, b"".join(chunks))
        except ProtocolError:
            raise
        except aiohttp.ClientConnectorCertificateError as exc:
            raise ConnectError(f"TLS certificate refused: {exc.certificate_error}") from None
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"cannot connect: {_os_reason(exc)}") from None
        except aiohttp.ConnectionTimeoutError:
            raise ConnectError(f"connect timed out after {self._timeouts.connect:g} s") from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise RequestTimeout(f"no complete answer within {self._timeouts.request:g} s") from None
        except aiohttp.ServerDisconnectedError:
            raise ConnectionLost("the agent closed the connection before answering") from None
        except aiohttp.ClientPayloadError:
            raise ConnectionLost("the answer was cut off mid-body") from None
        except aiohttp.ClientResponseError as exc:
            reason = " ".join(str(exc.message).split())  # aiohttp's parser messages span lines
            raise ProtocolError(f"malformed HTTP answer: {reason}", status=exc.status or None) from None
        except aiohttp.InvalidURL:
            raise ConnectError(f"invalid URL {url}") from None
        except aiohttp.ClientOSError as exc:
            raise ConnectionLost(f"connection failed: {_os_reason(exc)}") from None
        except aiohttp.ClientError as exc:
            raise ConnectionLost(f"HTTP failure: {type(exc).__name__}") from None


def _os_reason(exc: OSError) -> str:
    inner = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    reason = getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
    return str(reason)
