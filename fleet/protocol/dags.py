"""obshell's DAG vocabulary: states, operators, and the names of the DAGs and nodes fleet meets.

From obshell's ``engine/task`` (states, operators) and ``executor/obproxy/enter.go`` (names).
States and operators are :class:`~enum.StrEnum` members, so they compare equal to the plain
strings the parsed models carry. A DAG is finished when it SUCCEEDs or FAILs
(:data:`fleet.models.FINISHED_STATES`, which the models need themselves).
"""

from __future__ import annotations

from enum import StrEnum


class DagState(StrEnum):
    """The state of a DAG, node or sub-task."""

    PENDING = "PENDING"
    READY = "READY"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    SUCCEED = "SUCCEED"


class DagOperator(StrEnum):
    """How a DAG got to its state: RUN by default, or the operator last applied to it."""

    RUN = "RUN"
    RETRY = "RETRY"
    ROLLBACK = "ROLLBACK"
    CANCEL = "CANCEL"
    PASS = "PASS"


#: What a client may send to ``POST /api/v1/task/dag/{id}`` (RUN is not an operator one sends).
REQUEST_OPERATORS = frozenset({DagOperator.RETRY, DagOperator.ROLLBACK, DagOperator.CANCEL, DagOperator.PASS})

#: DAG names (obshell ``DAG_START_OBPROXY``, ``DAG_STOP_OBPROXY``).
START_OBPROXY = "Start obproxy"
STOP_OBPROXY = "Stop obproxy"
#: Node names of the ODP templates; the start and stop nodes carry their DAG's name.
CHECK_OBPROXY_STATUS = "Check obproxy status"
#: A local DAG that is not an ODP one (its generic id starts with 2 or 3), and its first node.
UPGRADE_AGENT = "Upgrade agent"
CHECK_AGENT = "Check agent"
