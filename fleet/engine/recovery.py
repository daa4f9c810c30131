"""Which DAG on an agent is the one fleet must follow rather than fire again. Pure matching.

Two questions, both answered from DAGs already read (the unfinished list, or ids probed by
:mod:`fleet.engine.probe`):

- before firing: does the agent already run a DAG of this operation (:func:`find_running`),
  or is it mid-stop (:func:`stop_lock_holder`)?
- after a start whose answer was lost: which DAG did it create (:func:`find_lost_dag`)?
"""

from __future__ import annotations

from collections.abc import Iterable

from fleet.models import DagDetail
from fleet.protocol.clock import parse_agent_time
from fleet.protocol.dags import STOP_OBPROXY
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


def obshell_unfinished(dag: DagDetail) -> bool:
    """What obshell's unfinished list would say: not SUCCEED, and not FAILED unless it is a
    maintenance DAG (a failed "Stop obproxy" stays unfinished and keeps the lock)."""
    if dag.state == "SUCCEED":
        return False
    return dag.state != "FAILED" or dag.name == STOP_OBPROXY


def _newest(dags: Iterable[DagDetail]) -> list[DagDetail]:
    return sorted((d for d in dags if is_odp_dag_id(d.id)), key=lambda d: d.dag_id, reverse=True)


def find_running(dags: Iterable[DagDetail], dag_name: str) -> DagDetail | None:
    """The newest unfinished ODP DAG named ``dag_name``: a start (or stop) already under way."""
    for dag in _newest(dags):
        if dag.name == dag_name and obshell_unfinished(dag):
            return dag
    return None


def stop_lock_holder(dags: Iterable[DagDetail]) -> DagDetail | None:
    """The unfinished "Stop obproxy" DAG holding obshell's ODP maintenance lock, if any."""
    return find_running(dags, STOP_OBPROXY)


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
    """``(to adopt, blocking stop)`` from what the agent runs, before fleet sends ``dag_name``.

    A DAG of the same operation already under way is adopted. For a start, an unfinished stop
    blocks: obshell's start takes no lock and would race the stop, so fleet sends nothing.
    """
    dags = list(dags)
    running = find_running(dags, dag_name)
    if running is not None or dag_name == STOP_OBPROXY:
        return running, None
    return None, stop_lock_holder(dags)


def mid_stop_message(holder: DagDetail) -> str:
    return (f"the agent is mid-stop: DAG {holder.id} 'Stop obproxy' is {holder.state} and holds obshell's "
            "maintenance lock; a start now would race it, so none was sent (let the stop finish, or "
            "retry/rollback/pass it, then run again)")
