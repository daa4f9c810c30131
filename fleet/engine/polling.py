"""When to look at a running DAG next. Pure decisions: time and randomness are passed in.

The policy: a quick first look (a DAG that fails at once is reported at once), then an
interval that grows with the DAG's age up to a cap, with jitter so thousands of DAGs started
together do not poll in lock-step. Once a few DAGs of the run have finished (successfully or
not), their durations tell when the rest can first be expected to finish: looks before that
floor would only ever see RUNNING, so they are skipped — the first look included. DAGs that
fail fast pull the floor down with them, so the first look stays as quick as the run needs.

Before any duration is learnt (every DAG of a wave fired before the first one ends), only the
first few DAGs of the run — the *scouts* — take the quick first look, and look again every
``first`` seconds until ``hold``. The others are *held*: they look first at ``hold`` seconds of
age, and re-check every ``recheck`` seconds (without a request) whether the scouts have taught
the planner a floor by then. A failure that hits the whole fleet at once reaches the scouts first; once
``learn_after`` DAGs have ended the floor is learnt and the held DAGs follow it. A DAG that fails
fast on a held host alone is seen at ``hold`` at the latest.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Poll timing knobs, in seconds.

    ``minimum`` bounds the detection lag of a DAG in its expected window; 0.85 s keeps the
    lag's p95 under 1 s (``scripts/bench``: 0.4 s cost ~1.4 polls per host-second for a p95 of
    0.8 s). ``scouts`` and ``hold`` keep a run under one poll per host-second before its first
    DAGs end: without them every DAG of a wave is looked at 0.5 s and 1.35 s old for nothing.
    """

    first: float = 0.5
    minimum: float = 0.85
    cap: float = 2.0
    growth: float = 0.25
    jitter: float = 0.1
    #: finished DAGs needed before their durations are trusted to skip early polls (fewer than
    #: the scouts, so one slow scout does not keep the held DAGs waiting)
    learn_after: int = 6
    #: the floor is this quantile of observed durations, times ``floor_margin``
    floor_quantile: float = 0.05
    #: a DAG shorter than the floor is still seen at the floor, so no safety margin is needed
    floor_margin: float = 1.0
    #: DAGs of the run that look quickly while nothing is learnt (more than ``learn_after``)
    scouts: int = 8
    #: age of a held DAG's first look while nothing is learnt (0: no DAG is held)
    hold: float = 1.7
    #: how often a held DAG asks (without a request) whether a floor has been learnt
    recheck: float = 0.3

    def __post_init__(self) -> None:
        if min(self.first, self.minimum, self.cap, self.growth, self.jitter, self.hold, self.recheck) < 0:
            raise ValueError("poll timings must not be negative")
        if self.minimum <= 0 or self.cap <= 0 or self.jitter >= 1:
            raise ValueError("poll minimum and cap must be positive, jitter below 1")


#: a wait shorter than this is no wait (clock steps and float error must not spin a DAG's steps)
_EPSILON_S = 0.01


class PollPlanner:
    """Decides each DAG's next poll time, learning the run's DAG durations as they finish."""

    def __init__(self, policy: PollPolicy = PollPolicy(), rng: random.Random | None = None) -> None:
        self.policy = policy
        self._rng = rng or random.Random()
        self._durations: list[float] = []
        self._scouts_left = max(policy.scouts, 0)

    def observe(self, duration: float) -> None:
        """A DAG of this run was seen finished (either way) ``duration`` seconds after it started."""
        if duration >= 0:
            bisect.insort(self._durations, duration)

    @property
    def learned(self) -> bool:
        return len(self._durations) >= self.policy.learn_after

    @property
    def floor(self) -> float:
        """Age before which a DAG is not expected to have finished (0 until learned)."""
        p = self.policy
        if not self.learned:
            return 0.0
        index = int(p.floor_quantile * (len(self._durations) - 1))
        return self._durations[index] * p.floor_margin

    def admit(self) -> bool:
        """A DAG starts being followed: True when it is held (see the module's docstring)."""
        if self.learned or self.policy.hold <= 0:
            return False
        if self._scouts_left > 0:
            self._scouts_left -= 1
            return False
        return True

    def first_delay(self) -> float:
        """Seconds from a DAG's start to its first look: quick, or the learned floor if later."""
        return self._jittered(max(self.policy.first, self.floor))

    def next_delay(self, age: float) -> float:
        """Seconds from now until the next look at a DAG that is ``age`` seconds old and unfinished.

        While nothing is learnt, a DAG younger than ``hold`` (a scout: held ones do not look
        then) is looked at every ``first`` seconds, so the scouts teach the floor soon."""
        p = self.policy
        if not self.learned and age < p.hold and p.hold > 0:
            return self._jittered(p.first)
        interval = min(p.cap, max(p.minimum, age * p.growth))
        delay = self._jittered(interval)
        return max(delay, self.floor - age)

    def defer(self, age: float, held: bool = False) -> float:
        """Seconds to put off a look that is due now (0: look now).

        A look planned before the floor was learned waits for the floor; a held DAG waits for
        ``hold`` while nothing is learned, waking every ``recheck`` to see whether it is.
        """
        p = self.policy
        if held and not self.learned and p.hold - age > _EPSILON_S:
            return min(p.hold - age, max(p.recheck, _EPSILON_S))
        wait = self.floor - age
        return wait if wait > p.minimum / 4 else 0.0

    def _jittered(self, value: float) -> float:
        j = self.policy.jitter
        return value * (1.0 + self._rng.uniform(-j, j)) if j else value


def retry_delay(attempt: int, base: float = 0.5, cap: float = 8.0, rng: random.Random | None = None) -> float:
    """Backoff before re-trying a failed poll (attempt 1, 2, …): exponential with full jitter."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)
