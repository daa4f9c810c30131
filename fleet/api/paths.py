"""Where a run keeps its files: one folder per run, and a stable "latest" retry file.

Each run gets ``.fleet/runs/<run-id>/`` (``<run-id>`` = UTC stamp, pid and operation) holding
its ``journal.jsonl``, ``summary.json``, ``retry`` file and ``report.html`` — its whole record,
which ``fleet runs`` lists and ``fleet show`` reads back with the agents gone. A
resume of a journal kept in such a folder works in that same folder. Besides, every run writes
its retry hosts to ``.fleet/retry/<inventory>.<operation>[.shard-I-of-N].retry``, the latest
per inventory, operation and shard, so shards and start/stop/check runs never overwrite each
other's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

RUNS_DIR = os.path.join(".fleet", "runs")
RETRY_DIR = os.path.join(".fleet", "retry")
JOURNAL_NAME = "journal.jsonl"
RETRY_NAME = "retry"
SUMMARY_NAME = "summary.json"
REPORT_NAME = "report.html"


def run_id(started_at: float, pid: int, operation: str) -> str:
    """``20261127T031000Z-4242-obproxy.start``."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(started_at))}-{pid}-{operation}"


def run_dir(journal: str | None, started_at: float, pid: int, operation: str) -> str:
    """The folder of this run: the journal's own folder when it is a run folder's ``journal.jsonl``
    (a default journal, or a ``--resume`` of one), else a fresh ``.fleet/runs/<run-id>/``."""
    if journal is not None and os.path.basename(journal) == JOURNAL_NAME:
        return os.path.dirname(journal) or "."
    return os.path.join(RUNS_DIR, run_id(started_at, pid, operation))


def default_journal(started_at: float, pid: int, operation: str) -> str:
    return os.path.join(RUNS_DIR, run_id(started_at, pid, operation), JOURNAL_NAME)


def latest_retry_path(inventory: str, command: str, shard: str | None) -> str:
    """``.fleet/retry/prod.start.retry``, or ``prod.start.shard-2-of-4.retry`` for a shard."""
    name = f"{Path(inventory).stem}.{command}"
    if shard:
        index, _, total = shard.partition("/")
        name += f".shard-{index}-of-{total}"
    return os.path.join(RETRY_DIR, name + ".retry")
