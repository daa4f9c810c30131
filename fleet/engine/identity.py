"""Whether two inventory names reach one agent, decided on evidence a third agent cannot forge.

``/api/v1/info`` (address, port, pid, start time) is readable by anyone and copyable by any
agent, so it only says which host *may* share an agent with another. The proof is the DAG the
first name's start created: it is read back, authenticated, through the second name's own
address. One agent answers it with the same generic id, sequence number, name and start time;
another agent — however it describes itself — does not hold that DAG, or holds an older one
(a DAG copied from the victim's history is refused by its start time: it predates the start).

Pure matching; the read is :func:`fleet.engine.lookout.claim_agent`'s.
"""

from __future__ import annotations

from fleet.engine.recovery import CLOCK_TOLERANCE_S, created_not_before
from fleet.models import DagDetail


def same_dag_mismatch(started: DagDetail, read_here: DagDetail, dag_name: str,
                      fired_at_agent_clock: float | None) -> str | None:
    """Why ``read_here`` (read through the second name) is not the DAG ``started`` (followed
    through the first name), or None when it is the same DAG on the same agent.

    ``fired_at_agent_clock``: when the first name's start was sent, on the agent's clock (None
    when it did not fire but adopted a DAG already running, or resumed one from the journal):
    the DAG must not predate it.
    """
    if read_here.id != started.id or read_here.dag_id != started.dag_id:
        return f"asked for DAG {started.id}, it answered DAG {read_here.id[:64]} (dag_id {read_here.dag_id})"
    if read_here.name != dag_name or started.name != dag_name:
        return f"DAG {started.id} is '{read_here.name[:64]}' here, not '{dag_name}'"
    if started.start_time is not None and read_here.start_time != started.start_time:
        return (f"DAG {started.id} started at {(read_here.start_time or 'no time')[:40]} here, "
                f"at {started.start_time[:40]} there")
    if fired_at_agent_clock is not None:
        created = created_not_before(read_here)
        if created is None or created < fired_at_agent_clock - CLOCK_TOLERANCE_S:
            return f"DAG {started.id} here predates the start sent through the other name"
    return None
