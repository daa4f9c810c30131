"""Run configuration as validated value objects: :class:`Timeouts`, :class:`Limits`, and the exit codes.

Each default is written once, as a module-level constant here: the dataclasses use it, and so
do the API's :class:`fleet.api.RunOptions`, the CLI's option table (``fleet.cli.config``) and
the CLI's help text. A value object refuses a bad value when it is built (``ValueError``, one
line naming the field), as aiohttp's ``ClientTimeout`` does, so no half-checked setting ever
reaches the engine or the client. :mod:`fleet.models` re-exports these names.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

#: Every default of :class:`Timeouts` and :class:`Limits`, written once: the dataclasses, the
#: API's :class:`fleet.api.RunOptions`, the CLI's option table and its help text all read these.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_REQUEST_TIMEOUT = 30.0

#: obshell's start DAG, the worst case ``--timeout`` must cover (``executor/obproxy/add.go``
#: ``healthCheck``, ``repository/db/obproxy/instance.go``): its "Start obproxy" node launches
#: the ODP, then sleeps ``HEALTH_CHECK_INTERVAL_S`` before each of up to ``HEALTH_CHECK_TRIES``
#: health checks (a MySQL login and ``show proxyconfig``), so an ODP that comes up slowly is
#: still being checked ~1,000 s after the DAG started, and succeeds then.
HEALTH_CHECK_TRIES = 100
HEALTH_CHECK_INTERVAL_S = 10.0
#: The rest of the DAG: obshell's scheduler advances a DAG once a second ("Check obproxy
#: status", the launch, each stage change), and each of the 100 checks is a loopback login
#: and one query. 200 s is room for all of that (2 s per check), not a measured figure.
START_DAG_OVERHEAD_S = 200.0
#: How long a DAG may run before its host is ``timed_out``: the start DAG's worst case that
#: still succeeds (100 × 10 s of sleeps, plus the overhead above), 1,200 s. A shorter limit
#: would report ``timed_out`` for an ODP that obshell is still going to start.
DEFAULT_DAG_TIMEOUT = HEALTH_CHECK_TRIES * HEALTH_CHECK_INTERVAL_S + START_DAG_OVERHEAD_S
DEFAULT_AUTH_LIFETIME = 60
DEFAULT_GRACE = 30.0
DEFAULT_FORKS = 64
DEFAULT_POLLS_IN_FLIGHT = 256
DEFAULT_POLL_CAP = 2.0
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_POLL_RETRIES = 5
DEFAULT_TRANSPORT = "lean"
TRANSPORTS = ("lean", "aiohttp")
#: the shortest time an idle agent connection is kept (see :meth:`Limits.keepalive_for`)
MIN_KEEPALIVE = 6.0


def _positive(owner: str, name: str, value: float, *, integer: bool = False, zero: bool = False) -> None:
    """Refuse a ``value`` that is not a positive number (``zero``: or 0) with a one-line ``ValueError``."""
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        what = "an integer" if integer else "a number"
        raise ValueError(f"{owner}.{name} must be {what}, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be finite, not {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{owner}.{name} must be {'at least 0' if zero else 'positive'}, not {value!r}")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-request and per-run time limits, in seconds; checked when built (``ValueError``).

    ``connect``: to open a connection to an agent; ``request``: one request end to end;
    ``dag``: how long a DAG may run (from its start) before the host is ``timed_out``;
    ``auth_lifetime``: how long an auth header stays valid on the agent's clock (whole
    seconds); ``grace``: how long in-flight DAGs are still followed after the first interrupt
    (0: stop at once).
    """

    connect: float = DEFAULT_CONNECT_TIMEOUT
    request: float = DEFAULT_REQUEST_TIMEOUT
    dag: float = DEFAULT_DAG_TIMEOUT
    auth_lifetime: int = DEFAULT_AUTH_LIFETIME
    grace: float = DEFAULT_GRACE

    def __post_init__(self) -> None:
        for name in ("connect", "request", "dag"):
            _positive("Timeouts", name, getattr(self, name))
        _positive("Timeouts", "auth_lifetime", self.auth_lifetime, integer=True)
        _positive("Timeouts", "grace", self.grace, zero=True)


@dataclass(frozen=True, slots=True)
class Limits:
    """Concurrency and size bounds; checked when built (``ValueError``).

    ``forks`` hosts are checked and fired at once (the engine's worker pool), ``polls_in_flight``
    DAG polls are in flight at once (the poll scheduler); the HTTP client opens connections as
    those two ask, one kept-alive connection per host. ``max_body_bytes`` caps one answer,
    ``poll_retries`` the failed polls in a row before a host is ``unreachable``.
    """

    forks: int = DEFAULT_FORKS
    polls_in_flight: int = DEFAULT_POLLS_IN_FLIGHT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    poll_retries: int = DEFAULT_POLL_RETRIES
    #: seconds an idle connection to an agent is kept for reuse: longer than the longest poll
    #: interval, short enough that finished hosts do not hold sockets open on either side
    #: (:meth:`keepalive_for` derives it from the poll cap)
    keepalive: float = MIN_KEEPALIVE
    #: the HTTP transport: "lean" (asyncio + llhttp) or "aiohttp" (see fleet.client.http)
    transport: str = DEFAULT_TRANSPORT

    def __post_init__(self) -> None:
        for name in ("forks", "polls_in_flight", "max_body_bytes"):
            _positive("Limits", name, getattr(self, name), integer=True)
        _positive("Limits", "poll_retries", self.poll_retries, integer=True, zero=True)
        _positive("Limits", "keepalive", self.keepalive)
        if self.transport not in TRANSPORTS:
            raise ValueError(f"Limits.transport must be one of {', '.join(TRANSPORTS)}, not {self.transport!r}")

    @staticmethod
    def keepalive_for(poll_cap: float) -> float:
        """The idle keep-alive for a longest poll interval of ``poll_cap`` seconds: a connection
        outlives the gap between two polls of one DAG (plus slack), and never less than 6 s."""
        return max(MIN_KEEPALIVE, poll_cap + 4)


class ExitCode(enum.IntEnum):
    """fleet's exit statuses, for the CLI and :attr:`fleet.api.RunResult.exit_code`."""

    #: every selected host succeeded (an empty selection too)
    OK = 0
    #: a bug in fleet (the summary is still written, with ``error`` set), or a file not written
    BUG = 1
    #: some host did not succeed
    HOSTS_FAILED = 2
    #: stopped early by ``--canary``/``--max-fail-percentage``/``--step`` (unfired hosts skipped)
    POLICY_STOP = 3
    #: bad input or usage: nothing was sent
    USAGE = 5
    #: interrupted (SIGINT/SIGTERM): the summary and journal say where to resume
    INTERRUPTED = 130


