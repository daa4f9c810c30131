"""``fleet runs --prune KEEP`` and ``--older-than AGE``: delete old run folders, never a live one.

:func:`parse_age` and :func:`choose` are pure: which runs go, given the runs (oldest first), how
many of the newest to keep, the oldest start to keep and the time now. :func:`prune` deletes
each chosen folder while holding its journal's run lock (:class:`~fleet.engine.runlock.RunLock`),
so a run still going — or being resumed — is never deleted: its lock is held and the folder is
kept, with a line naming its holder.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from fleet.api.paths import JOURNAL_NAME
from fleet.cli.runs import PastRunInfo
from fleet.engine.runlock import RunLock
from fleet.errors import InputError

_AGE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` as seconds; anything else is an InputError."""
    m = _AGE.match(text.strip())
    if not m:
        raise InputError(f"--older-than {text!r}: expected a number and a unit, e.g. 7d, 12h, 30m, 90s, 2w")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def choose(runs: Sequence[PastRunInfo], *, keep: int | None, older_than_s: float | None,
           now: float) -> list[PastRunInfo]:
    """The runs to delete: all but the newest ``keep``, and of those only the ones started more
    than ``older_than_s`` before ``now`` (either rule alone when the other is None)."""
    if keep is not None and keep < 0:
        raise InputError(f"--prune {keep}: expected the number of runs to keep, from 0")
    ordered = sorted(runs, key=lambda r: (r.started_at or 0.0, r.folder))
    chosen = ordered[:max(0, len(ordered) - keep)] if keep is not None else list(ordered)
    if older_than_s is not None:
        chosen = [r for r in chosen if r.started_at is not None and r.started_at < now - older_than_s]
    return chosen


@dataclass(frozen=True, slots=True)
class Pruned:
    deleted: tuple[str, ...]
    #: folder → why it was kept (its journal's lock is held)
    kept: dict[str, str]


def prune(runs: Sequence[PastRunInfo]) -> Pruned:
    """Delete each run's folder under its journal's lock; a run whose lock is held is kept."""
    deleted: list[str] = []
    kept: dict[str, str] = {}
    for run in runs:
        journal = os.path.join(run.folder, JOURNAL_NAME)
        lock = RunLock(journal, "--prune", create=False, what="fleet runs --prune")
        locked = os.path.exists(journal)
        if locked:
            try:
                lock.acquire()
            except InputError as exc:
                kept[run.folder] = str(exc)
                continue
        try:
            shutil.rmtree(run.folder)
        except OSError as exc:
            kept[run.folder] = f"cannot delete: {exc.strerror}"
        else:
            deleted.append(run.folder)
        finally:
            if locked:
                lock.release()
    return Pruned(tuple(deleted), kept)
