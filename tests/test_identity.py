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
    """Same id, sequence number and name, created after the start: one agent. Its state and
    times may have moved on between the two reads (obshell sets start_time when the DAG leaves
    READY, and resets both times to the epoch on RETRY)."""
    running = replace(STARTED, state="RUNNING", start_time="2026-01-01T10:00:07+00:00")
    assert same_dag_mismatch(STARTED, running, START, FIRED) is None
    reset = replace(STARTED, state="READY", start_time="1970-01-01T00:00:00Z", end_time="1970-01-01T00:00:00Z")
    assert same_dag_mismatch(STARTED, reset, START, FIRED) is None


def test_another_id_or_name_is_another_agent() -> None:
    """Whatever differs in the DAG's identity says the second name is another agent."""
    assert "answered DAG" in (same_dag_mismatch(STARTED, replace(STARTED, dag_id=12), START, FIRED) or "")
    assert "not 'Start obproxy'" in (same_dag_mismatch(STARTED, replace(STARTED, name="Stop obproxy"), START,
                                                       FIRED) or "")


def test_a_dag_copied_from_the_victims_history_predates_the_start() -> None:
    """A hostile first name that presents one of the victim's old DAGs (id, name and times
    copied) is refused: the DAG read through the victim's address is older than the start."""
    old = replace(STARTED, state="SUCCEED", start_time="2025-06-01T00:00:00+00:00",
                  end_time="2025-06-01T00:01:00+00:00")
    assert "predates" in (same_dag_mismatch(old, old, START, FIRED) or "")
    assert same_dag_mismatch(old, old, START, None) is None  # adopted or resumed: no send time to hold it to
