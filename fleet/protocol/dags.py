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

#: DAG names (obshell ``executor/obproxy/enter.go``: ``DAG_START_OBPROXY`` …).
START_OBPROXY = "Start obproxy"
STOP_OBPROXY = "Stop obproxy"
ADD_OBPROXY = "Add obproxy"
UPGRADE_OBPROXY = "Upgrade obproxy"
DELETE_OBPROXY = "Delete obproxy"
#: Node names of the ODP templates; the start and stop nodes carry their DAG's name.
CHECK_OBPROXY_STATUS = "Check obproxy status"
#: The nodes of each ODP DAG, in stage order (one node per task; obshell's templates).
ODP_NODES: dict[str, tuple[str, ...]] = {
    START_OBPROXY: (CHECK_OBPROXY_STATUS, START_OBPROXY),
    STOP_OBPROXY: (CHECK_OBPROXY_STATUS, STOP_OBPROXY),
    ADD_OBPROXY: (CHECK_OBPROXY_STATUS, START_OBPROXY, "Set proxyro password for connect", "Persist obproxy info"),
    DELETE_OBPROXY: (CHECK_OBPROXY_STATUS, STOP_OBPROXY, DELETE_OBPROXY, "Clean obproxy dir"),
    UPGRADE_OBPROXY: ("Create upgrade dir", "Download obproxy pkg from sqlite", "Check obproxy pkg",
                      "Backup for upgrade", "Reinstall obproxy bin", "Copy obproxy config db file",
                      "Record obproxy info", "Hot restart obproxy", "Wait hot restart obproxy finish",
                      "Remove upgrade dir"),
}
#: The ODP DAGs that take obshell's one ODP maintenance lock (``SetMaintenance(ObproxyMaintenance())``);
#: start takes none.
ODP_MAINTENANCE_DAGS = frozenset({STOP_OBPROXY, ADD_OBPROXY, UPGRADE_OBPROXY, DELETE_OBPROXY})
#: ``maintenance_type`` of a DAG under the ODP maintenance lock (obshell ``OBPROXY_MAINTENACE``).
OBPROXY_MAINTENANCE_TYPE = 4
#: The one node whose failure releases the lock (its context carries ``FAILURE_EXIT_MAINTENANCE``):
#: a maintenance DAG that fails anywhere else keeps the lock until it succeeds (retry, pass).
LOCK_RELEASING_NODE = CHECK_OBPROXY_STATUS
#: A local DAG that is not an ODP one (its generic id starts with 2 or 3), and its first node.
UPGRADE_AGENT = "Upgrade agent"
CHECK_AGENT = "Check agent"
