"""Which DAG on an agent is the one fleet must follow rather than fire again. Pure matching.

Two questions, both answered from DAGs already read (the unfinished list, or ids probed by
:mod:`fleet.engine.probe`):

- before firing: does the agent already run a DAG of this operation (:func:`find_running`),
  or does a DAG hold obshell's ODP maintenance lock (:func:`lock_holder`)?
- after a start whose answer was lost: which DAG did it create (:func:`find_lost_dag`)?

The maintenance lock is not the unfinished list (obshell ``service/task/dag.go``): stop, add,
upgrade and delete take the one ODP lock when they are created, and release it when they
succeed (PASS included) or fail in "Check obproxy status" (the only node carrying
``FAILURE_EXIT_MAINTENANCE``); a failure anywhere else keeps it. Every failed maintenance DAG
stays in the unfinished list for ever, whether it kept the lock or not. Start takes no lock: sent
while another DAG holds it, it runs beside that DAG (a hot upgrade, a delete), so fleet does not
send it; sent while only dead DAGs that released the lock are unfinished, it is safe.
"""

from __future__ import annotations

from collections.abc import Iterable

from fleet.models import DagDetail
from fleet.protocol.clock import parse_agent_time
from fleet.protocol.dags import (
    LOCK_RELEASING_NODE,
    OBPROXY_MAINTENANCE_TYPE,
    ODP_MAINTENANCE_DAGS,
    ODP_NODES,
    START_OBPROXY,
    STOP_OBPROXY,
    DagState,
)
from fleet.protocol.ids import is_odp_dag_id, parse_odp_generic_id, same_address

#: A DAG created this long before fleet's send time still counts (clock measurement error).
CLOCK_TOLERANCE_S = 5.0
#: obshell resets a DAG's times to the 1970 epoch on RETRY/ROLLBACK/CANCEL: such times say nothing.
_EPOCH_GUARD_S = 86_400.0


def foreign_dag(dag: DagDetail, ip: str, port: int) -> str | None:
    """Why ``dag`` cannot be a DAG of agent ``ip:port`` (its generic id names another agent, or
    another dag_id), or None when it can. obshell builds an ODP DAG's id from the agent's own
    address and the DAG's sequence number, so an id that says otherwise is not this agent's DAG."""
    parsed = parse_odp_generic_id(dag.id)
    if parsed is None:
        return f"DAG id {dag.id[:64]!r} is not an ODP DAG id"
    owner_ip, owner_port, number = parsed
    if not (same_address(owner_ip, ip) and owner_port == port):
        return f"DAG {dag.id} belongs to another agent ({owner_ip}:{owner_port}), not to {ip}:{port}"
    if number != dag.dag_id:
        return f"DAG {dag.id} says its dag_id is {dag.dag_id}, its id says {number}"
    return None


def takes_lock(dag: DagDetail) -> bool:
    """Whether ``dag`` is of a kind that takes the ODP maintenance lock: its ``maintenance_type``
    says so (4), or, where the agent shows none, its name is stop, add, upgrade or delete."""
    return dag.maintenance_type == OBPROXY_MAINTENANCE_TYPE or dag.name in ODP_MAINTENANCE_DAGS


def failed_where_lock_is_released(dag: DagDetail) -> bool:
    """Whether a failed DAG failed in the node whose failure releases the lock ("Check obproxy
    status"): read from its failed node when the DAG carries its nodes, else from its stage and
    its template's node names. An unknown template never released it (obshell's upgrade has no
    such node and keeps the lock wherever it fails)."""
    failed = [node.name for node in dag.nodes if node.state == DagState.FAILED]
    if failed:
        return failed[0] == LOCK_RELEASING_NODE
    nodes = ODP_NODES.get(dag.name, ())
    return 1 <= dag.stage <= len(nodes) and nodes[dag.stage - 1] == LOCK_RELEASING_NODE


def holds_lock(dag: DagDetail) -> bool:
    """Whether ``dag`` holds obshell's ODP maintenance lock: a maintenance DAG that has not
    succeeded, and has not failed where a failure releases the lock. A DAG in a state fleet does
    not know counts as holding it (nothing is sent into a lock that may be held)."""
    if not is_odp_dag_id(dag.id) or not takes_lock(dag) or dag.state == DagState.SUCCEED:
        return False
    return not (dag.state == DagState.FAILED and failed_where_lock_is_released(dag))


