"""fleet as a library: start, stop or check ODP across a fleet from Python.

    import fleet

    result = fleet.start_sync("inventories/prod.yaml", limit="hz", forks=128)
    print(result.totals, result.exit_code)

The coroutines :func:`start`, :func:`stop`, :func:`check` (and :func:`run`) do what ``fleet
start|stop|check`` does and return a :class:`RunResult` whose ``to_dict()`` is the CLI's
summary; ``*_sync`` run them on a fresh event loop. Options are :class:`RunOptions`' fields as
keyword arguments. The CLI is a layer over this package (:func:`select_hosts`,
:func:`plan_run`, :func:`execute`); this package never imports the CLI, never configures
logging, and installs signal handlers only with ``handle_signals=True``.
"""

from fleet.api.calls import check, check_sync, run, start, start_sync, stop, stop_sync
from fleet.api.execute import execute, keep_record
from fleet.api.options import DEFAULTS, RunArgs, RunOptions
from fleet.api.prepare import PreparedRun, Selection, claim_journal, open_journal, plan_run, select_hosts
from fleet.api.result import RunResult

__all__ = [
    "DEFAULTS",
    "PreparedRun",
    "RunArgs",
    "RunOptions",
    "RunResult",
    "Selection",
    "check",
    "check_sync",
    "claim_journal",
    "execute",
    "keep_record",
    "open_journal",
    "plan_run",
    "run",
    "select_hosts",
    "start",
    "start_sync",
    "stop",
    "stop_sync",
]
