"""Reading what an agent already runs: before a start (adoption) and after a lost answer (recovery).

The I/O half of :mod:`fleet.engine.recovery` and :mod:`fleet.engine.probe`. Two ways to look:

- ``unfinished_list``: ``GET /api/v1/task/dag/agent/unfinish`` — one request, small (unfinished
  DAGs only), but an ordinary route: SINGLE, MASTER and CLUSTER AGENT accept the agent password,
  a FOLLOWER auto-forwards it to its master and answers 500 ``Request.Forward.Header.NotExist``;
- ``id_probe``: ``GET /api/v1/task/dag/{4…}`` for ids chosen by :class:`~fleet.engine.probe.IdSearch` —
  works on every identity, ``O(log N)`` requests on an agent with N DAGs.

The list is used where the identity allows it, the probe everywhere else (and when the list
is refused by forwarding). Requests per look are bounded: 1 for the list; for the probe
``2·⌈log2(N − hint + 1)⌉ + 2 + LOOK`` and never more than :data:`~fleet.engine.probe.BUDGET`,
plus at most :data:`LOOKUP_RETRIES` repeats of ids whose lookup failed on the agent.

Only two 404 ``Task.NotFound`` answers are answers about an id: "record not found" (absent) and
"dag id not match" (a row of another kind). obshell answers *any* failure of its lookup (a busy
sqlite) with ``Task.NotFound`` too: such an id is asked again, a few times, and if the agent
still cannot say, the probe raises: an inconclusive search, never "absent" (read as absent, it
would settle the search below the real frontier, miss a lost start, and let it be sent again).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fleet.client import AgentClient
from fleet.engine.probe import IdSearch, Seen
from fleet.engine.recovery import find_lost_dag, foreign_dag
from fleet.errors import ApiFailure, AuthRefused, DagLookupFailed, NotFound, ProtocolError
from fleet.models import AgentInfo, DagDetail
from fleet.protocol.agentinfo import Identity
from fleet.protocol.errcodes import DAG_ID_NOT_MATCH, FORWARD_ERR_PREFIX, RECORD_NOT_FOUND
from fleet.protocol.ids import is_odp_dag_id, odp_generic_id
from fleet.protocol.wire import not_found_reason

#: Lookups that failed on the agent (404 ``Task.NotFound`` of a busy sqlite) repeated per probe
#: run, in all, before the search is given up as inconclusive; the n-th waits n times the delay.
LOOKUP_RETRIES = 4
LOOKUP_RETRY_DELAY_S = 0.25
#: the 404 reasons that are answers about an id
_SEEN = {RECORD_NOT_FOUND: Seen.ABSENT, DAG_ID_NOT_MATCH: Seen.OTHER}


@dataclass(frozen=True, slots=True)
class Sighting:
    """What one look saw: ODP DAGs newest first, how, and what it cost."""

    dags: tuple[DagDetail, ...]
    how: str  # "unfinished_list" | "id_probe"
    requests: int
    #: the highest existing DAG id (id_probe only, when the search completed)
    frontier: int | None = None
    #: the look saw everything it meant to (an id_probe within its budget)
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Recovery:
    """The DAG a lost start created, if found; ``complete`` says whether "not found" is proven."""

    found: DagDetail | None
    how: str
    requests: int
    complete: bool


def _forwarded(exc: ApiFailure) -> bool:
    """A FOLLOWER's auto-forward refusal (or its master being unknown), not a verdict on the agent."""
    return (exc.error.err_code or "").startswith(FORWARD_ERR_PREFIX)


def uses_list(info: AgentInfo) -> bool:
    """Whether this identity answers the unfinished list with the agent password."""
    return info.identity != Identity.FOLLOWER


async def read_unfinished(client: AgentClient, info: AgentInfo) -> Sighting:
    """The unfinished list (raises the client's errors; an ODP DAG that names another agent is a
    :class:`ProtocolError`: nothing read from that list can be trusted)."""
    reply = await client.unfinished_dags()
    for dag in reply.data:
        wrong = foreign_dag(dag, info.ip, info.port) if is_odp_dag_id(dag.id) else None
        if wrong is not None:
            raise ProtocolError(f"the unfinished list holds a DAG that is not this agent's: {wrong}", reply.trace_id)
    dags = tuple(sorted(reply.data, key=lambda d: d.dag_id, reverse=True))
    return Sighting(dags, "unfinished_list", 1)


