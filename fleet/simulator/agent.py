"""One simulated obshell agent: its state, the order it answers a request in, its faults. No I/O.

:meth:`SimAgent.handle` takes a :class:`~fleet.simulator.exchange.SimRequest` and the current
real time and returns an :class:`~fleet.simulator.exchange.Answer`. Behaviour follows obshell's
Go source: :mod:`~fleet.simulator.routing` finds the route, :mod:`~fleet.simulator.verify`
checks the credentials in obshell's order, :mod:`~fleet.simulator.handlers` acts,
:mod:`~fleet.simulator.dto` and :mod:`~fleet.simulator.replies` shape the answer. DAG progress
is computed from time, never by timers.

Route faults (hang, http500, garbage, truncated, oversize, bad_types) strike before the agent
acts; ``drop_after_start`` is the one that acts (creates the DAG) and then drops the answer.
Time-driven faults (die, restart, forget, key rotation) are applied on each request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleet.config import HEALTH_CHECK_TRIES
from fleet.protocol import api
from fleet.protocol.dags import DagState
from fleet.protocol.errcodes import ErrCode
from fleet.simulator import dto, handlers, hostile, replies
from fleet.simulator.dag import DAG_NAMES, Dag, old_dag
from fleet.simulator.exchange import Action, Answer, Env, Refusal, SimRequest
from fleet.simulator.keys import KeyPair
from fleet.simulator.routing import route_of
from fleet.simulator.settings import AgentSettings
from fleet.simulator.verify import Credentials, read_credentials, verify

NOT_FOUND_MESSAGE = "Element not found: 404 not found"


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
    #: whether the agent's ODP runs (a stop ends it, a start that will succeed brings it up)
    odp_running: bool = True
    #: the maintenance DAG that took the ODP maintenance lock last (it holds it while
    #: :meth:`~fleet.simulator.dag.Dag.holds_lock` says so)
    lock_dag: int | None = None
    #: DAG lookups answered with the ``busy_lookups`` fault so far
    busy_answered: int = 0
    #: DAG lookups answered 404 Task.NotFound (probes of ids not created, or not ODP)
    dag_not_found: int = 0
    #: when this agent first started (its synthesised history ends before it)
    born: float = 0.0
    #: hostile ``impersonate``: the agent whose identity this one claims (info, DAG ids)
    poses_as: SimAgent | None = None

    def __post_init__(self) -> None:
        if not self.born:
            self.born = self.started_ns / 1e9
        self.next_dag_id = max(self.next_dag_id, self.settings.history + 1)
        if not self.dags:
            self._plant()

    @property
    def own_ip(self) -> str:
        """The agent's own address, as /info shows it and its DAG ids are built from."""
        if self.settings.ipv4_mapped and ":" not in self.ip:
            return f"::ffff:{self.ip}"
        return self.ip

    @property
    def shown(self) -> SimAgent:
        """The agent whose identity (address, pid, start time) this one shows: itself unless hostile."""
        return self.poses_as or self

    @property
    def address(self) -> str:
        """``ip:port`` the agent listens on (the state file's key)."""
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"

    @property
    def own_address(self) -> str:
        """``ip:port`` as obshell writes its own address in messages (``meta.AgentInfo.String``)."""
        ip = self.own_ip
        return f"[{ip}]:{self.port}" if ":" in ip else f"{ip}:{self.port}"

    def lock_holder(self, now: float) -> Dag | None:
        """The DAG holding the ODP maintenance lock at ``now``, if any."""
        dag = self.dags.get(self.lock_dag) if self.lock_dag is not None else None
        return dag if dag is not None and dag.holds_lock(now) else None

    # -- entry point -------------------------------------------------------------------

    def handle(self, req: SimRequest, now: float, env: Env) -> Answer:
        """Answer one request received at real time ``now``."""
        s = self.settings
        f = s.faults
        route, label = route_of(req.method, req.path, s.version)
        self.requests[label] = self.requests.get(label, 0) + 1
        self._advance(now, env)
        if self.dead:
            return Answer(0, action=Action.DEAD)
        if route in f.hang:
            return Answer(0, action=Action.HANG)
        for routes, action in ((f.garbage, Action.GARBAGE), (f.truncated, Action.TRUNCATED),
                               (f.oversize, Action.OVERSIZE)):
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
            answer = Answer(status, doc, Action.RAW if raw is not None else answer.action, answer.delay, raw)
        return answer

    def _answer(self, req: SimRequest, route: str | None, now: float, env: Env) -> Answer:
        s = self.settings
        if not req.path.startswith((api.API_PREFIX, api.RPC_PREFIX)):
            return Answer(404, None, action=Action.PLAIN)
        creds = read_credentials(req, s.version, self.key)
        if isinstance(creds, Refusal):
            return self._refuse(creds, "", now)
        trace = req.headers.get(api.TRACE_HEADER) or f"{env.rng.getrandbits(64):016x}"
        if route is None:
            return replies.error(s, 404, ErrCode.COMMON_NOT_FOUND, None, NOT_FOUND_MESSAGE, trace, now)
        if route in s.faults.http500:
            return replies.error(s, 500, ErrCode.COMMON_UNEXPECTED, None, handlers.INTERNAL_ERROR, trace, now)
        if route == "info":
            return replies.ok(s, dto.info(self), trace, now)
        if route == "secret":
            return replies.ok(s, dto.secret(self), trace, now)
        return self._authorised(req, route, creds, trace, now, env)

    def _authorised(self, req: SimRequest, route: str, creds: Credentials, trace: str, now: float,
                    env: Env) -> Answer:
        refusal = verify(req, route, creds, self.settings, now)
        if refusal is not None:
            return self._refuse(refusal, trace, now)
        self.auth_ok += 1
        rotate_after = self.settings.faults.rotate_after_requests
        if rotate_after and self.auth_ok % rotate_after == 0:
            self._rotate(now, env)
        if route == "start":
            return handlers.start(self, trace, now, env)
        if route == "stop":
            return handlers.stop(self, trace, now, env)
        if route in ("unfinished", "dags"):
            return handlers.dag_list(self, req, route, trace, now)
        return handlers.one_dag(self, req, route, trace, now)

    def _refuse(self, refusal: Refusal, trace: str, now: float) -> Answer:
        if refusal.auth:
            self.auth_failures[refusal.err_code] = self.auth_failures.get(refusal.err_code, 0) + 1
        return replies.error(self.settings, refusal.status, refusal.err_code, refusal.code, refusal.message, trace,
                             now)

    # -- time-driven changes (faults and restarts) ----------------------------------------

    def _advance(self, now: float, env: Env) -> None:
        f = self.settings.faults
        if self.first_start is not None:
            if f.die_after is not None and now >= self.first_start + f.die_after:
                self.dead = True
            if f.forget_dags_after is not None and not self.restarted and now >= self.first_start + f.forget_dags_after:
                self.restart(now, env)  # a fault: real obshell keeps its DAGs across restarts
                self.dags.clear()
                self.lock_dag = None
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

    # -- DAGs ------------------------------------------------------------------------------

    def new_dag(self, kind: str, now: float, env: Env) -> Dag:
        """A new row of the agent's DAG table, running from ``now``."""
        low, high = self.settings.dag_duration
        dag = Dag(self.next_dag_id, kind, now, now, env.rng.uniform(low, high))
        self.next_dag_id += 1
        self.plan_run(dag)
        self.dags[dag.dag_id] = dag
        dag.odp_was_running = self.odp_running
        if dag.kind in ("start", "stop"):
            self.odp_running = dag.kind == "start" and dag.fail_stage == 0
        if dag.maintenance:
            self.lock_dag = dag.dag_id
        return dag

    def _plant(self) -> None:
        """The ``dags:`` of the settings, after the history: created a minute apart before boot."""
        planted = self.settings.dags
        for n, spec in enumerate(planted):
            created = self.born - (len(planted) - n) * 60.0
            dag = Dag(self.next_dag_id, spec.kind, created, created, 1.0, final_stage=spec.stage)
            state = DagState(spec.state)
            if state in (DagState.FAILED, DagState.SUCCEED):
                dag.final_state, dag.final_at = state, created + 1.0
            else:
                dag.pinned = (state, spec.stage)
            self.next_dag_id += 1
            self.dags[dag.dag_id] = dag
            if dag.maintenance:
                self.lock_dag = dag.dag_id

    def plan_run(self, dag: Dag) -> None:
        """Decide how this run of ``dag`` ends (a fresh DAG, or one RETRY re-runs)."""
        s = self.settings
        f = s.faults
        dag.checks = 0.0
        if not s.is_obproxy_agent:
            dag.fail_stage = 1
        elif self.failed_runs < f.dag_fails:
            self.failed_runs += 1
            dag.fail_stage = 2
        else:
            dag.fail_stage = 0
            if dag.kind == "start" and s.health_check_tries:
                # obshell sleeps before each of up to 100 health checks, then gives up
                dag.checks = min(s.health_check_tries, HEALTH_CHECK_TRIES) * s.health_check_interval
                if s.health_check_tries > HEALTH_CHECK_TRIES:
                    dag.fail_stage = 2
        dag.stuck = f.dag_stuck

    def lookup(self, dag_id: int) -> Dag | None:
        """Row ``dag_id`` of the agent's ``dag_instance`` table (history included), if it exists."""
        if 1 <= dag_id <= self.settings.history:
            return old_dag(dag_id, self.settings, self.born)
        return self.dags.get(dag_id)

    def history(self) -> list[Dag]:
        """The DAGs the agent had before the simulator started (synthesised)."""
        return [old_dag(i, self.settings, self.born) for i in range(1, self.settings.history + 1)]

    def generic_id(self, dag: Dag) -> str:
        """The DAG's generic id: 4/5 for ODP DAGs, 2/3 for other local DAGs."""
        return dto.generic_id(self, dag)

    def dag_dto(self, dag: Dag, now: float, details: bool) -> dict[str, Any]:
        """obshell's DagDetailDTO (with ``nodes`` only when details are asked)."""
        return dto.dag_detail(self, dag, now, details)

    # -- state file ------------------------------------------------------------------------------

    def snapshot(self, now: float) -> dict[str, Any]:
        """This agent's part of the state file."""
        dags = []
        for dag in self.dags.values():
            state, stage, _ = dag.view(now)
            dags.append({"id": self.generic_id(dag), "dag_id": dag.dag_id,
                         "name": DAG_NAMES[dag.kind], "created_at": dag.created, "end_at": dag.end_time(),
                         "state": state, "stage": stage, "operator": dag.operator,
                         "execute_times": dag.execute_times})
        return {"requests": dict(self.requests), "starts_accepted": self.starts_accepted,
                "starts_refused": self.starts_refused, "trace_ids": [[r, t] for r, t in self.traces],
                "dags": dags, "history": self.settings.history, "dag_not_found": self.dag_not_found,
                "auth_failures": dict(self.auth_failures), "key_rotations": self.key_rotations,
                "restarted": self.restarted, "dead": self.dead}
