"""One simulated agent's DAGs as obshell keeps them: one sqlite table, one id sequence, no pruning.

Facts modelled (obshell ``repository/model/sqlite/dag_instance.go``, ``service/task/dag.go``):

- every local DAG (ODP or not) is a row of ``dag_instance`` whose ``id`` is an autoincrement
  primary key: ids are allocated in creation order, shared by every DAG type, and never
  deleted (nothing prunes the table), so ids 1..N all exist on an agent that created N DAGs;
- ``start_time`` and ``end_time`` are both set to the creation time (gorm ``autoCreateTime``);
  ``start_time`` is rewritten when the DAG starts running, ``end_time`` when it finishes;
  RETRY and CANCEL reset both to the 1970 epoch (``updateDagOperator``; see
  :mod:`fleet.simulator.operators`, which also refuses ROLLBACK on every ODP DAG);
- a DAG leaves the unfinished list (``is_finished``) when it SUCCEEDs, or when it FAILs and is
  not a maintenance DAG: a failed stop, add, upgrade or delete (maintenance) stays unfinished
  for ever, whatever it did with the lock;
- stop, add, upgrade and delete take the one ODP maintenance lock when they are created; a
  success (PASS included) releases it, and so does a failure in "Check obproxy status" (the only
  node carrying ``FAILURE_EXIT_MAINTENANCE``); a failure in any other node keeps it
  (``service/task/dag.go`` ``FinishDagAsFailed``). Start takes no lock. See :func:`holds_lock`.

History from before the simulator started (``history: N``) is synthesised on demand from the
id, so an agent with 50,000 old DAGs costs no memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.models import FINISHED_STATES
from fleet.protocol.dags import (
    ADD_OBPROXY,
    CHECK_AGENT,
    DELETE_OBPROXY,
    LOCK_RELEASING_NODE,
    ODP_MAINTENANCE_DAGS,
    ODP_NODES,
    START_OBPROXY,
    STOP_OBPROXY,
    UPGRADE_AGENT,
    UPGRADE_OBPROXY,
    DagOperator,
    DagState,
)
from fleet.simulator.settings import AgentSettings

#: The one kind that is not an ODP DAG (its generic id starts with 2/3, not 4/5).
LOCAL = "local"
DAG_NAMES = {"start": START_OBPROXY, "stop": STOP_OBPROXY, "add": ADD_OBPROXY, "upgrade": UPGRADE_OBPROXY,
             "delete": DELETE_OBPROXY, LOCAL: UPGRADE_AGENT}
#: The kinds a configuration may plant (``dags:``); start and stop are also created by their routes.
KINDS = tuple(kind for kind in DAG_NAMES if kind != LOCAL)
#: The nodes of each kind of DAG, in stage order.
NODE_NAMES = {**{kind: ODP_NODES[name] for kind, name in DAG_NAMES.items() if kind != LOCAL},
              LOCAL: (CHECK_AGENT, UPGRADE_AGENT)}
#: Seconds between two old DAGs of the synthesised history (the newest ends before startup).
HISTORY_SPACING_S = 60.0
HISTORY_DURATION_S = 3.0
EPOCH = 0.0


@dataclass(slots=True)
class Dag:
    """One DAG. Its state is computed from ``run_start``/``duration`` (see :meth:`view`)."""

    dag_id: int
    kind: str
    created: float
    run_start: float
    duration: float
    fail_stage: int = 0  # 0 = succeeds; 1 = "Check obproxy status" fails; 2 = the second task fails
    stuck: bool = False
    final_state: DagState | None = None
    final_at: float | None = None
    operator: str = DagOperator.RUN
    execute_times: int = 1
    final_stage: int = 2
    #: set by RETRY/CANCEL: READY (times at the epoch) until obshell's scheduler picks it up
    #: (see :mod:`fleet.simulator.operators`)
    ready_until: float | None = None
    op_stage: int = 1
    #: whether the ODP ran when this DAG was created (a stop of a stopped ODP logs that none runs)
    odp_was_running: bool = True
    #: a planted DAG that stays at this ``(state, stage)`` until an operator acts on it
    pinned: tuple[DagState, int] | None = None
    #: seconds the start's health checks add to its last node (``health_check`` setting)
    checks: float = 0.0

    @property
    def odp(self) -> bool:
        return self.kind != LOCAL

    @property
    def maintenance(self) -> bool:
        """Stop, add, upgrade and delete take obshell's ODP maintenance lock; start does not."""
        return DAG_NAMES[self.kind] in ODP_MAINTENANCE_DAGS

    @property
    def max_stage(self) -> int:
        return len(NODE_NAMES[self.kind])

    def releases_lock_at(self, stage: int) -> bool:
        """Whether a failure at ``stage`` releases the maintenance lock (its node is "Check obproxy status")."""
        nodes = NODE_NAMES[self.kind]
        return 1 <= stage <= len(nodes) and nodes[stage - 1] == LOCK_RELEASING_NODE

    def end_time(self) -> float | None:
        """When this run ends (real time), or None if it never will."""
        if self.final_state is not None:
            return self.final_at
        if self.pinned is not None:
            return None
        if self.fail_stage == 1:
            return self.run_start + self.duration * 0.4
        return None if self.stuck else self.run_start + self.duration + self.checks

    def view(self, now: float) -> tuple[DagState, int, int]:
        """``(state, stage, failed/current node index)`` at ``now``."""
        if self.ready_until is not None and now < self.ready_until:
            return DagState.READY, self.op_stage, 0
        if self.final_state is not None:
            if self.operator == DagOperator.CANCEL and self.final_at is not None and now < self.final_at:
                return DagState.RUNNING, self.final_stage, self.final_stage  # failing its sub-task
            return self.final_state, self.final_stage, self.final_stage
        if self.pinned is not None:
            return self.pinned[0], self.pinned[1], self.pinned[1]
        elapsed = now - self.run_start
        if elapsed < min(0.1, self.duration * 0.1):
            return DagState.READY, 1, 0
        if elapsed < self.duration * 0.4:
            return DagState.RUNNING, 1, 1
        if self.fail_stage == 1:
            return DagState.FAILED, 1, 1
        if self.stuck or elapsed < self.duration + self.checks:
            return DagState.RUNNING, 2, 2
        return (DagState.FAILED if self.fail_stage == 2 else DagState.SUCCEED), 2, 2

    def finished(self, now: float) -> bool:
        """SUCCEED or FAILED (what a client polling the DAG sees as the end)."""
        return self.view(now)[0] in FINISHED_STATES

    def is_finished(self, now: float) -> bool:
        """obshell's ``is_finished`` column: what keeps a DAG out of the unfinished list."""
        state = self.view(now)[0]
        return state == DagState.SUCCEED or (state == DagState.FAILED and not self.maintenance)

    def holds_lock(self, now: float) -> bool:
        """Whether this DAG holds obshell's ODP maintenance lock at ``now``: a maintenance DAG
        from its creation until it succeeds, or fails in the node that releases the lock."""
        if not self.maintenance:
            return False
        state, stage, _ = self.view(now)
        return state != DagState.SUCCEED and not (state == DagState.FAILED and self.releases_lock_at(stage))

    def times(self, now: float) -> tuple[float, float]:
        """``(start_time, end_time)`` as the agent shows them (real time, before clock skew);
        operated DAGs (RETRY, CANCEL) are shown by :func:`fleet.simulator.operators.shown_times`."""
        state = self.view(now)[0]
        start = self.created if state == DagState.READY else self.run_start
        if state in FINISHED_STATES:
            end = self.end_time()
            return start, end if end is not None else self.created
        return start, self.created


def old_dag(dag_id: int, settings: AgentSettings, boot: float) -> Dag:
    """DAG ``dag_id`` (1..history) of the agent's history: finished long before ``boot``."""
    every = settings.history_local_every
    if every and dag_id % every == 0:  # noqa: SIM108  nested conditional expressions read worse than branches
        kind = LOCAL
    else:
        kind = "start" if dag_id % 2 else "stop"
    created = boot - (settings.history - dag_id + 1) * HISTORY_SPACING_S
    return Dag(dag_id, kind, created, created, HISTORY_DURATION_S, final_state=DagState.SUCCEED,
               final_at=created + HISTORY_DURATION_S)
