"""fleet: start ODP (obproxy) across a fleet of obshell agents, concurrently and accountably.

The public API (stable names, type-checked; see the README's "Python API")::

    import fleet
    result = fleet.start_sync("inventory.yaml", limit="hz")      # or: await fleet.start(...)

Importing ``fleet`` stays light: the API's modules load on first use of one of its names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from fleet.api import (
        RunOptions,
        RunResult,
        check,
        check_sync,
        run,
        start,
        start_sync,
        stop,
        stop_sync,
    )
    from fleet.models import ExitCode, HostResult, HostSpec, Outcome

_API = frozenset({"RunOptions", "RunResult", "check", "check_sync", "run", "start", "start_sync", "stop", "stop_sync"})
_MODELS = frozenset({"ExitCode", "HostResult", "HostSpec", "Outcome"})

__all__ = [
    "ExitCode",
    "HostResult",
    "HostSpec",
    "Outcome",
    "RunOptions",
    "RunResult",
    "__version__",
    "check",
    "check_sync",
    "run",
    "start",
    "start_sync",
    "stop",
    "stop_sync",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        from fleet import api

        return getattr(api, name)
    if name in _MODELS:
        from fleet import models

        return getattr(models, name)
    raise AttributeError(f"module 'fleet' has no attribute {name!r}")
