"""Settling a start whose answer was lost: did it reach the agent? Pure matching logic."""

from __future__ import annotations

from collections.abc import Iterable

from fleet.models import DagDetail
from fleet.protocol.clock import parse_timestamp
from fleet.protocol.ids import is_odp_dag_id

#: A DAG created this long before fleet's send time still counts (clock measurement error).
CLOCK_TOLERANCE_S = 5.0


def find_lost_dag(dags: Iterable[DagDetail], dag_name: str, sent_at_agent_clock: float) -> DagDetail | None:
    """The newest ODP DAG named ``dag_name`` created at or after the send (agent's clock), if any."""
    best: tuple[float, DagDetail] | None = None
    for dag in dags:
        if dag.name != dag_name or not is_odp_dag_id(dag.id):
            continue
        created = parse_timestamp(dag.start_time or "")
        if created is None or created < sent_at_agent_clock - CLOCK_TOLERANCE_S:
            continue
        if best is None or created > best[0]:
            best = (created, dag)
    return best[1] if best else None
