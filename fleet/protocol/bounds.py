"""Bounds on everything an agent controls, applied where its answer is parsed.

An agent is untrusted input: whatever it sends, what fleet keeps of one host stays small. Text
fields are clipped (with a visible marker), lists are capped, and a value that cannot be
honest (a 5,000-digit id, a DAG of 100,000 nodes) is a :class:`~fleet.errors.ProtocolError`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

#: A traceId longer than this is cut (obshell's are 16 hex characters).
MAX_TRACE_ID_CHARS = 128
#: traceIds kept per host: the first ones and the latest; the rest are only counted.
MAX_TRACE_IDS = 32
#: Any other text an agent sends (messages, names, states, log lines) is cut beyond this.
MAX_TEXT_CHARS = 4096
#: A generic id longer than this is refused (an IPv6 ODP id has about 50 digits).
MAX_ID_CHARS = 96
#: Integers an agent sends must fit a signed 64-bit integer, as in obshell's Go structs.
MAX_INT = 2**63 - 1
#: A DAG with more nodes than this is refused (an ODP DAG has two).
MAX_DAG_NODES = 1024
#: Sub-tasks of one DAG kept as models; failed ones beyond are only counted.
MAX_SUB_TASKS = 256
#: Task-log lines kept per sub-task (the latest ones), and their total size in characters.
MAX_TASK_LOGS = 20
MAX_TASK_LOG_CHARS = 16 * 1024
#: Failed sub-tasks kept per host in the summary.
MAX_FAILED_TASKS = 32

TRUNCATED = "…[truncated]"


def first_and_latest(items: Sequence[T], limit: int) -> tuple[list[T], int]:
    """``(kept, dropped)``: at most ``limit`` items, the first half and the latest; the first is always kept."""
    if len(items) <= limit:
        return list(items), 0
    head = max(1, limit // 2)
    tail = limit - head
    return [*items[:head], *(items[len(items) - tail :] if tail else ())], len(items) - limit


class KeptTraceIds:
    """The traceIds one agent returned, bounded: the first ones and the latest, the rest counted."""

    __slots__ = ("_first", "_head", "_latest", "dropped")

    def __init__(self, limit: int = MAX_TRACE_IDS) -> None:
        self._head = max(1, limit // 2)
        self._first: list[str] = []
        self._latest: deque[str] = deque(maxlen=max(0, limit - self._head))
        self.dropped = 0

    def append(self, trace_id: str) -> None:
        if len(self._first) < self._head:
            self._first.append(trace_id)
            return
        if len(self._latest) == self._latest.maxlen:
            self.dropped += 1
        self._latest.append(trace_id)

    def as_list(self) -> list[str]:
        return [*self._first, *self._latest]


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text``, or its first characters ending in ``…[truncated]`` so the whole is ``limit`` long."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATED))] + TRUNCATED


def clip_logs(logs: list[str]) -> tuple[str, ...]:
    """The latest task-log lines within :data:`MAX_TASK_LOGS` and :data:`MAX_TASK_LOG_CHARS`.

    When lines are dropped, a first line says how many (``[fleet: 37 earlier log lines truncated]``).
    """
    kept: list[str] = []
    used = 0
    for line in reversed(logs):
        if len(kept) >= MAX_TASK_LOGS or used >= MAX_TASK_LOG_CHARS:
            break
        line = clip(line, min(MAX_TEXT_CHARS, MAX_TASK_LOG_CHARS - used))
        kept.append(line)
        used += len(line)
    kept.reverse()
    dropped = len(logs) - len(kept)
    if dropped:
        kept.insert(0, f"[fleet: {dropped} earlier log lines truncated]")
    return tuple(kept)
