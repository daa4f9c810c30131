"""The proof that two inventory names reach one agent (fleet.engine.identity): pure matching."""

from __future__ import annotations

from dataclasses import replace

from fleet.engine.identity import same_dag_mismatch
from fleet.models import DagDetail
from fleet.protocol.clock import parse_agent_time

START = "Start obproxy"
STARTED = DagDetail(id="412700000102886000000011", dag_id=11, name=START, state="RUNNING",
                    start_time="2026-01-01T10:00:05+00:00", end_time="2026-01-01T10:00:05+00:00")
FIRED = parse_agent_time("2026-01-01T10:00:04+00:00")


def test_the_same_dag_read_through_the_other_name_proves_one_agent() -> None:
    """Same id, sequence number, name and start time, created after the start: one agent
    (its state may have moved on between the two reads)."""
    assert same_dag_mismatch(STARTED, replace(STARTED, state="SUCCEED"), START, FIRED) is None


def test_another_id_or_name_or_start_time_is_another_agent() -> None:
    """Whatever differs in the DAG's identity says the second name is another agent."""
    assert "answered DAG" in (same_dag_mismatch(STARTED, replace(STARTED, dag_id=12), START, FIRED) or "")
    assert "not 'Start obproxy'" in (same_dag_mismatch(STARTED, replace(STARTED, name="Stop obproxy"), START,
                                                       FIRED) or "")
    moved = replace(STARTED, start_time="2026-01-01T10:00:06+00:00")
    assert "started at" in (same_dag_mismatch(STARTED, moved, START, FIRED) or "")


def test_a_dag_copied_from_the_victims_history_predates_the_start() -> None:
    """A hostile first name that presents one of the victim's old DAGs (id, name and times
    copied) is refused: the DAG read through the victim's address is older than the start."""
    old = replace(STARTED, state="SUCCEED", start_time="2025-06-01T00:00:00+00:00",
                  end_time="2025-06-01T00:01:00+00:00")
    assert "predates" in (same_dag_mismatch(old, old, START, FIRED) or "")
    assert same_dag_mismatch(old, old, START, None) is None  # adopted or resumed: no send time to hold it to
