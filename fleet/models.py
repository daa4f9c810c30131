"""Frozen value objects that cross module boundaries.

Dicts live only at parse edges (``fleet.protocol.wire``, ``fleet.inventory``); everything the
engine, the client and the reporters exchange is one of these dataclasses.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fleet.config import ExitCode as ExitCode
from fleet.config import Limits as Limits
from fleet.config import Timeouts as Timeouts
from fleet.utc import utc_seconds, utc_text

T = TypeVar("T")

DEFAULT_PORT = 2886
DEFAULT_PASSWORD_ENV = "OBSHELL_AGENT_PASSWORD"


class Outcome(enum.StrEnum):
    """What finally happened on one host. The summary's ``outcome`` field."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    REJECTED = "rejected"
    PRECHECK_FAILED = "precheck_failed"
    PROTOCOL_ERROR = "protocol_error"
    INTERNAL_ERROR = "internal_error"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"
    AMBIGUOUS = "ambiguous"

    @property
    def ok(self) -> bool:
        return self is Outcome.SUCCEEDED


@dataclass(frozen=True, slots=True)
class TlsSpec:
    """TLS settings for an https agent."""

    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True


@dataclass(frozen=True, slots=True)
class HostSpec:
    """One selected host of the inventory, with its merged variables."""

    name: str
    address: str
    port: int = DEFAULT_PORT
    scheme: str = "http"
    tls: TlsSpec = field(default_factory=TlsSpec)
    password_env: str = DEFAULT_PASSWORD_ENV
    password_file: str | None = None
    groups: tuple[str, ...] = ()
    source: str = ""

    @property
    def netloc(self) -> str:
        """``addr:port`` as written in a URL (IPv6 in brackets)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def key(self) -> str:
        """Stable identity of the host within a run (journal, summary, dedup)."""
        return f"{self.name}:{self.port}"


@dataclass(frozen=True, slots=True)
class ApiError:
    """An obshell error envelope (or fleet's own description of a failure without one)."""

    status: int | None
    code: int | None
    err_code: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "errCode": self.err_code, "message": self.message}


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """``GET /api/v1/info``."""

    ip: str
    port: int
    version: str
    identity: str = ""
    zone: str = ""
    pid: int = 0
    state: int | str = 0
    start_at: int = 0
    home_path: str = ""
    ob_version: str = ""
    architecture: str = ""
    is_obproxy_agent: bool = False
    security: bool = False
    supported_auth: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SubTaskDetail:
    """One sub-task of a DAG node, as shown with ``show_details=true``."""

    id: str
    name: str
    state: str
    operator: str = ""
    execute_agent: str | None = None
    execute_times: int = 0
    task_logs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeDetail:
    """One node (stage) of a DAG."""

    id: str
    name: str
    state: str
    operator: str = ""
    sub_tasks: tuple[SubTaskDetail, ...] = ()


FINISHED_STATES = frozenset({"SUCCEED", "FAILED"})


@dataclass(frozen=True, slots=True)
class DagDetail:
    """obshell's DagDetailDTO."""

    id: str
    dag_id: int
    name: str
    state: str
    operator: str = ""
    stage: int = 0
    max_stage: int = 0
    start_time: str | None = None
    end_time: str | None = None
    additional_data: dict[str, Any] | None = None
    nodes: tuple[NodeDetail, ...] = ()
    #: failed sub-tasks the agent listed beyond what fleet keeps of one DAG (only counted)
    failed_sub_tasks_dropped: int = 0
    #: obshell's ``maintenance_type``: 4 for a DAG that takes the ODP maintenance lock (0: not shown)
    maintenance_type: int = 0

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def succeeded(self) -> bool:
        """SUCCEED reached by running forward (a rollback also ends in SUCCEED, but undid the work)."""
        return self.state == "SUCCEED" and self.operator != "ROLLBACK"

    def brief(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dag_id": self.dag_id,
            "name": self.name,
            "state": self.state,
            "operator": self.operator,
            "stage": self.stage,
            "max_stage": self.max_stage,
            "start_time": self.start_time,
            "end_time": self.end_time,
        }


@dataclass(frozen=True, slots=True)
class Reply(Generic[T]):
    """A successful answer: the decoded ``data`` plus the envelope facts worth keeping."""

    data: T
    trace_id: str
    timestamp: str | None = None
    status: int = 200