def obshell_unfinished(dag: DagDetail) -> bool:
    """What obshell's unfinished list would say: not SUCCEED, and not FAILED unless it is a
    maintenance DAG (a failed stop, add, upgrade or delete stays unfinished for ever, whether it
    kept the lock or not: see :func:`holds_lock`)."""
    if dag.state == DagState.SUCCEED:
        return False
    return dag.state != DagState.FAILED or takes_lock(dag)


def _newest(dags: Iterable[DagDetail]) -> list[DagDetail]:
    return sorted((d for d in dags if is_odp_dag_id(d.id)), key=lambda d: d.dag_id, reverse=True)


def find_running(dags: Iterable[DagDetail], dag_name: str) -> DagDetail | None:
    """The newest ODP DAG named ``dag_name`` still under way (not SUCCEED or FAILED): a start
    (or stop) to follow instead of sending another. A dead (failed) DAG is never "running", even
    where it stays in the unfinished list."""
    for dag in _newest(dags):
        if dag.name == dag_name and not dag.finished:
            return dag
    return None


def lock_holder(dags: Iterable[DagDetail]) -> DagDetail | None:
    """The newest ODP DAG holding obshell's ODP maintenance lock, if any (:func:`holds_lock`)."""
    for dag in _newest(dags):
        if holds_lock(dag):
            return dag
    return None


def created_not_before(dag: DagDetail) -> float | None:
    """A time the DAG was created at or before (unix seconds), from its shown times.

    ``end_time`` is the creation time until the DAG finishes, ``start_time`` the creation time
    until it runs: both are at or after the creation, so the earliest meaningful one is the
    closest bound. None when neither says anything (unparsable, or reset to the epoch).
    """
    times = [parse_agent_time(t or "") for t in (dag.start_time, dag.end_time)]
    valid = [t for t in times if t is not None and t > _EPOCH_GUARD_S]
    return min(valid) if valid else None


def find_lost_dag(dags: Iterable[DagDetail], dag_name: str, sent_at_agent_clock: float,
                  after_id: int | None = None) -> DagDetail | None:
    """The newest ODP DAG named ``dag_name`` that the send may have created, if any.

    ``after_id``: the highest DAG id that existed before the send, when known; ids are
    allocated in creation order, so only DAGs above it qualify, whatever their times say.
    Without it, the DAG's times (agent's clock) must not predate the send.
    """
    for dag in _newest(dags):
        if dag.name != dag_name:
            continue
        if after_id is not None:
            if dag.dag_id > after_id:
                return dag
            continue
        created = created_not_before(dag)
        if created is not None and created >= sent_at_agent_clock - CLOCK_TOLERANCE_S:
            return dag
    return None


def before_fire(dags: Iterable[DagDetail], dag_name: str) -> tuple[DagDetail | None, DagDetail | None]:
    """``(to adopt, lock holder)`` from what the agent runs, before fleet sends ``dag_name``.

    A DAG of the same operation still under way is adopted (a running stop holds the lock
    itself). Otherwise a DAG holding the ODP maintenance lock blocks: a start would run beside
    it (obshell's start takes no lock), a stop would be refused; fleet sends nothing.
    """
    dags = list(dags)
    running = find_running(dags, dag_name)
    if running is not None:
        return running, None
    return None, lock_holder(dags)


def lock_message(holder: DagDetail, dag_name: str) -> str:
    """Why nothing was sent: the DAG holding the lock, named, and what to do about it."""
    what = ("a start now would run beside it (obshell's start takes no lock)" if dag_name == START_OBPROXY
            else f"obshell would refuse a '{dag_name}' (Agent.UnderMaintenance)")
    where = f"stage {holder.stage}/{holder.max_stage}"
    if holder.state == DagState.FAILED:
        state = (f"failed at {where} and still holds obshell's ODP maintenance lock (only a failure in "
                 f"'{LOCK_RELEASING_NODE}' releases it)")
        advice = "retry or pass it (fleet dag retry|pass, or obshell), then run again"
    else:
        state = f"is {holder.state} at {where} and holds obshell's ODP maintenance lock"
        advice = "let it finish, then run again"
    lead = "the agent is mid-stop" if holder.name == STOP_OBPROXY else "the agent is under maintenance"
    return f"{lead}: DAG {holder.id} '{holder.name}' {state}; {what}, so none was sent ({advice})"
