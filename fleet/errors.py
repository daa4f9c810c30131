"""fleet's exception tree.

::

    FleetError
    ├── InputError                 bad inventory, options or password source; nothing was sent (exit 5)
    │   └── InventoryError         points at file:line
    └── AgentError                 one agent could not be talked to as asked (per-host, becomes data)
        ├── TransportError         no usable HTTP answer
        │   ├── ConnectError       the request provably never left: refused, no route, connect timeout
        │   ├── RequestTimeout     sent, but no complete answer in time (the agent may have acted)
        │   └── ConnectionLost     sent, then the connection broke (the agent may have acted)
        ├── ProtocolError          an answer arrived but it is not an obshell answer
        │   └── BodyTooLarge       the body exceeded the size cap
        └── ApiFailure             a well-formed obshell error envelope
            ├── AuthRefused        401: decrypt/uri/expiry/password refused; nothing was done
            ├── NotFound           404 / old-agent not-found: unknown route or unknown DAG
            ├── DagLookupFailed    404 Task.NotFound from a failed lookup (busy sqlite): transient
            └── OperatorRefused    the agent refused a DAG operator (not failed, cannot roll back, ...)

aiohttp's exceptions are translated into these once, inside ``fleet.client``; no aiohttp type
escapes it. Messages never contain secrets.
"""

from __future__ import annotations

from fleet.models import ApiError


class FleetError(Exception):
    """Root of every error fleet raises on purpose."""


class InputError(FleetError):
    """Raised when the user's input (options, inventory, password source) is unusable.

    Raised before any request is sent; the CLI prints the one-line message and exits 5.
    """


class InventoryError(InputError):
    """Raised when an inventory file is invalid; carries the file and line it points at."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = message
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        super().__init__(f"{where}{message}")


class AgentError(FleetError):
    """Raised by the client when one agent could not be talked to as asked."""

    #: True when the request provably never reached the agent (safe to re-send).
    never_sent: bool = False

    def __init__(self, message: str, trace_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.trace_id = trace_id

    def as_api_error(self) -> ApiError:
        return ApiError(status=None, code=None, err_code=None, message=self.message)


class TransportError(AgentError):
    """Raised when no usable HTTP answer arrived."""


class ConnectError(TransportError):
    """Raised when the connection could not be made; the request was never sent."""

    never_sent = True


class RequestTimeout(TransportError):
    """Raised when the request was sent but no complete answer arrived in time."""


class ConnectionLost(TransportError):
    """Raised when the connection broke after the request was sent."""


class ProtocolError(AgentError):
    """Raised when an answer arrived but is not an obshell answer (not JSON, bad envelope, wrong types)."""

    def __init__(self, message: str, trace_id: str | None = None, status: int | None = None) -> None:
        super().__init__(message, trace_id)
        self.status = status

    def as_api_error(self) -> ApiError:
        return ApiError(status=self.status, code=None, err_code=None, message=self.message)


class BodyTooLarge(ProtocolError):
    """Raised when a response body exceeds ``Limits.max_body_bytes``."""


class ApiFailure(AgentError):
    """Raised when the agent answered with a well-formed error envelope."""

    def __init__(self, error: ApiError, trace_id: str | None = None) -> None:
        super().__init__(error.message, trace_id)
        self.error = error

    def as_api_error(self) -> ApiError:
        return self.error


class AuthRefused(ApiFailure):
    """Raised when the agent refused the request's authentication (nothing was done)."""


class NotFound(ApiFailure):
    """Raised when the route or the DAG does not exist on the agent."""


class DagLookupFailed(ApiFailure):
    """Raised when the agent answered a DAG lookup with 404 ``Task.NotFound`` whose reason is not
    an answer about the DAG: obshell answers *any* failure of its lookup that way (a busy sqlite,
    say), and only "record not found" and "dag id not match" say something about the row. It is
    transient: the DAG may well exist; nothing was done."""


class OperatorRefused(ApiFailure):
    """Raised when the agent refused a DAG operator before acting: 4.3.1+ answers 400
    ``Task.Dag.Operator.*``, 4.2.6 500 with code 1010 "Known error: …". Not a server failure:
    nothing to re-send or settle."""
