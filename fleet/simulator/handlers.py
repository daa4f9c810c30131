"""What a simulated agent does once a request passed its checks: the ODP and DAG routes. No I/O.

Each handler takes the agent, acts on its DAGs as obshell would, and returns the
:class:`~fleet.simulator.exchange.Answer`. ``drop_after_start`` is the one fault that strikes
here: the start acts (creates the DAG), then its answer is dropped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fleet.protocol.agentinfo import ERR_CODES_SINCE, version_tuple
from fleet.protocol.api import OPERATOR_FIELD
from fleet.protocol.errcodes import DAG_ID_NOT_MATCH, OBPROXY_TASK_NOT_FOUND, RECORD_NOT_FOUND, ErrCode
from fleet.protocol.ids import CLUSTER_PREFIX, is_local_dag_id, parse_local_generic_id
from fleet.simulator import dto, operators, replies
from fleet.simulator.dag import Dag
from fleet.simulator.exchange import Action, Answer, Env, SimRequest
from fleet.simulator.routing import dag_id_of

if TYPE_CHECKING:
    from fleet.simulator.agent import SimAgent

ILLEGAL_SHOW_DETAILS = "Illegal argument: show_details"
#: sqlite's error for a busy database, as obshell wraps any failed lookup into ``Task.NotFound``
LOOKUP_BUSY = "database is locked (5) (SQLITE_BUSY)"
INTERNAL_ERROR = "Unexpected error: Internal Server Error"


def start(agent: SimAgent, trace: str, now: float, env: Env) -> Answer:
    """``POST /api/v1/obproxy/start``: a new "Start obproxy" DAG (4.3.1+ creates it on a non-ODP agent too)."""
    s = agent.settings
    if not s.is_obproxy_agent and version_tuple(s.version) < ERR_CODES_SINCE:
        return replies.error(s, 400, ErrCode.OBPROXY_NOT_BE_MANAGED, None, dto.NOT_ODP_LOG, trace, now)
    dag = agent.new_dag("start", now, env)
    agent.starts_accepted += 1
    if agent.first_start is None:
        agent.first_start = now
    if s.faults.drop_after_start:
        return Answer(0, action=Action.DROP)
    return replies.ok(s, agent.dag_dto(dag, now, False), trace, now)


def stop(agent: SimAgent, trace: str, now: float, env: Env) -> Answer:
    """``POST /api/v1/obproxy/stop``: a new "Stop obproxy" DAG, unless a DAG holds the ODP
    maintenance lock (a stop, add, upgrade or delete: see :meth:`~fleet.simulator.dag.Dag.holds_lock`)."""
    s = agent.settings
    if not s.is_obproxy_agent:
        return replies.error(s, 400, ErrCode.OBPROXY_NOT_BE_MANAGED, None, dto.NOT_ODP_LOG, trace, now)
    if agent.lock_holder(now) is not None:
        return replies.error(s, 500, ErrCode.AGENT_UNDER_MAINTENANCE, None, operators.under_maintenance(agent),
                             trace, now)
    dag = agent.new_dag("stop", now, env)
    return replies.ok(s, agent.dag_dto(dag, now, False), trace, now)


def dag_list(agent: SimAgent, req: SimRequest, route: str, trace: str, now: float) -> Answer:
    """The agent's DAGs (``dags``: all of them, history included) or its unfinished ones."""
    details = req.show_details()
    if details is None:
        return replies.error(agent.settings, 400, ErrCode.COMMON_ILLEGAL_ARGUMENT, None, ILLEGAL_SHOW_DETAILS,
                             trace, now)
    if route == "dags":
        dags = [*agent.history(), *agent.dags.values()]
    else:  # old DAGs are all finished
        dags = [d for d in agent.dags.values() if not d.is_finished(now)]
    return replies.ok(agent.settings, {"contents": [agent.dag_dto(d, now, details) for d in dags]}, trace, now)


