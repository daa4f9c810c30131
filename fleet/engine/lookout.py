"""The engine's looks at what an agent already runs: before firing, and after a lost answer.

:func:`claim_agent` makes one host of the run the only one to fire at an agent reached under
several names; :func:`adopt_running` is the pre-fire look (a DAG of the operation already under
way is followed, not fired again; an agent whose ODP maintenance lock a DAG holds is not fired
at); :func:`recover_prior` settles a request that reached the agent, or may have (its answer
lost or inconsistent, a 5xx, or a past run that died after journaling ``fired``): its DAG is
found and followed, and it is re-sent only when the agent provably has none. The reads are
:mod:`fleet.engine.adopt`'s, the matching :mod:`fleet.engine.recovery`'s; this module turns what
they found into the host's next step.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import TYPE_CHECKING

import structlog

from fleet.engine import adopt
from fleet.engine import outcome as oc
from fleet.engine.hostrun import HostRun
from fleet.engine.recovery import before_fire, lock_message
from fleet.errors import AgentError, AuthRefused
from fleet.models import Adoption, AgentInfo, ApiError, DagDetail, Outcome

if TYPE_CHECKING:
    from fleet.engine.run import Engine

log = structlog.get_logger("fleet.engine")

#: How long after a send the agent's DAG list is trusted to show the DAG that send created.
SETTLE_DELAY_S = 3.0


def claim_agent(engine: Engine, run: HostRun, info: AgentInfo) -> bool:
    """True when ``run`` is the first host of this run to reach its agent; else it is another
    name of an agent another host starts (a DNS name and its address, say, which the inventory
    cannot tell apart without resolving): it is not fired and mirrors that host's end.

    The agent is known by its own account: its address, port, pid and start time."""
    try:
        address = str(ipaddress.ip_address(info.ip))
    except ValueError:
        address = info.ip
    owner = engine.agents.setdefault((address, info.port, info.pid, info.start_at), run)
    if owner is run:
        return True
    run.same_agent_as = owner
    log.warning("host.same_agent", **run.log_context(), same_as=owner.host.name, agent=f"{address}:{info.port}")
    engine._release(run)
    return False


async def adopt_running(engine: Engine, run: HostRun) -> bool:
    """Before firing, look for a DAG of this operation the agent already runs (a retry, a
    second operator, a CI re-run): follow it instead of firing. True when the host needs
    no start (adopted, or settled otherwise)."""
    assert run.client is not None and run.info is not None
    name = engine.dag_name
    try:
        sighting = await adopt.look_before_fire(run.client, run.info, run.known_dag_id)
    except AuthRefused as exc:
        await engine._finish(run, Outcome.AUTH_FAILED, engine._explain(run, exc))
        return True
    except AgentError as exc:
        await engine._finish(run, Outcome.PRECHECK_FAILED, oc.note(
            f"could not look for a '{name}' DAG already running before firing ({exc.message}); not fired"))
        return True
    run.baseline = sighting.frontier if sighting.complete else None
    running, holder = before_fire(sighting.dags, name)
    if running is not None:
        log.warning("fire.adopted", **run.log_context(), found=running.id, how=sighting.how)
        run.fired, run.adopted = True, Adoption("already_running", sighting.how)
        await engine._accept_dag(run, running, None)
        return True
    if holder is not None:
        run.dag = holder
        log.warning("fire.lock_held", **run.log_context(), holder=holder.id, holder_name=holder.name,
                    holder_state=holder.state)
        await engine._finish(run, Outcome.PRECHECK_FAILED, oc.note(lock_message(holder, name)))
        return True
    if not sighting.complete:
        await engine._finish(run, Outcome.PRECHECK_FAILED, oc.note(
            f"could not read the agent's newest DAGs within {sighting.requests} requests; not fired"))
        return True
    return False


async def recover_prior(engine: Engine, run: HostRun, dag: str | None, sent_at: float | None, *,
                        known_sent: bool,
                        cause: str = "a previous run sent the request but recorded no answer",
                        refused: ApiError | None = None) -> None:
    """A request reached the agent, or may have. Find its DAG; never send blindly again.

    ``dag``: its generic id, when a past run recorded the answer. ``known_sent``: the request
    certainly left (its answer was lost). Otherwise the journal only says fleet was about to
    send it when it died: if the agent, asked after the settle delay, provably has no DAG
    created since, the start never took effect and is sent now. ``refused``: the agent answered
    the start with this server error; proven no DAG since, the host is ``rejected`` with it.
    Requests spent: see :mod:`fleet.engine.adopt`.
    """
    assert run.client is not None and run.info is not None
    run.fired = True
    if known_sent and not run.answer_lost:
        # Durable before the search: a fleet killed mid-search resumes knowing the start left
        # (so it never re-fires it on finding no DAG), not merely that it was about to.
        await engine._journal.record("lost", host=run.host.key)
    run.answer_lost = run.answer_lost or known_sent
    if dag is not None:
        stub = DagDetail(id=dag, dag_id=run.known_dag_id, name=engine.dag_name, state="RUNNING")
        await engine._accept_dag(run, stub, None)
        return
    name = engine.dag_name
    sent_at = sent_at or engine._wall()
    wait = sent_at + SETTLE_DELAY_S - engine._wall()
    if wait > 0:
        await asyncio.sleep(wait)
    offset = run.client.clock_offset or 0.0
    try:
        found = await adopt.recover_lost(run.client, run.info, name, sent_at + offset,
                                         baseline=run.baseline, hint=run.known_dag_id)
    except AuthRefused as exc:
        # Refused before acting, with the same credentials the lost request carried.
        await engine._finish(run, Outcome.AUTH_FAILED, engine._explain(run, exc))
        return
    except AgentError as exc:
        await engine._finish(run, Outcome.AMBIGUOUS, oc.note(
            f"{cause}; the agent's DAGs could not be read ({exc.message}); not re-fired"))
        return
    log.info("fire.recovery", **run.log_context(), how=found.how, requests=found.requests,
             found=found.found.id if found.found else None)
    if found.found is not None:
        run.adopted = Adoption("answer_lost" if known_sent else "resumed", found.how)
        await engine._accept_dag(run, found.found, None)
        return
    proven = found.complete
    if proven and refused is not None:
        await engine._finish(run, Outcome.REJECTED, refused)
        return
    if proven and (not known_sent or engine.plan.refire_ambiguous) and not run.refired and not engine._stopping:
        log.warning("fire.refire", **run.log_context(), known_sent=known_sent)
        run.refired = True
        run.fired = False
        await engine._fire(run)
        return
    seen = "has no" if proven else "could not be searched to the end for a"
    await engine._finish(run, Outcome.AMBIGUOUS, oc.note(
        f"{cause}; the agent {seen} '{name}' DAG since then; not re-fired "
        "(check the agent, or resume with --refire-ambiguous)"))