@dataclass(frozen=True, slots=True)
class FailedTask:
    """A failed sub-task of a failed DAG, for the summary."""

    node: str
    task: str
    execute_agent: str | None
    task_logs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "task": self.task, "execute_agent": self.execute_agent,
                "task_logs": list(self.task_logs)}


@dataclass(frozen=True, slots=True)
class Adoption:
    """Why fleet followed a DAG it did not get as the answer to its own start, and how it found it.

    ``reason``: ``already_running`` (the agent already ran one before fleet fired: a retry, a
    second operator), ``answer_lost`` (fleet's start got no answer; the DAG it created was
    found), ``resumed`` (a resumed run found the DAG of a start the journal says was about to
    be sent). ``how``: ``unfinished_list`` or ``id_probe``.
    """

    reason: str
    how: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "how": self.how}


@dataclass(frozen=True, slots=True)
class HostResult:
    """Everything the run learned about one host. Per-host failure is data, not an exception."""

    host: HostSpec
    outcome: Outcome
    dag: DagDetail | None = None
    trace_ids: tuple[str, ...] = ()
    error: ApiError | None = None
    failed_tasks: tuple[FailedTask, ...] = ()
    polls: int = 0
    duration_ms: int = 0
    clock_offset_ms: int | None = None
    agent_version: str | None = None
    resumed: bool = False
    adopted: Adoption | None = None
    #: traceIds the agent returned beyond those kept (the first ones and the latest are kept)
    trace_ids_dropped: int = 0
    #: failed sub-tasks beyond those kept in ``failed_tasks``
    failed_tasks_dropped: int = 0
    #: wall-clock Unix seconds at which fleet sent the start/stop request (None if never sent)
    fired_at: float | None = None
    #: ``--retry-failed``: each run of the DAG (the first, then each in-place RETRY), when retried
    attempts: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The host's entry as the summary lists it (and the journal keeps it)."""
        spec = self.host
        doc = {
            "host": spec.name,
            "address": spec.address,
            "port": spec.port,
            "groups": list(spec.groups),
            "outcome": self.outcome.value,
            "dag": self.dag.brief() if self.dag is not None else None,
            "trace_ids": list(self.trace_ids),
            "error": self.error.to_dict() if self.error is not None else None,
            "failed_tasks": [task.to_dict() for task in self.failed_tasks],
            "polls": self.polls,
            "duration_ms": self.duration_ms,
            "clock_offset_ms": self.clock_offset_ms,
            "agent_version": self.agent_version,
            "resumed": self.resumed,
            "adopted": self.adopted.to_dict() if self.adopted is not None else None,
            "fired_at": utc_text(self.fired_at),
            **({"attempts": [dict(a) for a in self.attempts]} if self.attempts else {}),
        }
        if self.trace_ids_dropped:
            doc["trace_ids_dropped"] = self.trace_ids_dropped
        if self.failed_tasks_dropped:
            doc["failed_tasks_dropped"] = self.failed_tasks_dropped
        return doc


    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], host: HostSpec | None = None) -> HostResult:
        """The inverse of :meth:`to_dict` (a summary's or journal's host entry); ``ValueError`` names a bad field.

        ``host``: the inventory's spec (else rebuilt from ``host``/``address``/``port``/``groups``).
        ``from_dict(r.to_dict(), r.host) == r`` when ``r.dag`` holds only :meth:`DagDetail.brief`'s
        fields and its times are whole milliseconds (the summary's precision).
        """
        if not isinstance(doc, Mapping):
            raise ValueError("a host entry must be an object")
        if host is None:
            host = HostSpec(name=_field(doc, "host", str), address=_field(doc, "address", str),
                            port=_field(doc, "port", int),
                            groups=tuple(_strings(doc.get("groups"), "groups")))
        dag = doc.get("dag")
        error = doc.get("error")
        adopted = doc.get("adopted")
        tasks = doc.get("failed_tasks")
        attempts = doc.get("attempts")
        if tasks is not None and (not isinstance(tasks, list) or not all(isinstance(t, Mapping) for t in tasks)):
            raise ValueError("'failed_tasks' must be a list of objects")
        if attempts is not None and (not isinstance(attempts, list)
                                     or not all(isinstance(a, Mapping) for a in attempts)):
            raise ValueError("'attempts' must be a list of objects")
        try:
            outcome = Outcome(_field(doc, "outcome", str))
        except ValueError:
            raise ValueError(f"unknown outcome {doc.get('outcome')!r}") from None
        return cls(
            host=host,
            outcome=outcome,
            dag=_dag_from_brief(dag) if dag is not None else None,
            trace_ids=tuple(_strings(doc.get("trace_ids"), "trace_ids")),
            error=ApiError(_optional_field(error, "status", int), _optional_field(error, "code", int),
                           _optional_field(error, "errCode", str), _optional_field(error, "message", str) or "")
            if _object(error, "error") is not None else None,
            failed_tasks=tuple(
                FailedTask(_optional_field(t, "node", str) or "", _optional_field(t, "task", str) or "",
                           _optional_field(t, "execute_agent", str), tuple(_strings(_get(t, "task_logs"), "task_logs")))
                for t in tasks or ()),
            polls=_optional_field(doc, "polls", int) or 0,
            duration_ms=_optional_field(doc, "duration_ms", int) or 0,
            clock_offset_ms=_optional_field(doc, "clock_offset_ms", int),
            agent_version=_optional_field(doc, "agent_version", str),
            resumed=bool(_optional_field(doc, "resumed", bool)),
            adopted=Adoption(_field(adopted, "reason", str), _field(adopted, "how", str))
            if _object(adopted, "adopted") is not None else None,
            trace_ids_dropped=_optional_field(doc, "trace_ids_dropped", int) or 0,
            failed_tasks_dropped=_optional_field(doc, "failed_tasks_dropped", int) or 0,
            fired_at=utc_seconds(_optional_field(doc, "fired_at", str)),
            attempts=tuple(dict(a) for a in attempts or ()),
        )


