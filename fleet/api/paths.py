"""Where a run keeps its files: one folder per run, and a stable "latest" retry file.

fleet's home (:func:`fleet_home`) is ``$FLEET_HOME``; else the working directory's ``.fleet``
when it exists (a project that keeps its runs beside its inventory); else the platform's state
directory, ``$XDG_STATE_HOME/fleet`` or ``~/.local/state/fleet`` — so runs started from
anywhere are found by ``fleet runs`` from anywhere.

Each run gets ``<home>/runs/<run-id>/`` (``<run-id>`` = UTC stamp, pid and operation) holding
its ``journal.jsonl``, ``summary.json``, ``retry`` file and ``report.html`` — its whole record,
which ``fleet runs`` lists and ``fleet show`` reads back with the agents gone. A
resume of a journal kept in such a folder works in that same folder. Besides, every run writes
its retry hosts to ``<home>/retry/<inventory>.<operation>[.shard-I-of-N].retry``, the latest
per inventory, operation and shard, so shards and start/stop/check runs never overwrite each
other's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

#: the working directory's home, used when it exists
LOCAL_HOME = ".fleet"
HOME_ENV = "FLEET_HOME"
JOURNAL_NAME = "journal.jsonl"
RETRY_NAME = "retry"
SUMMARY_NAME = "summary.json"
REPORT_NAME = "report.html"


def fleet_home(environ: Mapping[str, str] | None = None) -> str:
    """``$FLEET_HOME``, else ``.fleet`` when the working directory has one, else the state directory."""
    env = os.environ if environ is None else environ
    explicit = env.get(HOME_ENV)
    if explicit:
        return explicit
    if os.path.isdir(LOCAL_HOME):
        return LOCAL_HOME
    state = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):  # the XDG rule: a relative value is ignored
        state = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "fleet")


def runs_dir(environ: Mapping[str, str] | None = None) -> str:
    """``<home>/runs``: one folder per run."""
    return os.path.join(fleet_home(environ), "runs")


def retry_dir(environ: Mapping[str, str] | None = None) -> str:
    """``<home>/retry``: the latest retry file per inventory, operation and shard."""
    return os.path.join(fleet_home(environ), "retry")


def run_id(started_at: float, pid: int, operation: str) -> str:
    """``20261127T031000Z-4242-obproxy.start``."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(started_at))}-{pid}-{operation}"


def run_dir(journal: str | None, started_at: float, pid: int, operation: str) -> str:
    """The folder of this run: the journal's own folder when it is a run folder's ``journal.jsonl``
    (a default journal, or a ``--resume`` of one), else a fresh ``<home>/runs/<run-id>/``."""
    if journal is not None and os.path.basename(journal) == JOURNAL_NAME:
        return os.path.dirname(journal) or "."
    return os.path.join(runs_dir(), run_id(started_at, pid, operation))


def default_journal(started_at: float, pid: int, operation: str) -> str:
    return os.path.join(runs_dir(), run_id(started_at, pid, operation), JOURNAL_NAME)


def latest_retry_path(inventory: str, command: str, shard: str | None) -> str:
    """``<home>/retry/prod.start.retry``, or ``prod.start.shard-2-of-4.retry`` for a shard."""
    name = f"{Path(inventory).stem}.{command}"
    if shard:
        index, _, total = shard.partition("/")
        name += f".shard-{index}-of-{total}"
    return os.path.join(retry_dir(), name + ".retry")
