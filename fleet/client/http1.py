"""One HTTP/1.1 client connection: an :class:`asyncio.Protocol` reading answers with llhttp.

:class:`Connection` writes a request and resolves :attr:`Connection.answer` with a
:class:`~fleet.client.transport.RawResponse` or one of fleet's errors. Everything an agent sends
is bounded while it is read: the status line and headers (:data:`MAX_HEAD_BYTES`,
:data:`MAX_HEADERS`) and the body (the cap given, announced or not, chunked or not).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import cast

import httptools

from fleet.client.transport import RawResponse
from fleet.errors import AgentError, BodyTooLarge, ConnectionLost, ProtocolError

#: bytes of status line and headers accepted before the head must be complete
MAX_HEAD_BYTES = 64 * 1024
#: header fields accepted in one answer
MAX_HEADERS = 100
#: framing bytes (chunk sizes, extensions, trailers) accepted per body byte, beyond MAX_HEAD_BYTES
MAX_FRAMING_PER_BODY_BYTE = 8


class Connection(asyncio.Protocol):
    """A kept-alive connection to one agent, one request at a time."""

    __slots__ = ("_cap", "_chunked", "_chunks", "_done", "_eof", "_framing", "_head_bytes", "_head_done", "_headers",
                 "_length", "_parser", "_size", "_stalled", "_status", "answer", "idle_since", "received_any",
                 "reusable", "transport")

    def __init__(self, cap: int) -> None:
        self.transport: asyncio.Transport | None = None
        self._cap = cap
        self._parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[RawResponse] | None = None
        #: True while the connection may carry another request
        self.reusable = False
        #: bytes of the current answer seen (decides whether a stale connection may be retried)
        self.received_any = False
        #: loop time the connection last went idle (see LeanTransport's sweep)
        self.idle_since = 0.0
        self._eof = False
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._chunks: list[bytes] = []
        self._size = 0
        self._length: int | None = None
        self._chunked = False
        self._head_bytes = 0
        self._headers = 0
        self._head_done = False
        self._done = False
        #: bytes after the head that were not body (chunk framing, trailers), and those since the body last grew
        self._framing = 0
        self._stalled = 0

    # -- used by the transport ---------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.transport is not None and not self._eof and not self.transport.is_closing()

    def request(self, data: bytes, answer: asyncio.Future[RawResponse]) -> None:
        """Write one request; ``answer`` is resolved when its answer is complete or fails."""
        assert self.transport is not None
        self._reset()
        self.reusable = False
        self.received_any = False
        self.answer = answer
        self.transport.write(data)

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    # -- asyncio callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Any loop's stream transport (asyncio's, uvloop's: not an asyncio.Transport subclass there)
        # has the write/close/is_closing this class uses.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.answer is None or self.answer.done():
            self.close()  # bytes nobody asked for: this connection can no longer be trusted
            return
        self.received_any = True
        body_before, head_before = self._size, self._head_done
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            inner = exc.__context__
            self._fail(inner if isinstance(inner, AgentError) else
                       ProtocolError(f"malformed HTTP answer: {inner}", status=self._status or None))
            return
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("malformed HTTP answer: an upgrade was not asked for",
                                     status=self._status or None))
            return
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"malformed HTTP answer: {exc}", status=self._status or None))
            return
        if not self._head_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(ProtocolError(f"malformed HTTP answer: headers exceed {MAX_HEAD_BYTES} bytes"))
        elif head_before and not self._done:
            self._check_framing(len(data), self._size - body_before)

    def _check_framing(self, received: int, body: int) -> None:
        """Bound what a chunked answer sends besides its body: a trailer or chunk extension that never
        ends is refused (the parser would hold it in memory), as is framing out of all proportion."""
        self._framing += received - body
        self._stalled = 0 if body else self._stalled + received
        if self._stalled > MAX_HEAD_BYTES or self._framing > MAX_HEAD_BYTES + MAX_FRAMING_PER_BODY_BYTE * self._size:
            self._fail(ProtocolError(f"malformed HTTP answer: chunk framing or trailers exceed {MAX_HEAD_BYTES} bytes",
                                     status=self._status or None))

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._head_done and not self._done and not self._chunked and self._length is None:
            self._finish()  # an answer delimited by the end of the connection
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self.reusable = False
        if self.answer is None or self.answer.done():
            return
        if self._head_done:
            self._fail(ConnectionLost("the answer was cut off mid-body"))
        elif isinstance(exc, ssl.SSLError):
            self._fail(ConnectionLost(f"TLS failure: {exc.reason or exc}"))
        elif isinstance(exc, OSError):
            self._fail(ConnectionLost(f"connection failed: {exc.strerror or exc}"))
        else:
            self._fail(ConnectionLost("the agent closed the connection before answering"))

    # -- llhttp callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._done:  # a second message after the answer: it must never frame the next one
            raise ProtocolError("bytes after a complete answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        if self._headers > MAX_HEADERS:
            raise ProtocolError(f"malformed HTTP answer: more than {MAX_HEADERS} header fields")
        lower = name.lower()
        if lower == b"content-length":
            try:
                self._length = int(value)
            except ValueError:
                raise ProtocolError("malformed HTTP answer: bad Content-Length") from None
        elif lower == b"transfer-encoding":
            self._chunked = b"chunked" in value.lower()

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._status = status = self._parser.get_status_code()
        if self._length is not None and self._length > self._cap and not self._chunked:
            raise BodyTooLarge(f"HTTP {status} body of {self._length} bytes exceeds the {self._cap}-byte cap",
                               status=status)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._cap:
            raise BodyTooLarge(f"HTTP {self._status} body exceeds the {self._cap}-byte cap", status=self._status)
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            self._reset()  # an interim answer: the real one follows
            return
        self.reusable = self._parser.should_keep_alive()
        self._finish()

    # -- outcome -----------------------------------------------------------------------

    def _finish(self) -> None:
        self._done = True
        answer = self.answer
        if answer is not None and not answer.done():
            answer.set_result(RawResponse(self._status, b"".join(self._chunks)))
        self._chunks = []  # an idle connection keeps no answer alive

    def _fail(self, error: AgentError) -> None:
        self.close()
        answer = self.answer
        if answer is not None and not answer.done():
            answer.set_exception(error)
