"""Whether two inventory names reach one agent, decided on evidence a third agent cannot forge.

``/api/v1/info`` (address, port, pid, start time) is readable by anyone and copyable by any
agent, so it only says which host *may* share an agent with another. The proof is the DAG the
first name's start created: it is read back, authenticated, through the second name's own
address. One agent answers it with the same generic id, sequence number and name, created
after the start was sent; another agent — however it describes itself — does not hold that
DAG (404), holds another one under that id, or an older one (a DAG copied from the victim's
history predates the start). The DAG's state and times are not compared: obshell sets
``start_time`` when the DAG leaves READY (and resets both times on RETRY), so two honest reads
of one DAG moments apart may differ. Only positive evidence of another agent fires the second
name; a read that proves nothing (an error) never does.

Pure matching; the read is :func:`fleet.engine.lookout.claim_agent`'s.
"""

from __future__ import annotations

from fleet.engine.recovery import CLOCK_TOLERANCE_S, created_not_before
from fleet.models import DagDetail


def same_dag_mismatch(started: DagDetail, read_here: DagDetail, dag_name: str,
                      fired_at_agent_clock: float | None) -> str | None:
    """Why ``read_here`` (read through the second name) cannot be the DAG ``started`` (followed
    through the first name), or None when it is the same DAG on the same agent.

    ``fired_at_agent_clock``: when the first name's start was sent, on the agent's clock (None
    when it did not fire but adopted a DAG already running, or resumed one from the journal):
    the DAG must not predate it.
    """
    if read_here.id != started.id or read_here.dag_id != started.dag_id:
        return f"asked for DAG {started.id}, it answered DAG {read_here.id[:64]} (dag_id {read_here.dag_id})"
    if read_here.name != dag_name or started.name != dag_name:
        return f"DAG {started.id} is '{read_here.name[:64]}' here, not '{dag_name}'"
    if fired_at_agent_clock is not None:
        created = created_not_before(read_here)  # None: times reset by an operator, they bound nothing
        if created is not None and created < fired_at_agent_clock - CLOCK_TOLERANCE_S:
            return f"DAG {started.id} here predates the start sent through the other name"
    return None
