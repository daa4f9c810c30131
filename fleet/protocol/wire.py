"""Parse obshell's JSON envelope and its payloads into fleet's models. Pure: bytes in, dataclasses out.

Every function here raises :class:`fleet.errors.ProtocolError` for anything that is not an
obshell answer (not JSON, no envelope, wrong types) and returns models otherwise. Turning an
error envelope into the right :class:`~fleet.errors.ApiFailure` subclass is :func:`failure_for`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.errors import ApiFailure, AuthRefused, DagLookupFailed, NotFound, ProtocolError
from fleet.models import AgentInfo, ApiError, DagDetail, NodeDetail, SubTaskDetail
from fleet.protocol import bounds
from fleet.protocol.clock import readable_agent_time
from fleet.protocol.dags import DagState
from fleet.protocol.errcodes import (
    AUTH_ERR_PREFIXES,
    DAG_OPERATOR_ERR_PREFIX,
    DECRYPT_FAILED_CODE,
    DEFINITE_NOT_FOUND_REASONS,
    LEGACY,
    LEGACY_DECRYPT_FAILED_MESSAGE,
    LEGACY_KNOWN_CODE,
    LEGACY_KNOWN_PREFIX,
    LEGACY_NOT_FOUND_CODE,
    NOT_FOUND_ERR_CODES,
    OBPROXY_TASK_NOT_FOUND,
    UNAUTHORIZED_CODE,
    ErrCode,
)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The common frame of every /api/v1 answer."""

    status: int
    successful: bool
    trace_id: str
    timestamp: str | None
    data: Any
    error: ApiError | None


