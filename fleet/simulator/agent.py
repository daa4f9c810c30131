"""One simulated obshell agent: request verification, ODP DAG lifecycle, faults. No I/O.

:meth:`SimAgent.handle` takes a :class:`SimRequest` and the current real time and returns an
:class:`Answer` (an envelope plus what the server must do with it: answer, hang, drop, …).
Behaviour follows obshell's Go source (see the module docstrings of ``fleet.simulator``):
header decrypt → header present → ODP routes need the agent header → uri → agent password
initialised → ts → expiry → password. DAG progress is computed from time, never by timers.

Route faults (hang, http500, garbage, truncated, oversize, bad_types) strike before the agent
acts; ``drop_after_start`` is the one that acts (creates the DAG) and then drops the answer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fleet.protocol import crypto
from fleet.protocol.ids import odp_generic_id, parse_odp_generic_id
from fleet.simulator import hostile, operators
from fleet.simulator.config import AgentSettings, version_tuple
from fleet.simulator.dag import DAG_NAMES, EPOCH, LOCAL, Dag, old_dag
from fleet.simulator.keys import KeyPair

AGENT_HEADER = "X-OCS-Agent-Header"
OB_HEADER = "X-OCS-Header"
TRACE_HEADER = "X-OBSHELL-Trace-ID"
ZERO_TIME = "0001-01-01T00:00:00Z"
_TS = re.compile(r"[+-]?\d+")
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
#: errCode → (legacy numeric code, legacy HTTP status) for 4.2.x-style answers.
_LEGACY = {
    "Common.NotFound": (1000, 400), "Task.NotFound": (2300, 404), "Task.GenericID.Invalid": (1001, 400),
    "OBProxy.NotBeManaged": (1000, 400), "Agent.UnderMaintenance": (1002, 500), "Common.Unexpected": (1002, 500),
    "Common.IllegalArgument": (1001, 400), "Security.Authentication.Header.DecryptFailed": (1, 401),
}
_TZ_CACHE: dict[str, timezone] = {}
NODE_NAMES = {"start": ("Check obproxy status", "Start obproxy"), "stop": ("Check obproxy status", "Stop obproxy"),
              LOCAL: ("Check agent", "Upgrade agent")}
#: Identities whose ordinary routes accept the agent password (``VerifyObRouters``); a FOLLOWER
#: auto-forwards them to its master, which fails without ``X-OCS-Header``.
FORWARD_HEADER_MISSING = "Header not found when auto-forwarding request to master"
NOT_ODP_LOG = "This is not an OBProxy agent"
START_FAIL_LOG = "start obproxy failed: obproxy exited with code 1 before the health check"


def format_time(unix: float, offset: str) -> str:
    """Go's RFC3339Nano (trailing zeros of the fraction trimmed) in the agent's UTC offset."""
    tz = _TZ_CACHE.get(offset)
    if tz is None:
        if offset == "Z":
            tz = UTC
        else:
            sign = 1 if offset[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        _TZ_CACHE[offset] = tz
    ns = int(round(unix * 1e9))
    secs, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(secs, tz).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    suffix = "Z" if tz is UTC else datetime.fromtimestamp(secs, tz).strftime("%z")
    if suffix != "Z":
        suffix = suffix[:3] + ":" + suffix[3:]
    return f"{text}{'.' + digits if digits else ''}{suffix}"


@dataclass(slots=True)
class SimRequest:
    """What the server hands the agent: the raw request target, headers (case-insensitive) and body."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def query(self, name: str) -> str | None:
        for pair in self.target.partition("?")[2].split("&"):
            key, _, value = pair.partition("=")
            if key == name:
                return value
        return None


@dataclass(slots=True)
class Answer:
    """The agent's reply. ``action`` tells the server how to deliver it."""

    status: int
    doc: dict[str, Any] | None = None
    action: str = "answer"  # answer | hang | garbage | truncated | oversize | drop | dead | plain | raw
    delay: float = 0.0
    #: the body as sent, for ``raw`` answers (hostile ones)
    body: bytes | None = None


