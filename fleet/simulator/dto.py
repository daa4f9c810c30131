"""What a simulated agent's answers carry: obshell's DTOs for /info, /secret and DAGs. Pure.

The shapes follow obshell's ``AgentInfo``, ``DagDetailDTO``, ``NodeDetailDTO`` and
``TaskDetailDTO``; :mod:`fleet.protocol.wire` parses them on the client's side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.protocol.agentinfo import AUTH_V2
from fleet.protocol.clock import format_agent_time
from fleet.protocol.dags import OBPROXY_MAINTENANCE_TYPE, DagOperator, DagState
from fleet.protocol.ids import local_generic_id
from fleet.simulator import nodes
from fleet.simulator.dag import DAG_NAMES, EPOCH, Dag
from fleet.simulator.operators import shown_times
from fleet.simulator.replies import agent_time
from fleet.simulator.settings import AgentSettings

if TYPE_CHECKING:
    from fleet.simulator.agent import SimAgent

NOT_ODP_LOG = nodes.NOT_ODP_LOG
#: ``maintenance_type`` of a DAG that takes the ODP maintenance lock, and of one that does not
_MAINTENANCE, _NO_MAINTENANCE = OBPROXY_MAINTENANCE_TYPE, 1


def info(agent: SimAgent) -> dict[str, Any]:
    """``GET /api/v1/info``'s data."""
    s = agent.settings
    shown = agent.shown
    return {
        "pid": shown.pid, "state": 1, "startAt": shown.started_ns, "homePath": "/home/admin/obshell",
        "obVersion": "", "architecture": "x86_64", "ip": shown.own_ip, "port": shown.port, "zone": s.zone,
        "identity": s.identity, "version": s.version, "isObproxyAgent": s.is_obproxy_agent,
        "security": s.agent_password_set, "supportedAuth": [AUTH_V2],
    }


def secret(agent: SimAgent) -> dict[str, Any]:
    """``GET /api/v1/secret``'s data."""
    return {"ip": agent.shown.own_ip, "port": agent.shown.port, "public_key": agent.key.public_wire}


def generic_id(agent: SimAgent, dag: Dag) -> str:
    """The DAG's generic id: 4/5 for ODP DAGs, 2/3 for other local DAGs."""
    return local_generic_id(agent.shown.own_ip, agent.shown.port, dag.dag_id, odp=dag.odp)


def dag_detail(agent: SimAgent, dag: Dag, now: float, details: bool) -> dict[str, Any]:
    """obshell's DagDetailDTO (with ``nodes`` only when details are asked)."""
    s = agent.settings
    state, stage, current = dag.view(now)
    start, end = dag.times(now)  # end_time is the creation time until the DAG finishes
    reset = shown_times(dag, now)
    if reset is not None:  # RETRY/CANCEL set both times to time.Unix(0, 0) until it runs again
        start, end = (t if t is not None else EPOCH for t in reset)
    dto: dict[str, Any] = {
        "id": generic_id(agent, dag), "dag_id": dag.dag_id, "name": DAG_NAMES[dag.kind],
        "stage": stage, "max_stage": dag.max_stage,
        "maintenance_type": _MAINTENANCE if dag.maintenance else _NO_MAINTENANCE,
        "maintenance_key": "", "state": state, "operator": dag.operator,
        "start_time": _dag_time(s, start), "end_time": _dag_time(s, end),
        "additional_data": {} if details else None, "nodes": None,
    }
    if s.legacy_errors:
        # a 4.2.x agent's DagDetailDTO has no maintenance fields, and its PASS resets start_time
        # to the epoch (4.3.1+ keeps it); 4.3.0 is assumed to answer as 4.2.x (not checked)
        del dto["maintenance_type"], dto["maintenance_key"]
        if dag.operator == DagOperator.PASS:
            dto["start_time"] = _dag_time(s, EPOCH)
    if details:
        dto["nodes"] = [_node(agent, dag, i, state, current, now) for i in range(1, dag.max_stage + 1)]
    return dto


def _dag_time(settings: AgentSettings, unix: float) -> str:
    """A DAG time as the agent shows it; the 1970 epoch of a reset DAG carries no clock skew."""
    return agent_time(settings, unix) if unix else format_agent_time(EPOCH, settings.utc_offset)


def _node(agent: SimAgent, dag: Dag, index: int, state: DagState, current: int, now: float) -> dict[str, Any]:
    return nodes.node(agent, dag, index, state, current, now)