def _get(doc: Any, name: str) -> Any:
    return doc.get(name) if isinstance(doc, Mapping) else None


def _object(value: Any, name: str) -> Mapping[str, Any] | None:
    if value is not None and not isinstance(value, Mapping):
        raise ValueError(f"'{name}' must be an object")
    return value


def _field(doc: Any, name: str, kind: type[T]) -> T:
    value = _optional_field(doc, name, kind)
    if value is None:
        raise ValueError(f"'{name}' is missing")
    return value


def _optional_field(doc: Any, name: str, kind: type[T]) -> T | None:
    """``doc[name]`` when it is a ``kind`` (an ``int`` is never a ``bool``), None when absent or null."""
    value = _get(doc, name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"'{name}' must be {kind.__name__}, not {value!r}"[:200])
    return value


def _strings(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{name}' must be a list of strings")
    return value


def _dag_from_brief(doc: Any) -> DagDetail:
    """A :class:`DagDetail` from :meth:`DagDetail.brief`'s form (the summary's ``dag``)."""
    if not isinstance(doc, Mapping):
        raise ValueError("'dag' must be an object")
    return DagDetail(
        id=_field(doc, "id", str), dag_id=_field(doc, "dag_id", int), name=_optional_field(doc, "name", str) or "",
        state=_optional_field(doc, "state", str) or "", operator=_optional_field(doc, "operator", str) or "",
        stage=_optional_field(doc, "stage", int) or 0, max_stage=_optional_field(doc, "max_stage", int) or 0,
        start_time=_optional_field(doc, "start_time", str), end_time=_optional_field(doc, "end_time", str),
    )


class Secret:
    """A password that refuses to show itself in reprs, logs, tracebacks or pickles."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Phase(enum.StrEnum):
    """Where a host is in a run; reporters show counts per phase."""

    QUEUED = "queued"
    CHECKING = "checking"
    FIRING = "firing"
    POLLING = "polling"
    DONE = "done"


class Reporter:
    """What the engine tells the outside world. The engine never prints; renderers subclass this.

    Every method is a no-op here, so a renderer overrides only what it shows. Calls come from
    the event loop's thread and must not block.
    """

    def run_started(self, operation: str, hosts: int) -> None:
        """The run begins with ``hosts`` selected hosts."""

    def host_phase(self, host: HostSpec, phase: Phase) -> None:
        """``host`` entered ``phase``."""

    def host_done(self, result: HostResult) -> None:
        """``host`` has its final result."""

    def batch_started(self, index: int, hosts: int) -> None:
        """Rolling batch ``index`` (0-based; ``--serial``/``--canary``) of ``hosts`` hosts begins."""

    def run_finished(self) -> None:
        """The run is over (the summary is about to be written)."""