async def probe_ids(client: AgentClient, info: AgentInfo, search: IdSearch, *,
                    retry_delay: float = LOOKUP_RETRY_DELAY_S) -> Sighting:
    """Drive ``search`` against the agent; every answer but 200 and a definite 404 aborts it
    (raised), after :data:`LOOKUP_RETRIES` repeats in all of lookups that failed on the agent."""
    try:
        odp_generic_id(info.ip, info.port, 0)
    except ValueError:
        raise ProtocolError(f"cannot build ODP DAG ids from the agent's address {info.ip!r}:{info.port}") from None
    retries = 0
    while (dag_id := search.next_id()) is not None:
        asked = odp_generic_id(info.ip, info.port, dag_id)
        try:
            reply = await client.get_dag(asked)
        except DagLookupFailed:
            if retries >= LOOKUP_RETRIES:
                raise
            retries += 1
            await asyncio.sleep(retry_delay * retries)
            continue  # the same id again: the agent said nothing about it
        except NotFound as exc:
            seen = _SEEN.get(not_found_reason(exc.error) or "")
            if seen is None:  # not an answer about this id as asked (another agent's address, a route)
                raise ProtocolError(f"asked for DAG {asked}, the agent answered: {exc.error.message}",
                                    exc.trace_id) from None
            search.observe(dag_id, seen)
            continue
        if reply.data.id != asked or reply.data.dag_id != dag_id:
            raise ProtocolError(f"asked for DAG {asked}, the agent answered DAG {reply.data.id[:64]} "
                                f"(dag_id {reply.data.dag_id})", reply.trace_id)
        search.observe(dag_id, Seen.ODP, reply.data)
    return Sighting(tuple(search.newest()), "id_probe", search.requests + retries, search.frontier, search.complete)


async def _listed(client: AgentClient, info: AgentInfo) -> tuple[Sighting | None, int]:
    """``(the unfinished list, requests spent)``; no list where the identity has none, or where a
    FOLLOWER's auto-forward refused it (1 request spent). Auth and other failures propagate."""
    if not uses_list(info):
        return None, 0
    try:
        return await read_unfinished(client, info), 1
    except AuthRefused:
        raise
    except ApiFailure as exc:
        if not _forwarded(exc):
            raise
        return None, 1


async def look_before_fire(client: AgentClient, info: AgentInfo, hint: int = 0) -> Sighting:
    """What the agent runs now: the unfinished list where the identity allows, else id probes."""
    listed, spent = await _listed(client, info)
    if listed is not None:
        return listed
    sighting = await probe_ids(client, info, IdSearch(hint=hint))
    return Sighting(sighting.dags, sighting.how, sighting.requests + spent, sighting.frontier, sighting.complete)


async def recover_lost(client: AgentClient, info: AgentInfo, dag_name: str, sent_at_agent_clock: float, *,
                       baseline: int | None, hint: int = 0) -> Recovery:
    """Find the DAG a start sent at ``sent_at_agent_clock`` created.

    ``baseline``: the highest DAG id seen to exist before the send (from an id-probe look);
    ``hint``: any DAG id known to exist. A running DAG shows in the unfinished list (one
    request, where the identity allows it); a finished one only by probing ids.
    """
    listed, spent = await _listed(client, info)
    if listed is not None:
        found = find_lost_dag(listed.dags, dag_name, sent_at_agent_clock, baseline)
        if found is not None:
            return Recovery(found, listed.how, spent, True)
    known = baseline is not None
    search = IdSearch(hint=baseline if baseline is not None else hint, hint_known=known, floor=baseline or 0)
    probed = await probe_ids(client, info, search)
    found = find_lost_dag(probed.dags, dag_name, sent_at_agent_clock, baseline)
    return Recovery(found, probed.how, spent + probed.requests, probed.complete)