class Env:
    """What agents share: the seeded RNG and fresh keys for rotation. Passed in, so tests control it."""

    __slots__ = ("rng", "fresh_key")

    def __init__(self, rng: random.Random, fresh_key: Callable[[int], KeyPair]) -> None:
        self.rng = rng
        self.fresh_key = fresh_key


@dataclass(slots=True)
class SimAgent:
    """One agent's identity, key, DAGs and counters. Small: settings are shared between agents."""

    ip: str
    port: int
    settings: AgentSettings
    key: KeyPair
    pid: int
    started_ns: int
    dags: dict[int, Dag] = field(default_factory=dict)
    next_dag_id: int = 1
    requests: dict[str, int] = field(default_factory=dict)
    traces: list[tuple[str, str]] = field(default_factory=list)
    auth_failures: dict[str, int] = field(default_factory=dict)
    starts_accepted: int = 0
    starts_refused: int = 0
    auth_ok: int = 0
    key_since: float = 0.0
    key_rotations: int = 0
    first_start: float | None = None
    restarted: bool = False
    dead: bool = False
    polls: int = 0
    failed_runs: int = 0
    stop_dag: int | None = None
    #: DAG lookups answered 404 Task.NotFound (probes of ids not created, or not ODP)
    dag_not_found: int = 0
    #: when this agent first started (its synthesised history ends before it)
    born: float = 0.0

    def __post_init__(self) -> None:
        if not self.born:
            self.born = self.started_ns / 1e9
        self.next_dag_id = max(self.next_dag_id, self.settings.history + 1)

    @property
    def address(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"

    # -- entry point -------------------------------------------------------------------

    def handle(self, req: SimRequest, now: float, env: Env) -> Answer:
        """Answer one request received at real time ``now``."""
        s = self.settings
        f = s.faults
        route, label = self._route(req)
        self.requests[label] = self.requests.get(label, 0) + 1
        self._advance(now, env)
        if self.dead:
            return Answer(0, action="dead")
        if route in f.hang:
            return Answer(0, action="hang")
        for action, routes in (("garbage", f.garbage), ("truncated", f.truncated), ("oversize", f.oversize)):
            if route in routes:
                return Answer(200, action=action, delay=f.slow)
        answer = self._answer(req, route, now, env)
        if route == "start" and answer.status != 200:
            self.starts_refused += 1
        if answer.doc is not None and "traceId" in answer.doc:
            self.traces.append((label, answer.doc["traceId"]))
            if route in f.bad_types:
                answer.doc.update(successful="yes", status=str(answer.status), duration="2ms")
        answer.delay = f.slow
        if f.hostile.active:
            status, doc, raw = hostile.rewrite(f.hostile, route, answer.status, answer.doc, s.password)
            answer = Answer(status, doc, "raw" if raw is not None else answer.action, answer.delay, raw)
        return answer

    def _route(self, req: SimRequest) -> tuple[str | None, str]:
        method, path = req.method, req.path
        parts = path.split("/")
        route: str | None = None
        label = f"{method} {path}"
        if method == "GET" and path == "/api/v1/info":
            route = "info"
        elif method == "GET" and path == "/api/v1/secret":
            route = "secret"
        elif method == "POST" and path in ("/api/v1/obproxy/start", "/api/v1/obproxy/stop"):
            if version_tuple(self.settings.version) >= (4, 2, 6):
                route = parts[-1]
        elif method == "GET" and path == "/api/v1/task/dag/agent/unfinish":
            route = "unfinished"
        elif method == "GET" and path == "/api/v1/task/dags/agent":
            route = "dags"
        elif len(parts) == 6 and path.startswith("/api/v1/task/dag/") and parts[5]:
            if method in ("GET", "POST"):
                route = "dag" if method == "GET" else "operate"
                label = f"{method} /api/v1/task/dag/{{id}}"
        return route, label

    # -- time-driven changes -------------------------------------------------------------

    def _advance(self, now: float, env: Env) -> None:
        f = self.settings.faults
        if self.first_start is not None:
            if f.die_after is not None and now >= self.first_start + f.die_after:
                self.dead = True
            if f.forget_dags_after is not None and not self.restarted and now >= self.first_start + f.forget_dags_after:
                self.restart(now, env)  # a fault: real obshell keeps its DAGs across restarts
                self.dags.clear()
                self.stop_dag = None
            if f.restart_after is not None and not self.restarted and now >= self.first_start + f.restart_after:
                self.restart(now, env)
        if f.rotate_every and now - self.key_since >= f.rotate_every:
            self._rotate(now, env)

    def restart(self, now: float, env: Env) -> None:
        """The agent process restarts, as obshell's does: new pid, ``startAt`` and key pair (the
        key is generated at startup); the sqlite DAG history, running DAGs and the ODP
        maintenance lock survive."""
        self.restarted = True
        self.pid += 1
        self.started_ns = int(now * 1e9)
        self._rotate(now, env)

    def _rotate(self, now: float, env: Env) -> None:
        self.key = env.fresh_key(self.settings.key_bits)
        self.key_since = now
        self.key_rotations += 1

    # -- envelopes -------------------------------------------------------------------------

    def _envelope(self, status: int, trace: str, now: float) -> dict[str, Any]:
        return {"successful": status < 400, "timestamp": format_time(now + self.settings.clock_skew,
                self.settings.utc_offset), "duration": 0, "status": status, "traceId": trace}

    def _ok(self, data: Any, trace: str, now: float) -> Answer:
        doc = self._envelope(200, trace, now)
        if data is not None:
            doc["data"] = data
        return Answer(200, doc)

    def _err(self, status: int, err_code: str, code: int | None, message: str, trace: str, now: float) -> Answer:
        if self.settings.legacy_errors:
            legacy_code, legacy_status = _LEGACY.get(err_code, (10008, 401) if status == 401 else (1002, status))
            if status == 401 or err_code == "Request.Header.NotFound":
                legacy_status = 401
                legacy_code = code if code is not None else 10008
                if legacy_code == 10008:
                    message = "Verification failed: " + message.removeprefix("Unauthorized: ")
            status = legacy_status
            error: dict[str, Any] = {"code": legacy_code, "message": message}
        else:
            error = {"errCode": err_code, "message": message}
            if code is not None:
                error = {"code": code, **error}
        doc = self._envelope(status, trace, now)
        doc["error"] = error
        return Answer(status, doc)

    def _auth_err(self, status: int, err_code: str, code: int | None, message: str, trace: str, now: float) -> Answer:
        self.auth_failures[err_code] = self.auth_failures.get(err_code, 0) + 1
        return self._err(status, err_code, code, message, trace, now)

    def _not_found(self, trace: str, now: float) -> Answer:
        return self._err(404, "Common.NotFound", None, "Element not found: 404 not found", trace, now)

    # -- verification ----------------------------------------------------------------------

    def _answer(self, req: SimRequest, route: str | None, now: float, env: Env) -> Answer:
        if not req.path.startswith(("/api/v1/", "/rpc/v1/")):
            return Answer(404, None, action="plain")
        # Agents older than 4.2.6 do not know X-OCS-Agent-Header and ignore it.
        old = version_tuple(self.settings.version) < (4, 2, 6)
        agent_raw = None if old else req.headers.get(AGENT_HEADER)
        ob_raw = req.headers.get(OB_HEADER)
        raw = agent_raw if agent_raw is not None else ob_raw
        header: dict[str, Any] | None = None
        session: crypto.SessionKey | None = None
        if raw is not None:
            try:
                header = _decode_header(raw, self.key)
            except crypto.CryptoError as exc:
                return self._auth_err(401, "Security.Authentication.Header.DecryptFailed", 1,
                                      f"Decrypt http header failed: {exc}", "", now)
            if req.body:
                try:
                    session = crypto.SessionKey.from_wire(header["keys"])
                    body = crypto.decrypt_body(req.body, session)
                except crypto.CryptoError as exc:
                    return self._auth_err(401, "Common.Unauthorized", 10008, f"Unauthorized: {exc}", "", now)
                req.body = body
        trace = req.headers.get(TRACE_HEADER) or f"{env.rng.getrandbits(64):016x}"
        if route is None:
            return self._not_found(trace, now)
        if route in self.settings.faults.http500:
            return self._err(500, "Common.Unexpected", None, "Unexpected error: Internal Server Error", trace, now)
        if route == "info":
            return self._ok(self._info(), trace, now)
        if route == "secret":
            return self._ok({"ip": self.ip, "port": self.port, "public_key": self.key.public_wire}, trace, now)
        refusal = self._verify(req, route, header, agent_raw is not None, trace, now)
        if refusal is not None:
            return refusal
        self.auth_ok += 1
        rotate_after = self.settings.faults.rotate_after_requests
        if rotate_after and self.auth_ok % rotate_after == 0:
            self._rotate(now, env)
        return self._dispatch(req, route, trace, now, env)

    def _verify(self, req: SimRequest, route: str, header: dict[str, Any] | None, by_agent: bool,
                trace: str, now: float) -> Answer | None:
        s = self.settings
        if header is None:
            return self._auth_err(400, "Request.Header.NotFound", None,
                                  "X-OCS-Agent-Header or X-OCS-Header not found in http request header", trace, now)
        if route in ("start", "stop") and not by_agent:
            return self._auth_err(400, "Request.Header.NotFound", None,
                                  "X-OCS-Agent-Header not found in http request header", trace, now)
        if header["uri"] != req.target:
            return self._auth_err(401, "Security.Authentication.Header.UriMismatch", 10008, "URI mismatch", trace, now)
        odp_task = route in ("dag", "operate") and req.path.rsplit("/", 1)[1][:1] in ("4", "5")
        if route in ("start", "stop") or odp_task:
            if not by_agent:
                return self._auth_err(401, "Security.Authentication.WithAgentPassword", 10008,
                                      "Unauthorized: Should use agent_password to verify: "
                                      "this route only support agent password", trace, now)
            return self._verify_auth(header, s.password, s.agent_password_set, trace, now, agent=True)
        # VerifyObRouters: a FOLLOWER accepts only a token; anything else is auto-forwarded to
        # its master, and the forward needs X-OCS-Header: with the agent header the follower
        # answers 500 Request.Forward.Header.NotExist before any password check.
        if s.identity == "FOLLOWER" and by_agent:
            return self._err(500, "Request.Forward.Header.NotExist", None, FORWARD_HEADER_MISSING, trace, now)
        # SINGLE/MASTER agents without an agent password let anything through.
        if not s.agent_password_set and s.identity in ("SINGLE", "MASTER"):
            return None
        if by_agent:
            return self._verify_auth(header, s.password, s.agent_password_set, trace, now, agent=True)
        return self._verify_auth(header, s.ob_password, True, trace, now, agent=False)

    def _verify_auth(self, header: dict[str, Any], password: str, initialised: bool, trace: str, now: float,
                     *, agent: bool) -> Answer | None:
        if not initialised:
            return self._auth_err(401, "Security.Authentication.AgentPasswordNotInitialized", 10008,
                                  "Unauthorized: Agent password is not initialized", trace, now)
        auth = header["auth"]
        if auth != "":
            ts = header["ts"]
            if not _TS.fullmatch(ts):
                return self._auth_err(401, "Security.Authentication.Timestamp.Invalid", 10008,
                                      f"Unauthorized: Invalid timestamp: {ts}, err: invalid syntax", trace, now)
            if int(now + self.settings.clock_skew) > int(ts):
                return self._auth_err(401, "Security.Authentication.Expired", 10008,
                                      "Unauthorized: Authentication expired", trace, now)
        if auth != password:
            if agent:
                return self._auth_err(401, "Security.Authentication.IncorrectAgentPassword", 10008,
                                      "Unauthorized: Agent password is incorrect", trace, now)
            return self._auth_err(401, "Security.Authentication.IncorrectOceanbasePassword", 10008,
                                  "Unauthorized: OceanBase password is incorrect", trace, now)
        return None

    # -- handlers ----------------------------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        s = self.settings
        return {
            "pid": self.pid, "state": 1, "startAt": self.started_ns, "homePath": "/home/admin/obshell",
            "obVersion": "", "architecture": "x86_64", "ip": self.ip, "port": self.port, "zone": s.zone,
            "identity": s.identity, "version": s.version, "isObproxyAgent": s.is_obproxy_agent,
            "security": s.agent_password_set, "supportedAuth": ["v2"],
        }

    def _dispatch(self, req: SimRequest, route: str, trace: str, now: float, env: Env) -> Answer:
        if route == "start":
            return self._start(trace, now, env)
        if route == "stop":
            return self._stop(trace, now, env)
        if route in ("unfinished", "dags"):
            details = _show_details(req)
            if details is None:
                return self._err(400, "Common.IllegalArgument", None, "Illegal argument: show_details", trace, now)
            if route == "dags":
                dags = [*self._history(), *self.dags.values()]
            else:  # old DAGs are all finished
                dags = [d for d in self.dags.values() if not d.is_finished(now)]
            return self._ok({"contents": [self.dag_dto(d, now, details) for d in dags]}, trace, now)
        return self._dag_route(req, route, trace, now, env)

    def _new_dag(self, kind: str, now: float, env: Env) -> Dag:
        low, high = self.settings.dag_duration
        dag = Dag(self.next_dag_id, kind, now, now, env.rng.uniform(low, high))
        self.next_dag_id += 1
        self.plan_run(dag)
        self.dags[dag.dag_id] = dag
        return dag

    def plan_run(self, dag: Dag) -> None:
        """Decide how this run of ``dag`` ends (a fresh DAG, or one RETRY re-runs)."""
        f = self.settings.faults
        if not self.settings.is_obproxy_agent:
            dag.fail_stage = 1
        elif self.failed_runs < f.dag_fails:
            self.failed_runs += 1
            dag.fail_stage = 2
        else:
            dag.fail_stage = 0
        dag.stuck = f.dag_stuck

    def _start(self, trace: str, now: float, env: Env) -> Answer:
        s = self.settings
        if not s.is_obproxy_agent and version_tuple(s.version) < (4, 3, 1):
            return self._err(400, "OBProxy.NotBeManaged", None, NOT_ODP_LOG, trace, now)
        dag = self._new_dag("start", now, env)
        self.starts_accepted += 1
        if self.first_start is None:
            self.first_start = now
        if s.faults.drop_after_start:
            return Answer(0, action="drop")
        return self._ok(self.dag_dto(dag, now, False), trace, now)

    def _stop(self, trace: str, now: float, env: Env) -> Answer:
        if not self.settings.is_obproxy_agent:
            return self._err(400, "OBProxy.NotBeManaged", None, NOT_ODP_LOG, trace, now)
        held = self.dags.get(self.stop_dag) if self.stop_dag is not None else None
        if held is not None and operators.holds_stop_lock(held, now):
            return self._err(500, "Agent.UnderMaintenance", None,
                             f"Create task 'Stop obproxy' failed: {self.address} is under maintenance", trace, now)
        dag = self._new_dag("stop", now, env)
        self.stop_dag = dag.dag_id
        return self._ok(self.dag_dto(dag, now, False), trace, now)

    def _dag_route(self, req: SimRequest, route: str, trace: str, now: float, env: Env) -> Answer:
        generic_id = req.path.rsplit("/", 1)[1]
        if route == "dag":
            self.polls += 1
            if self.polls <= self.settings.faults.flaky_polls:
                return self._err(500, "Common.Unexpected", None, "Unexpected error: Internal Server Error", trace, now)
        dag_or_error = self._find_dag(generic_id, trace, now)
        if isinstance(dag_or_error, Answer):
            return dag_or_error
        dag = dag_or_error
        if route == "dag":
            details = _show_details(req)
            if details is None:
                return self._err(400, "Common.IllegalArgument", None, "Illegal argument: show_details", trace, now)
            return self._ok(self.dag_dto(dag, now, details), trace, now)
        return self._operate(dag, req.body, trace, now)

    def _find_dag(self, generic_id: str, trace: str, now: float) -> Dag | Answer:
        """obshell's ``GetDagDetail``: parse the generic id, look the row up, check its kind."""
        invalid = self._err(400, "Task.GenericID.Invalid", None, f"Invalid ID: {generic_id}", trace, now)
        first = generic_id[:1]
        if first in ("2", "3", "4", "5"):
            # 2/3 (local, non-ODP) ids share the 4/5 layout: parse as ODP with the prefix swapped.
            odp_prefix = {"2": "4", "3": "5"}.get(first, first)
            parsed = parse_odp_generic_id(odp_prefix + generic_id[1:])
            if parsed is None:
                return invalid
            ip, port, dag_id = parsed
            if (ip, port) != (self.ip, self.port):
                if first in ("4", "5"):
                    return self._not_found_dag("Task not found: obproxy task not found", trace, now)
                return self._not_found_dag("Task not found: record not found", trace, now)
            dag = self.lookup(dag_id)
            if dag is None:
                return self._not_found_dag("Task not found: record not found", trace, now)
            if dag.odp != (first in ("4", "5")):  # the row exists, but its generic id is another one
                return self._not_found_dag("Task not found: dag id not match", trace, now)
            return dag
        if not (first == "1" and generic_id[1:].isdigit() and len(generic_id) > 1):
            return invalid
        return self._not_found_dag("Task not found: record not found", trace, now)

    def _not_found_dag(self, message: str, trace: str, now: float) -> Answer:
        self.dag_not_found += 1
        return self._err(404, "Task.NotFound", None, message, trace, now)

    def lookup(self, dag_id: int) -> Dag | None:
        """Row ``dag_id`` of the agent's ``dag_instance`` table (history included), if it exists."""
        if 1 <= dag_id <= self.settings.history:
            return old_dag(dag_id, self.settings, self.born)
        return self.dags.get(dag_id)

    def _history(self) -> list[Dag]:
        return [old_dag(i, self.settings, self.born) for i in range(1, self.settings.history + 1)]

    def generic_id(self, dag: Dag) -> str:
        """The DAG's generic id: 4/5 for ODP DAGs, 2/3 for other local DAGs."""
        odp = odp_generic_id(self.ip, self.port, dag.dag_id)
        return odp if dag.odp else {"4": "2", "5": "3"}[odp[0]] + odp[1:]

    def _operate(self, dag: Dag, body: bytes, trace: str, now: float) -> Answer:
        import json

        try:
            doc = json.loads(body or b"{}")
            operator = str(doc.get("operator") or "").upper()
        except (ValueError, AttributeError):
            operator = ""
        if not operator:  # binding:"required"
            return self._err(400, "Common.BindJsonFailed", None, "Bind json failed: operator is required", trace, now)
        refusal = operators.apply(self, dag, operator, now)
        if refusal is not None:
            return self._err(*refusal[:2], None, refusal[2], trace, now)
        return self._ok(None, trace, now)

    # -- DTOs ----------------------------------------------------------------------------------

    def dag_dto(self, dag: Dag, now: float, details: bool) -> dict[str, Any]:
        """obshell's DagDetailDTO (with ``nodes`` only when details are asked)."""
        s = self.settings
        state, stage, current = dag.view(now)
        start, end = dag.times(now)  # end_time is the creation time until the DAG finishes
        reset = operators.shown_times(dag, now)
        if reset is not None:  # RETRY/CANCEL set both times to time.Unix(0, 0) until it runs again
            start, end = (t if t is not None else EPOCH for t in reset)
        skew, tz = s.clock_skew, s.utc_offset
        dto: dict[str, Any] = {
            "id": self.generic_id(dag), "dag_id": dag.dag_id, "name": DAG_NAMES[dag.kind],
            "stage": stage, "max_stage": 2, "maintenance_type": 4 if dag.maintenance else 1,
            "maintenance_key": "", "state": state, "operator": dag.operator,
            "start_time": format_time(start + skew if start else 0.0, tz),
            "end_time": format_time(end + skew if end else 0.0, tz),
            "additional_data": {} if details else None, "nodes": None,
        }
        if details:
            dto["nodes"] = [self._node_dto(dag, i, state, current, now) for i in (1, 2)]
        return dto

    def _node_dto(self, dag: Dag, index: int, state: str, current: int, now: float) -> dict[str, Any]:
        name = NODE_NAMES[dag.kind][index - 1]
        logs: list[str] = []
        if current > index or state == "SUCCEED":
            node_state = "SUCCEED"
        elif current < index or state == "READY":
            node_state = "PENDING"
        elif state == "FAILED":
            node_state = "FAILED"
        else:
            node_state = "RUNNING"
        if node_state != "PENDING":
            logs.append(f"{name.lower()} on {self.address}")
        if node_state == "FAILED":
            if dag.operator == "CANCEL":
                logs.append("task cancelled")
            else:
                logs.append(NOT_ODP_LOG if index == 1 else START_FAIL_LOG)
        if state == "SUCCEED" and dag.operator in ("ROLLBACK", "PASS"):
            node_state = "SUCCEED"
        skew, tz = self.settings.clock_skew, self.settings.utc_offset
        node_id = dag.dag_id * 10 + index
        sub = {
            "id": str(node_id), "task_id": node_id, "name": name, "state": node_state, "operator": dag.operator,
            "start_time": format_time(dag.run_start + skew, tz) if node_state != "PENDING" else ZERO_TIME,
            "end_time": ZERO_TIME, "additional_data": {}, "execute_times": dag.execute_times if node_state != "PENDING"
            else 0, "execute_agent": {"ip": self.ip, "port": self.port}, "task_logs": logs,
        }
        return {"id": str(node_id), "node_id": node_id, "name": name, "state": node_state, "operator": dag.operator,
                "start_time": sub["start_time"], "end_time": ZERO_TIME, "additional_data": None, "sub_tasks": [sub]}

    # -- state file ------------------------------------------------------------------------------

    def snapshot(self, now: float) -> dict[str, Any]:
        """This agent's part of the state file."""
        dags = []
        for dag in self.dags.values():
            state, stage, _ = dag.view(now)
            end = dag.end_time()
            dags.append({"id": self.generic_id(dag), "dag_id": dag.dag_id,
                         "name": DAG_NAMES[dag.kind], "created_at": dag.created, "end_at": end,
                         "state": state, "stage": stage, "operator": dag.operator,
                         "execute_times": dag.execute_times})
        return {"requests": dict(self.requests), "starts_accepted": self.starts_accepted,
                "starts_refused": self.starts_refused, "trace_ids": [[r, t] for r, t in self.traces],
                "dags": dags, "history": self.settings.history, "dag_not_found": self.dag_not_found,
                "auth_failures": dict(self.auth_failures), "key_rotations": self.key_rotations,
                "restarted": self.restarted, "dead": self.dead}


def _decode_header(raw: str, key: KeyPair) -> dict[str, Any]:
    """Decrypt and type-check the auth header as Go's json.Unmarshal into HttpHeader would."""
    doc = crypto.decrypt_header(raw, key.private)
    fields: dict[str, Any] = {"auth": "", "ts": "", "uri": "", "keys": ""}
    for name, value in doc.items():
        lowered = name.lower()
        if lowered in fields:
            if not isinstance(value, str):
                raise crypto.CryptoError(f"json: cannot unmarshal {type(value).__name__} into field {lowered}")
            fields[lowered] = value
    if fields["keys"]:
        import base64
        import binascii

        try:
            base64.b64decode(fields["keys"], validate=True)
        except (binascii.Error, ValueError):
            raise crypto.CryptoError("illegal base64 data in keys") from None
    return fields


def _show_details(req: SimRequest) -> bool | None:
    value = req.query("show_details")
    if value is None:
        return True
    return _GO_BOOLS.get(value)