def one_dag(agent: SimAgent, req: SimRequest, route: str, trace: str, now: float) -> Answer:
    """``GET`` (``dag``) or ``POST`` (``operate``) ``/api/v1/task/dag/{id}``."""
    s = agent.settings
    if route == "dag":
        agent.polls += 1
        if agent.polls <= s.faults.flaky_polls:
            return replies.error(s, 500, ErrCode.COMMON_UNEXPECTED, None, INTERNAL_ERROR, trace, now)
    if agent.first_start is not None and agent.busy_answered < s.faults.busy_lookups:
        # the lookup itself fails (a busy sqlite): obshell still answers Task.NotFound
        agent.busy_answered += 1
        return replies.error(s, 404, ErrCode.TASK_NOT_FOUND, None, f"Task not found: {LOOKUP_BUSY}", trace, now)
    dag_or_error = _find_dag(agent, dag_id_of(req.path), trace, now)
    if isinstance(dag_or_error, Answer):
        return dag_or_error
    if route == "dag":
        details = req.show_details()
        if details is None:
            return replies.error(s, 400, ErrCode.COMMON_ILLEGAL_ARGUMENT, None, ILLEGAL_SHOW_DETAILS, trace, now)
        return replies.ok(s, agent.dag_dto(dag_or_error, now, details), trace, now)
    return _operate(agent, dag_or_error, req.body, trace, now)


def _find_dag(agent: SimAgent, generic_id: str, trace: str, now: float) -> Dag | Answer:
    """obshell's ``GetDagDetail``: parse the generic id, look the row up, check its kind."""
    invalid = replies.error(agent.settings, 400, ErrCode.TASK_GENERIC_ID_INVALID, None, f"Invalid ID: {generic_id}",
                            trace, now)
    if is_local_dag_id(generic_id):
        parsed = parse_local_generic_id(generic_id)
        if parsed is None:
            return invalid
        ip, port, dag_id, odp = parsed
        # obshell compares address strings (``meta.AgentInfo.Equal``); an id's address is read
        # back as Go prints it, so an agent whose own address is IPv4-mapped never matches
        if (ip, port) != (agent.own_ip, agent.port):
            return _not_found(agent, OBPROXY_TASK_NOT_FOUND if odp else RECORD_NOT_FOUND, trace, now)
        dag = agent.lookup(dag_id)
        if dag is None:
            return _not_found(agent, RECORD_NOT_FOUND, trace, now)
        if dag.odp != odp:  # the row exists, but its generic id is another one
            return _not_found(agent, DAG_ID_NOT_MATCH, trace, now)
        return dag
    if not (generic_id.startswith(CLUSTER_PREFIX) and generic_id[1:].isdigit() and len(generic_id) > 1):
        return invalid
    return _not_found(agent, RECORD_NOT_FOUND, trace, now)


def _not_found(agent: SimAgent, reason: str, trace: str, now: float) -> Answer:
    agent.dag_not_found += 1
    return replies.error(agent.settings, 404, ErrCode.TASK_NOT_FOUND, None, f"Task not found: {reason}", trace, now)


def _operate(agent: SimAgent, dag: Dag, body: bytes, trace: str, now: float) -> Answer:
    try:
        doc = json.loads(body or b"{}")
        operator = str(doc.get(OPERATOR_FIELD) or "").upper()
    except (ValueError, AttributeError):
        operator = ""
    if not operator:  # binding:"required"
        return replies.error(agent.settings, 400, ErrCode.COMMON_BIND_JSON_FAILED, None,
                             f"Bind json failed: {OPERATOR_FIELD} is required", trace, now)
    refusal = operators.apply(agent, dag, operator, now)
    if refusal is not None:
        return replies.error(agent.settings, refusal.status, refusal.err_code, refusal.code, refusal.message, trace,
                             now)
    return replies.ok(agent.settings, None, trace, now)
