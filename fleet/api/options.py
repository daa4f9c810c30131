""":class:`RunOptions`: every option of ``fleet start|stop|check``, as one frozen, validated value.

The defaults here (from :mod:`fleet.config`) are the only ones: the CLI's option table
(``fleet.cli.config.OPTIONS``) and its help text are derived from :data:`DEFAULTS`. A bad value
raises :class:`~fleet.errors.InputError` when the object is built, one line naming the option,
so the API and the CLI refuse the same things with the same words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

from fleet.config import (
    DEFAULT_AUTH_LIFETIME,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DAG_TIMEOUT,
    DEFAULT_FORKS,
    DEFAULT_GRACE,
    DEFAULT_POLL_CAP,
    DEFAULT_POLLS_IN_FLIGHT,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TRANSPORT,
    TRANSPORTS,
    Limits,
    Timeouts,
)
from fleet.errors import InputError

ORDERS = ("inventory", "sorted", "shuffle")
Order = Literal["inventory", "sorted", "shuffle"]
Transport = Literal["lean", "aiohttp"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to run ``start``/``stop``/``check``: selection, pacing, runbook controls, journal.

    Each field is the CLI option of the same name (``poll_cap`` is ``--poll-cap``); ``fleet
    start --help`` and the README's option table say what each does.
    """

    #: Ansible host pattern (``--limit``); None selects every host
    limit: str | None = None
    #: ignore a part of ``limit`` that matches no group or host, with Ansible's warning
    #: (by default such a part is an error: a mistyped part would narrow the run)
    allow_unmatched: bool = False
    #: obshell variables over every inventory (``-e``): ``key=value``, ``@FILE`` or a mapping
    extra_vars: Sequence[str] = ()
    #: run only shard ``I/N`` (1-based) of the selection
    shard: str | None = None
    order: Order = "inventory"
    forks: int = DEFAULT_FORKS
    #: seconds a DAG may run (from its start) before the host is ``timed_out``
    timeout: float = DEFAULT_DAG_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    auth_lifetime: int = DEFAULT_AUTH_LIFETIME
    polls_in_flight: int = DEFAULT_POLLS_IN_FLIGHT
    poll_cap: float = DEFAULT_POLL_CAP
    transport: Transport = DEFAULT_TRANSPORT  # type: ignore[assignment]  # a str constant, checked below
    grace: float = DEFAULT_GRACE
    #: rolling batches (``--serial``): ``("1", "5", "20%")``; the last element repeats
    serial: Sequence[str] | None = None
    max_fail_percentage: float | None = None
    canary: int = 0
    #: ask before each batch (the API needs ``confirm_batch``; the CLI asks on the terminal)
    step: bool = False
    #: the journal file (new); None: ``<home>/runs/<run>/journal.jsonl``
    journal: str | None = None
    no_journal: bool = False
    #: continue the run this journal recorded, with the options it recorded
    resume: str | None = None
    refire_ambiguous: bool = False
    #: ``start`` only: RETRY a failed start DAG in place up to N times
    retry_failed: int = 0

    def __post_init__(self) -> None:
        for name in ("forks", "auth_lifetime", "polls_in_flight"):
            _check(name, getattr(self, name), int, minimum=1)
        for name in ("canary", "retry_failed"):
            _check(name, getattr(self, name), int, minimum=0)
        for name in ("timeout", "connect_timeout", "request_timeout", "poll_cap"):
            _check(name, getattr(self, name), float, minimum=0, strict=True)
        _check("grace", self.grace, float, minimum=0)
        if self.max_fail_percentage is not None:
            _check("max_fail_percentage", self.max_fail_percentage, float, minimum=0, maximum=100)
        if self.order not in ORDERS:
            raise InputError(f"order: expected one of {', '.join(ORDERS)}, not {self.order!r}")
        if self.transport not in TRANSPORTS:
            raise InputError(f"transport: expected one of {', '.join(TRANSPORTS)}, not {self.transport!r}")
        for name in ("limit", "shard", "journal", "resume"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InputError(f"{name}: expected a non-empty string, not {value!r}")
        for name in ("extra_vars", "serial"):
            value = getattr(self, name)
            if isinstance(value, list):  # a list reads naturally; kept as a tuple (frozen, hashable)
                object.__setattr__(self, name, tuple(value))
            value = getattr(self, name)
            if value is not None and (not isinstance(value, tuple) or not all(isinstance(v, str) for v in value)):
                raise InputError(f"{name}: expected a list of strings, not {value!r}")
        if self.journal and self.no_journal:
            raise InputError("journal and no_journal: choose one")

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(connect=self.connect_timeout, request=self.request_timeout, dag=self.timeout,
                        auth_lifetime=self.auth_lifetime, grace=self.grace)

    @property
    def limits(self) -> Limits:
        return Limits(forks=self.forks, polls_in_flight=self.polls_in_flight,
                      keepalive=Limits.keepalive_for(self.poll_cap), transport=self.transport)


class RunArgs(TypedDict, total=False):
    """:class:`RunOptions`' fields as keyword arguments of :func:`fleet.start` and its siblings."""

    limit: str | None
    allow_unmatched: bool
    extra_vars: Sequence[str]
    shard: str | None
    order: Order
    forks: int
    timeout: float
    connect_timeout: float
    request_timeout: float
    auth_lifetime: int
    polls_in_flight: int
    poll_cap: float
    transport: Transport
    grace: float
    serial: Sequence[str] | None
    max_fail_percentage: float | None
    canary: int
    step: bool
    journal: str | None
    no_journal: bool
    resume: str | None
    refire_ambiguous: bool
    retry_failed: int


#: each option's default, by field name: the CLI's option table and help text read these
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(RunOptions)}

#: Options that shape what a run does and in which order: recorded in the journal's header and
#: replayed by a resume. ``refire_ambiguous`` is recorded but never replayed: it permits a
#: second start, so it must be asked for on each resume that wants it.
RUN_SHAPING: tuple[str, ...] = (
    "limit", "shard", "order", "serial", "max_fail_percentage", "canary", "step", "timeout",
    "connect_timeout", "request_timeout", "auth_lifetime", "forks", "polls_in_flight", "poll_cap",
    "grace", "refire_ambiguous",
)
NOT_REPLAYED = frozenset({"refire_ambiguous"})


def _check(name: str, given: Any, kind: type, *, minimum: float, strict: bool = False,
           maximum: float | None = None) -> None:
    kinds: tuple[type, ...] = (int,) if kind is int else (int, float)
    if isinstance(given, bool) or not isinstance(given, kinds) or given != given:
        raise InputError(f"{name}: expected {'an integer' if kind is int else 'a number'}, not {given!r}")
    value = float(cast(float, given))
    if value < minimum or (strict and value == minimum) or (maximum is not None and value > maximum):
        bound = (f"between {minimum:g} and {maximum:g}" if maximum is not None
                 else f"{'above' if strict else 'at least'} {minimum:g}")
        raise InputError(f"{name}: must be {bound}, not {given!r}")
    if value == float("inf"):
        raise InputError(f"{name}: must be finite")
