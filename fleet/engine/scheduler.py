"""One scheduler for every running DAG: a deadline heap, a bound on work in flight.

There is no sleeping task per host. Items wait in a heap ordered by due time; the single
loop starts a step for each due item while fewer than ``limit`` are running, and a step
returns when its item is next due (or None when the item is finished).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DeadlineScheduler(Generic[T]):
    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._clock = clock
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._closed = False
        self._stopped = False
        #: when the wake-up timer fires (inf: none armed)
        self._timer_due = math.inf

    def add(self, due: float, item: T) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), item))
        self._wake.set()

    def close(self) -> None:
        """No more items will be added: :meth:`run` returns once every item has finished."""
        self._closed = True
        self._wake.set()

    def stop(self) -> None:
        """Stop now: cancel running steps; items still waiting are dropped, never started."""
        self._stopped = True
        self._heap.clear()
        for task in self._in_flight:
            task.cancel()
        self._wake.set()

    async def run(self, step: Callable[[T], Awaitable[float | None]]) -> None:
        loop = asyncio.get_running_loop()
        # One wake-up timer, re-armed only when the earliest due time changes: every finished
        # step wakes the loop, and a timer made and cancelled per wake-up is garbage for the
        # event loop's own heap.
        timer: asyncio.TimerHandle | None = None
        try:
            async with asyncio.TaskGroup() as tg:
                while not self._stopped:
                    self._wake.clear()
                    now = self._clock()
                    while self._heap and self._heap[0][0] <= now and len(self._in_flight) < self._limit:
                        _, _, item = heapq.heappop(self._heap)
                        task = tg.create_task(self._run_step(step, item))
                        self._in_flight.add(task)
                    if self._closed and not self._heap and not self._in_flight:
                        break
                    due = self._heap[0][0] if self._heap and len(self._in_flight) < self._limit else math.inf
                    if due != self._timer_due:
                        if timer is not None:
                            timer.cancel()
                            timer = None
                        self._timer_due = due
                        if due != math.inf:
                            timer = loop.call_later(max(0.0, due - now), self._timer_fired)
                    await self._wake.wait()
        finally:
            if timer is not None:
                timer.cancel()

    def _timer_fired(self) -> None:
        self._timer_due = math.inf
        self._wake.set()

    async def _run_step(self, step: Callable[[T], Awaitable[float | None]], item: T) -> None:
        try:
            due = await step(item)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._in_flight.discard(task)
            self._wake.set()
        if due is not None and not self._stopped:
            heapq.heappush(self._heap, (due, next(self._seq), item))
