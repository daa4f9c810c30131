"""Finding an agent's newest DAGs by probing ODP DAG ids. Pure decision logic, no I/O.

Why it works (obshell's source, ``repository/model/sqlite/dag_instance.go`` and
``service/task``): every local DAG of an agent is a row of one sqlite table whose ``id`` is an
autoincrement primary key, the same sequence for every DAG type, and nothing ever deletes a
row. So the ids that exist are exactly 1..N, allocated in creation order, and a start sent
after the agent had N DAGs creates a DAG with an id above N. ``GET /api/v1/task/dag/{4…}``
works on every identity (FOLLOWER included) with the agent password and tells the three cases
apart: 200 (an ODP DAG), 404 ``Task.NotFound`` "dag id not match" (the row exists but is not an
ODP DAG) and 404 ``Task.NotFound`` "record not found" (no such row yet).

:class:`IdSearch` drives the search like a generator drives I/O: the caller asks
:meth:`IdSearch.next_id`, probes that id, and reports the answer with :meth:`IdSearch.observe`.
It gallops up from a hint (1, 2, 4, … above it) until an id does not exist, bisects to the
highest existing id N (the frontier), then reads the newest ``look`` ids. Requests are bounded:
at most ``2·⌈log2(N − hint + 1)⌉ + 2 + look`` (the hint checked, the gallop, the bisection, the
look; ids already probed are never probed twice), and never more than ``budget``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from fleet.models import DagDetail

#: The newest DAG ids read once the frontier is known.
LOOK = 8
#: Hard cap on the probes of one search (2·63 + 2 + LOOK would cover any int64 id).
BUDGET = 80


class Seen(enum.Enum):
    """What one probe of an id answered."""

    ODP = "odp"  # 200: an ODP DAG
    OTHER = "other"  # 404 "dag id not match": the row exists, not an ODP DAG
    ABSENT = "absent"  # 404 "record not found": no such row yet


@dataclass(slots=True)
class IdSearch:
    """The highest existing DAG id and the newest DAGs of one agent, found by probing ids.

    ``hint``: an id believed to exist (0: none); ``hint_known``: it was seen to exist in this
    run, so it needs no check. ``floor``: ids at or below it are not worth reading in the look
    (known to predate what is searched for).
    """

    hint: int = 0
    hint_known: bool = False
    floor: int = 0
    look: int = LOOK
    budget: int = BUDGET
    seen: dict[int, Seen] = field(default_factory=dict)
    dags: dict[int, DagDetail] = field(default_factory=dict)
    requests: int = 0
    _lo: int = 0
    _hi: int | None = None
    _step: int = 1
    _phase: str = "hint"

    def __post_init__(self) -> None:
        if self.hint <= 0:
            self.hint, self._phase = 0, "gallop"
        elif self.hint_known:  # seen to exist already: not read again, so not looked at either
            self.seen[self.hint] = Seen.OTHER
            self.floor = max(self.floor, self.hint)
            self._lo, self._phase = self.hint, "gallop"

    @property
    def frontier(self) -> int | None:
        """The highest existing id, once known."""
        return self._lo if self._phase in ("look", "done") else None

    @property
    def complete(self) -> bool:
        """Every id of the look was read (the search ended within its budget)."""
        return self._phase == "done"

    def next_id(self) -> int | None:
        """The id to probe next, or None when the search is over (complete or out of budget)."""
        while True:
            candidate = self._candidate()
            if candidate is None:
                return None
            if candidate not in self.seen:
                if self.requests >= self.budget:
                    return None
                return candidate
            self.observe(candidate, self.seen[candidate])

    def observe(self, dag_id: int, seen: Seen, dag: DagDetail | None = None) -> None:
        """Record what probing ``dag_id`` answered (``dag`` with :attr:`Seen.ODP`)."""
        if dag_id not in self.seen:
            self.requests += 1
            self.seen[dag_id] = seen
            if dag is not None:
                self.dags[dag_id] = dag
        exists = seen is not Seen.ABSENT
        if self._phase == "hint":
            if exists:
                self._lo, self._phase = dag_id, "gallop"
            else:  # the hint is stale (an agent reinstalled?): start from nothing
                self.hint, self._lo, self._phase = 0, 0, "gallop"
        elif self._phase == "gallop":
            if exists:
                self._lo = dag_id
                self._step *= 2
            else:
                self._hi, self._phase = dag_id, "bisect"
                self._settle()
        elif self._phase == "bisect":
            if exists:
                self._lo = dag_id
            else:
                self._hi = dag_id
            self._settle()

    def newest(self) -> list[DagDetail]:
        """The ODP DAGs read, newest first."""
        return [self.dags[i] for i in sorted(self.dags, reverse=True)]

    # -- internals ---------------------------------------------------------------------

    def _settle(self) -> None:
        if self._hi is not None and self._hi - self._lo <= 1:
            self._phase = "look"

    def _candidate(self) -> int | None:
        if self._phase == "hint":
            return self.hint
        if self._phase == "gallop":
            return self._lo + self._step
        if self._phase == "bisect":
            assert self._hi is not None
            return (self._lo + self._hi) // 2
        if self._phase == "look":
            bottom = max(self.floor + 1, self._lo - self.look + 1, 1)
            for dag_id in range(self._lo, bottom - 1, -1):
                if dag_id not in self.seen:
                    return dag_id
            self._phase = "done"
        return None
