"""Every attempt of a run, read back from its journal: the first run and each ``--resume``.

A run folder's ``summary.json`` is rewritten by each resume, so it only tells the last
attempt; the journal keeps them all, each opened by a ``run`` header and, when it ended on its
own or on a signal, closed by an ``end``. ``fleet runs`` and ``fleet show`` list them from here.
Lines that do not parse are skipped (``fleet status`` and ``--resume`` check a journal strictly).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from fleet.engine.journal import read_journal
from fleet.models import Outcome


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of a run: when it started, on how many hosts, how they ended, and how it ended."""

    number: int
    started_at: float
    hosts: int
    #: outcome → hosts that ended in this attempt, in Outcome order
    ended: Mapping[str, int] = field(default_factory=dict)
    #: "ended", "interrupted", or "no end recorded" (killed, or still going)
    how: str = "no end recorded"


def run_attempts(journal: str) -> list[Attempt]:
    """The attempts ``journal`` records, oldest first; ``[]`` when it cannot be read."""
    try:
        lines = read_journal(journal)
    except OSError:
        return []
    attempts: list[Attempt] = []
    counts: dict[str, int] = {}
    for _, raw in lines:
        try:
            ev = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(ev, dict) or not isinstance(ev.get("at"), int | float):
            continue
        kind = ev.get("ev")
        if kind == "run" and isinstance(ev.get("hosts"), list):
            counts = {}
            attempts.append(Attempt(len(attempts) + 1, float(ev["at"]), len(ev["hosts"]), counts))
        elif attempts and kind == "finished" and isinstance(ev.get("result"), dict):
            outcome = ev["result"].get("outcome")
            if isinstance(outcome, str):
                counts[outcome] = counts.get(outcome, 0) + 1
        elif attempts and kind == "end":
            last = attempts[-1]
            attempts[-1] = Attempt(last.number, last.started_at, last.hosts, counts,
                                   "interrupted" if ev.get("interrupted") is True else "ended")
    return [Attempt(a.number, a.started_at, a.hosts, {o: a.ended[o] for o in sorted(a.ended, key=_rank)}, a.how)
            for a in attempts]


_ORDER = {o.value: i for i, o in enumerate(Outcome)}


def _rank(outcome: str) -> int:
    return _ORDER.get(outcome, len(_ORDER))
