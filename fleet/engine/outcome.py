"""Turning what happened into an :class:`~fleet.models.Outcome`. Pure: no I/O, no clock."""

from __future__ import annotations

from fleet.errors import (
    AgentError,
    ApiFailure,
    AuthRefused,
    ConnectError,
    DagLookupFailed,
    NotFound,
    OperatorRefused,
    ProtocolError,
    TransportError,
)
from fleet.models import FINISHED_STATES, AgentInfo, ApiError, DagDetail, FailedTask, Outcome
from fleet.protocol.agentinfo import ODP_ROUTES_SINCE, version_tuple
from fleet.protocol.bounds import MAX_FAILED_TASKS, first_and_latest


def note(message: str) -> ApiError:
    """fleet's own account of a failure, in the shape of an agent error (no status or codes)."""
    return ApiError(status=None, code=None, err_code=None, message=message)


def precheck_problem(info: AgentInfo) -> str | None:
    """Why an agent must not be fired at, or None when it may be."""
    version = version_tuple(info.version)
    if not version:
        return f"agent version {info.version!r} is not understood; fleet needs obshell >= 4.2.6"
    if version < ODP_ROUTES_SINCE:
        return f"obshell {info.version} has no ODP API (needs >= 4.2.6); upgrade the agent"
    if not info.is_obproxy_agent:
        return "agent does not manage an ODP (isObproxyAgent is false)"
    if not info.security:
        return "agent password is not set on this agent (security is false); ODP routes need it"
    if info.supported_auth and "v2" not in info.supported_auth:
        return f"agent supports auth {list(info.supported_auth)}, fleet speaks v2"
    return None


def outcome_for_error(exc: AgentError, *, fired: bool = False) -> Outcome:
    """Classify a client error. ``fired``: the error answered the start request itself.

    A start whose answer was lost (timeout, broken connection) or was not an obshell answer may
    have created a DAG: that is ``ambiguous`` until the agent's DAG list settles it.
    """
    if isinstance(exc, ConnectError):
        return Outcome.UNREACHABLE
    if isinstance(exc, TransportError):
        return Outcome.AMBIGUOUS if fired else Outcome.UNREACHABLE
    if isinstance(exc, ProtocolError):
        # Not an obshell answer (a proxy's 502 page, a garbled body): it proves nothing about
        # whether the start reached the agent and created a DAG.
        return Outcome.AMBIGUOUS if fired else Outcome.PROTOCOL_ERROR
    if isinstance(exc, AuthRefused):
        return Outcome.AUTH_FAILED
    if isinstance(exc, ApiFailure):
        # The agent refused: the start itself (rejected), or a preflight read (precheck failed).
        return Outcome.REJECTED if fired else Outcome.PRECHECK_FAILED
    return Outcome.PROTOCOL_ERROR


#: Refusals that prove the agent did nothing, whatever their status says.
_DEFINITE_REFUSALS = (AuthRefused, NotFound, DagLookupFailed, OperatorRefused)


def server_error(exc: AgentError) -> bool:
    """An agent's refusal with a 5xx status: it failed somewhere, which does not prove it did nothing."""
    return (isinstance(exc, ApiFailure) and not isinstance(exc, _DEFINITE_REFUSALS)
            and exc.error.status is not None and exc.error.status >= 500)


def is_transient_poll_error(exc: AgentError) -> bool:
    """Poll failures worth retrying: no answer, a garbled one, a server-side 5xx, or a DAG lookup
    that failed on the agent (404 ``Task.NotFound`` that is not an answer about the DAG)."""
    if isinstance(exc, (TransportError, ProtocolError, DagLookupFailed)):
        return True
    return isinstance(exc, ApiFailure) and not isinstance(exc, _DEFINITE_REFUSALS) and (
        exc.error.status is None or exc.error.status >= 500
    )


def dag_outcome(dag: DagDetail, operator: str | None = None) -> Outcome:
    """A finished DAG's outcome: SUCCEED by running (or PASS) succeeded; FAILED or rolled back failed.

    With ``operator`` (``fleet dag …``) the operator's own success: CANCEL succeeded when the DAG
    ended FAILED + CANCEL, ROLLBACK when it ended SUCCEED + ROLLBACK, PASS when SUCCEED + PASS,
    RETRY when the re-run ended SUCCEED.
    """
    if operator == "CANCEL":
        ok = dag.state == "FAILED" and dag.operator == "CANCEL"
    elif operator == "ROLLBACK":
        ok = dag.state == "SUCCEED" and dag.operator == "ROLLBACK"
    elif operator == "PASS":
        ok = dag.state == "SUCCEED" and dag.operator == "PASS"
    else:
        ok = dag.succeeded
    return Outcome.SUCCEEDED if ok else Outcome.FAILED


def dag_failure_message(dag: DagDetail) -> str:
    if dag.state == "FAILED" and dag.operator == "CANCEL":
        return f"DAG {dag.id} was cancelled"
    if dag.operator == "ROLLBACK":
        return f"DAG {dag.id} was rolled back"
    return f"DAG {dag.id} ({dag.name}) failed at stage {dag.stage}/{dag.max_stage}"


def failed_tasks(dag: DagDetail, limit: int = MAX_FAILED_TASKS) -> tuple[tuple[FailedTask, ...], int]:
    """``(kept, dropped)``: the failed sub-tasks of a detailed DAG with their logs (the SDK's failure
    text, and more), at most ``limit`` of them; ``dropped`` counts the others, those the parser
    only counted included."""
    kept, dropped = first_and_latest(_all_failed_tasks(dag), limit)
    return tuple(kept), dropped + dag.failed_sub_tasks_dropped


def _all_failed_tasks(dag: DagDetail) -> list[FailedTask]:
    found = []
    for node in dag.nodes:
        for task in node.sub_tasks:
            if task.state == "FAILED":
                found.append(FailedTask(node.name, task.name, task.execute_agent, task.task_logs))
    if not found:
        for node in dag.nodes:
            if node.state == "FAILED":
                found.append(FailedTask(node.name, "", None, ()))
    return found


#: Outcomes that are a host's last word when no unfinished DAG goes with them: nothing this run
#: sent can still be acting on the host. Any other outcome (interrupted, ambiguous, timed_out,
#: and any outcome added later) may hide a DAG that still runs, and is settled by ``--resume``.
DEFINITE = frozenset({
    Outcome.SUCCEEDED.value, Outcome.FAILED.value, Outcome.REJECTED.value, Outcome.PRECHECK_FAILED.value,
    Outcome.UNREACHABLE.value, Outcome.AUTH_FAILED.value, Outcome.PROTOCOL_ERROR.value,
})
#: Definite outcomes that can also end a host whose DAG was being followed (fleet lost sight of it).
_LOST_SIGHT = frozenset({Outcome.UNREACHABLE.value, Outcome.AUTH_FAILED.value, Outcome.PROTOCOL_ERROR.value})


def is_settled(outcome: str, dag_state: str | None) -> bool:
    """Whether a host's recorded end is final: no start (or stop) of the run may still be running.

    ``dag_state`` is the last state seen of the host's DAG (None when it has none). A host that
    became unreachable while its DAG was RUNNING is not settled: that DAG may still start ODP.
    A ``failed`` host is settled whatever its DAG's last state (the agent reported it failed, or
    no longer knows it).
    """
    if outcome not in DEFINITE:
        return False
    return not (outcome in _LOST_SIGHT and dag_state is not None and dag_state not in FINISHED_STATES)
