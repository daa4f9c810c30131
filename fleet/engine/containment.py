"""The containment boundary around one host's work: a bug there ends that host, not the run.

The boundary goes on past the hosts: what runs after them (the summary, JUnit, the HTML
report, the recap, the retry files, the run's folder) is contained per file and, inside the
renderers, per host (see :mod:`fleet.api.execute` and :mod:`fleet.cli.operate`).

Whatever an agent sends, and whatever bug it triggers in fleet, becomes that host's outcome
(``internal_error``, with the traceback in the debug log and one line in the summary) while
every other host carries on. Only cancellation and fleet-wide failures pass through: memory
exhausted, or the disk under the journal full or failing, which no single host caused.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from fleet.engine.follow import Finish
from fleet.engine.hostrun import HostRun
from fleet.models import ApiError, Outcome

log = structlog.get_logger("fleet.engine")

T = TypeVar("T")
#: OS errors that are the machine's trouble, not one host's: they end the run.
FLEET_WIDE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})
CAUSE_CHARS = 300


def is_fleet_wide(exc: BaseException) -> bool:
    """True for failures no host caused and every host shares: they must end the run."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, OSError) and exc.errno in FLEET_WIDE_ERRNOS


def cause(exc: BaseException) -> str:
    """``"ValueError: …"`` on one line of at most :data:`CAUSE_CHARS` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    if len(text) > CAUSE_CHARS:
        text = text[: CAUSE_CHARS - 1] + "…"
    return text


def internal_error(exc: BaseException) -> ApiError:
    """The one-line cause the summary shows for a bug contained in one host's work."""
    return ApiError(None, None, None, f"internal error in fleet, contained to this host ({cause(exc)}); "
                                      "the traceback is in the debug log")


async def contained(run: HostRun, work: Callable[[HostRun], Awaitable[T]], finish: Finish) -> T | None:
    """``await work(run)``; a bug inside ends ``run`` as ``internal_error`` (once) and returns None."""
    try:
        return await work(run)
    except Exception as exc:
        if is_fleet_wide(exc):
            raise
        error = internal_error(exc)
        log.error("host.internal_error", **run.log_context(), cause=error.message,
                  after_result=run.result is not None)
        log.debug("host.internal_error.traceback", **run.log_context(), exc_info=exc)
        if run.result is None:
            await finish(run, Outcome.INTERNAL_ERROR, error, ())
        return None