def parse_envelope(status: int, body: bytes) -> Envelope:
    """Decode one HTTP answer's body into an :class:`Envelope`."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        snippet = body[:60].decode("utf-8", "replace").replace("\n", " ")
        raise ProtocolError(f"HTTP {status} answer is not JSON: {snippet!r}", status=status) from None
    except RecursionError:
        raise ProtocolError(f"HTTP {status} answer is JSON nested too deeply", status=status) from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"HTTP {status} answer is JSON but not an object", status=status)
    trace_id = bounds.clip(_opt_str(doc, "traceId", status) or "", bounds.MAX_TRACE_ID_CHARS)
    timestamp = _opt_str(doc, "timestamp", status)
    if timestamp is not None and len(timestamp) > 64:
        timestamp = None  # not a timestamp: it only costs the clock-offset measurement
    successful = doc.get("successful")
    error_doc = doc.get("error")
    if successful is None and error_doc is None and "data" not in doc:
        raise ProtocolError(f"HTTP {status} answer is not an obshell envelope", trace_id, status)
    if successful is not None and not isinstance(successful, bool):
        raise ProtocolError("envelope field 'successful' is not a boolean", trace_id, status)
    env_status = doc.get("status", status)
    if not isinstance(env_status, int) or isinstance(env_status, bool) or abs(env_status) > bounds.MAX_INT:
        raise ProtocolError("envelope field 'status' is not an integer", trace_id, status)
    error = None
    if error_doc is not None:
        error = _parse_error(error_doc, status, trace_id)
    ok = successful if successful is not None else error is None
    if not ok and error is None:
        error = ApiError(status=status, code=None, err_code=None, message=f"HTTP {status} without error detail")
    if ok and status >= 400:
        raise ProtocolError(f"HTTP {status} answer claims success", trace_id, status)
    return Envelope(status, ok, trace_id, timestamp, doc.get("data"), error)


def _parse_error(doc: Any, status: int, trace_id: str) -> ApiError:
    if not isinstance(doc, dict):
        raise ProtocolError("envelope field 'error' is not an object", trace_id, status)
    code = doc.get("code")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool) or abs(code) > bounds.MAX_INT):
        raise ProtocolError("error field 'code' is not an integer", trace_id, status)
    err_code = _opt_str(doc, "errCode", status)
    message = doc.get("message", "")
    if not isinstance(message, str):
        raise ProtocolError("error field 'message' is not a string", trace_id, status)
    return ApiError(status=status, code=code, err_code=bounds.clip(err_code, 256) if err_code else None,
                    message=bounds.clip(message))


def failure_for(env: Envelope) -> ApiFailure:
    """Classify an error envelope: errCode when present, else numeric code, status and message."""
    error = env.error
    assert error is not None, "failure_for needs an error envelope"
    err_code = error.err_code or ""
    if err_code.startswith(AUTH_ERR_PREFIXES) or env.status == 401:
        return AuthRefused(error, env.trace_id)
    if err_code in NOT_FOUND_ERR_CODES or env.status == 404:
        if is_task_not_found(error) and not_found_reason(error) is None:
            return DagLookupFailed(error, env.trace_id)
        return NotFound(error, env.trace_id)
    # obshell < 4.3.1 answers an unknown route with HTTP 400 and numeric code 1000.
    if not err_code and error.code == LEGACY_NOT_FOUND_CODE and "not found" in error.message.lower():
        return NotFound(error, env.trace_id)
    return ApiFailure(error, env.trace_id)


def is_task_not_found(error: ApiError) -> bool:
    """A ``Task.NotFound`` answer (4.3.1+ errCode; 4.2.x: 404 with its numeric code)."""
    if error.err_code is not None:
        return error.err_code == ErrCode.TASK_NOT_FOUND
    return error.status == 404 and error.code == LEGACY[ErrCode.TASK_NOT_FOUND][0]


def not_found_reason(error: ApiError) -> str | None:
    """Which answer about the DAG a ``Task.NotFound`` gives, or None when it gives none.

    obshell wraps *any* error of its DAG lookup into ``Task.NotFound`` ("Task not found: <the
    error>", ``executor/task/dag.go``), so only the reasons obshell itself writes are answers:
    "record not found" (no such row), "dag id not match" (the row is another kind of DAG) and
    "obproxy task not found" (an ODP id of another agent address). Anything else (a busy sqlite)
    says nothing about the DAG. The reason is looked for anywhere in the message (obshell puts
    it last, but a proxy or a hostile agent may append to it).
    """
    message = error.message.lower()
    for reason in (*DEFINITE_NOT_FOUND_REASONS, OBPROXY_TASK_NOT_FOUND):
        if reason in message:
            return reason
    return None


def is_operator_refusal(error: ApiError) -> bool:
    """The agent refused a DAG operator before acting: 4.3.1+ ``Task.Dag.Operator.*`` (400), or
    4.2.6's 500 with code 1010 and a "Known error: " message (on the operator route only: 1010 is
    4.2.x's code for every "known" error)."""
    if error.err_code is not None:
        return error.err_code.startswith(DAG_OPERATOR_ERR_PREFIX)
    return error.code == LEGACY_KNOWN_CODE and error.message.startswith(LEGACY_KNOWN_PREFIX)


def is_decrypt_failure(error: ApiError) -> bool:
    """True when the agent could not decrypt our header: its key changed (refetch it, retry once).

    4.3.1+ says so with ``Security.Authentication.Header.DecryptFailed`` (numeric code 1). 4.2.x
    and 4.3.0 answer 401 with code 10008 and no errCode, as for every auth failure: only their
    message "Verification failed: header decrypt failed" tells it from a wrong password, which
    stays an auth failure.
    """
    if error.err_code == ErrCode.AUTH_HEADER_DECRYPT_FAILED:
        return True
    if error.err_code is None and error.status in (401, None):
        if error.code == UNAUTHORIZED_CODE:
            return error.message.strip().lower().startswith(LEGACY_DECRYPT_FAILED_MESSAGE.lower())
        if error.code == DECRYPT_FAILED_CODE:  # the numeric code alone, as 4.3.1+ also sends it
            return True
    return "decrypt" in error.message.lower() and (error.err_code or "").startswith(AUTH_ERR_PREFIXES)


# -- building envelopes (the agent's side: fleet's simulator) -------------------------------


def envelope_document(status: int, trace_id: str, timestamp: str, data: Any = None,
                      error: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The frame :func:`parse_envelope` reads, as obshell writes it: ``data`` only when given,
    ``error`` only on failures."""
    doc: dict[str, Any] = {"successful": status < 400, "timestamp": timestamp, "duration": 0,
                           "status": status, "traceId": trace_id}
    if data is not None:
        doc["data"] = data
    if error is not None:
        doc["error"] = dict(error)
    return doc


def error_document(err_code: str | None, code: int | None, message: str) -> dict[str, Any]:
    """An envelope's ``error``: ``errCode`` (4.3.1+) and/or the numeric ``code`` (4.2.x has only it)."""
    doc: dict[str, Any] = {}
    if code is not None:
        doc["code"] = code
    if err_code is not None:
        doc["errCode"] = err_code
    doc["message"] = message
    return doc


# -- payloads ---------------------------------------------------------------------------


def parse_agent_info(data: Any) -> AgentInfo:
    doc = _require_obj(data, "info")
    auth = doc.get("supportedAuth") or []
    if not isinstance(auth, list) or not all(isinstance(a, str) for a in auth):
        raise ProtocolError("info field 'supportedAuth' is not a list of strings")
    version = _str(doc, "version", "info")
    if not _VERSION.fullmatch(version):
        raise ProtocolError(f"info field 'version' is not an obshell version: {bounds.clip(version, 40)!r}")
    port = _int(doc, "port", "info")
    if not 0 <= port <= 65535:
        raise ProtocolError(f"info field 'port' is not a port: {port}")
    return AgentInfo(
        ip=_str(doc, "ip", "info"),
        port=port,
        version=version,
        identity=_str(doc, "identity", "info", default=""),
        zone=_str(doc, "zone", "info", default=""),
        pid=_int(doc, "pid", "info", default=0),
        state=_info_state(doc.get("state", 0)),
        start_at=_int(doc, "startAt", "info", default=0),
        home_path=_str(doc, "homePath", "info", default=""),
        ob_version=_str(doc, "obVersion", "info", default=""),
        architecture=_str(doc, "architecture", "info", default=""),
        is_obproxy_agent=_bool(doc, "isObproxyAgent", "info", default=False),
        security=_bool(doc, "security", "info", default=False),
        supported_auth=tuple(auth),
    )


def _info_state(value: Any) -> int | str:
    if isinstance(value, str):
        return bounds.clip(value, 64)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= bounds.MAX_INT:
        return value
    return 0


def _small_extra(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """``additional_data`` kept small: up to 32 entries with scalar values (strings clipped)."""
    if extra is None:
        return None
    kept: dict[str, Any] = {}
    for key, value in extra.items():
        if len(kept) >= 32:
            break
        if isinstance(value, str):
            kept[bounds.clip(key, 64)] = bounds.clip(value, 256)
        elif value is None or isinstance(value, (bool, float)) or (
                isinstance(value, int) and abs(value) <= bounds.MAX_INT):
            kept[bounds.clip(key, 64)] = value
    return kept


def parse_public_key(data: Any) -> str:
    doc = _require_obj(data, "secret")
    key: str = _str(doc, "public_key", "secret")
    return key


def parse_dag(data: Any) -> DagDetail:
    doc = _require_obj(data, "dag")
    extra = doc.get("additional_data")
    if extra is not None and not isinstance(extra, dict):
        raise ProtocolError("dag field 'additional_data' is not an object")
    nodes = doc.get("nodes") or []
    if not isinstance(nodes, list):
        raise ProtocolError("dag field 'nodes' is not a list")
    if len(nodes) > bounds.MAX_DAG_NODES:
        raise ProtocolError(f"dag has {len(nodes)} nodes, over the limit of {bounds.MAX_DAG_NODES}")
    budget = _Budget(bounds.MAX_SUB_TASKS)
    parsed_nodes = tuple(_parse_node(n, budget) for n in nodes)
    return DagDetail(
        id=_id(doc, "id", "dag"),
        dag_id=_int(doc, "dag_id", "dag"),
        name=_str(doc, "name", "dag", default=""),
        state=_str(doc, "state", "dag"),
        operator=_str(doc, "operator", "dag", default=""),
        stage=_int(doc, "stage", "dag", default=0),
        max_stage=_int(doc, "max_stage", "dag", default=0),
        # an unreadable time is unknown, not a broken answer: the DAG it dates is real
        start_time=readable_agent_time(doc.get("start_time")),
        end_time=readable_agent_time(doc.get("end_time")),
        additional_data=_small_extra(extra),
        nodes=parsed_nodes,
        failed_sub_tasks_dropped=budget.failed_dropped,
        maintenance_type=_int(doc, "maintenance_type", "dag", default=0),
    )


def parse_dag_list(data: Any) -> tuple[DagDetail, ...]:
    """``data.contents[]`` of the agent's DAG listings (an absent list is empty)."""
    doc = _require_obj(data, "dag list")
    contents = doc.get("contents") or []
    if not isinstance(contents, list):
        raise ProtocolError("dag list field 'contents' is not a list")
    if len(contents) > bounds.MAX_DAG_NODES:
        raise ProtocolError(f"dag list has {len(contents)} DAGs, over the limit of {bounds.MAX_DAG_NODES}")
    return tuple(parse_dag(item) for item in contents)


class _Budget:
    """How many more sub-tasks one DAG may keep; failed ones past the budget are only counted."""

    __slots__ = ("failed_dropped", "left")

    def __init__(self, left: int) -> None:
        self.left = left
        self.failed_dropped = 0


def _parse_node(data: Any, budget: _Budget) -> NodeDetail:
    doc = _require_obj(data, "node")
    subs = doc.get("sub_tasks") or []
    if not isinstance(subs, list):
        raise ProtocolError("node field 'sub_tasks' is not a list")
    kept, rest = subs[: budget.left], subs[budget.left :]
    budget.left -= len(kept)
    budget.failed_dropped += sum(1 for s in rest if isinstance(s, dict) and s.get("state") == DagState.FAILED)
    return NodeDetail(
        id=_id(doc, "id", "node", default=""),
        name=_str(doc, "name", "node", default=""),
        state=_str(doc, "state", "node", default=""),
        operator=_str(doc, "operator", "node", default=""),
        sub_tasks=tuple(_parse_sub_task(s) for s in kept),
    )


def _parse_sub_task(data: Any) -> SubTaskDetail:
    doc = _require_obj(data, "sub_task")
    logs = doc.get("task_logs") or []
    if not isinstance(logs, list) or not all(isinstance(x, str) for x in logs):
        raise ProtocolError("sub_task field 'task_logs' is not a list of strings")
    agent = doc.get("execute_agent")
    where = None
    if isinstance(agent, dict) and isinstance(agent.get("ip"), str) and agent["ip"]:
        ip = bounds.clip(agent["ip"], 64)
        port = agent.get("port")
        port_text = str(port) if isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535 else "?"
        where = f"[{ip}]:{port_text}" if ":" in ip else f"{ip}:{port_text}"
    return SubTaskDetail(
        id=_id(doc, "id", "sub_task", default=""),
        name=_str(doc, "name", "sub_task", default=""),
        state=_str(doc, "state", "sub_task", default=""),
        operator=_str(doc, "operator", "sub_task", default=""),
        execute_agent=where,
        execute_times=_int(doc, "execute_times", "sub_task", default=0),
        task_logs=bounds.clip_logs(logs),
    )


# -- field helpers ------------------------------------------------------------------------

_MISSING = object()
#: obshell versions: ASCII digits in dot-separated components, then an optional build suffix.
_VERSION = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9}){1,5}(?:[-_+][0-9A-Za-z._+-]{0,48})?")
#: Generic ids are ASCII digits in obshell; fleet accepts short ASCII tokens.
_ID = re.compile(rf"[0-9A-Za-z_.:-]{{1,{bounds.MAX_ID_CHARS}}}")


def _require_obj(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError(f"{what} data is not an object")
    return data


def _field(doc: Mapping[str, Any], name: str, what: str, default: Any) -> Any:
    value = doc.get(name, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise ProtocolError(f"{what} field '{name}' is missing")
        return default
    return value


def _typed(doc: Mapping[str, Any], name: str, what: str, default: Any, ok: Callable[[Any], bool],
           kind: str) -> Any:
    value = _field(doc, name, what, default)
    if value is not default and not ok(value):
        raise ProtocolError(f"{what} field '{name}' is not {kind}")
    return value


def _str(doc: Mapping[str, Any], name: str, what: str, default: Any = _MISSING) -> Any:
    value = _typed(doc, name, what, default, lambda v: isinstance(v, str), "a string")
    return bounds.clip(value) if isinstance(value, str) else value


def _int(doc: Mapping[str, Any], name: str, what: str, default: Any = _MISSING) -> Any:
    return _typed(doc, name, what, default,
                  lambda v: isinstance(v, int) and not isinstance(v, bool) and abs(v) <= bounds.MAX_INT,
                  "a 64-bit integer")


def _bool(doc: Mapping[str, Any], name: str, what: str, default: Any = _MISSING) -> Any:
    return _typed(doc, name, what, default, lambda v: isinstance(v, bool), "a boolean")


def _id(doc: Mapping[str, Any], name: str, what: str, default: Any = _MISSING) -> Any:
    """Generic ids are strings; accept integers too and normalise."""
    value = _field(doc, name, what, default)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= bounds.MAX_INT:
        return str(value)
    if value is default:
        return value
    if not isinstance(value, str) or not (value == "" or _ID.fullmatch(value)):
        raise ProtocolError(f"{what} field '{name}' is not an id")
    return value


def _opt_str(doc: Mapping[str, Any], name: str, status: int) -> str | None:
    value = doc.get(name)
    if value is not None and not isinstance(value, str):
        raise ProtocolError(f"envelope field '{name}' is not a string", status=status)
    return value
