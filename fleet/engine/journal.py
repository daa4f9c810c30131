"""The run journal: JSON Lines, one event per line, durable at the moments that matter.

Events (``ev``): ``run`` (header), ``fired`` (before a start/stop is sent: host, trace id),
``answered`` (its DAG id and the agent's trace id), ``finished`` (the host's outcome), and
``end``. Lines that must survive a crash are fsynced before the caller proceeds; concurrent
writers share one fsync (group commit), so durability does not serialise the fleet.
The file is created 0600 and never holds a secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import Any

from fleet.models import HostResult


class Journal:
    """Appends events to a journal file. Use as an async context manager."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._fd: int | None = None
        self._buffer: list[bytes] = []
        self._appended = 0
        self._synced = 0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Journal:
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(self._fd, 0o600)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sync()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def record(self, ev: str, *, durable: bool = True, **fields: Any) -> None:
        """Append one event; with ``durable`` return only once it is on disk.

        ``fields`` must not be named ``durable`` (it is the keyword above).
        """
        doc = {"ev": ev, "at": round(self._clock(), 3), **fields}
        self._buffer.append(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        self._appended += 1
        if durable:
            await self._commit(self._appended)

    async def sync(self) -> None:
        await self._commit(self._appended)

    async def _commit(self, upto: int) -> None:
        async with self._lock:
            if self._synced >= upto or self._fd is None:
                return
            lines, self._buffer = self._buffer, []
            target = self._appended
            await asyncio.to_thread(self._write, b"".join(lines))
            self._synced = target

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)


class NullJournal(Journal):
    """A journal that keeps nothing (``--no-journal``, and engine tests)."""

    def __init__(self) -> None:
        super().__init__(os.devnull)

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def record(self, ev: str, *, durable: bool = True, **fields: Any) -> None:
        return None


def read_journal(path: str) -> list[tuple[int, bytes]]:
    """Every complete line of a journal with its 1-based number; a torn last line is left out.

    A line without its newline can only be the last one, cut off by a crash mid-write; it was
    never fsynced, so nothing was sent on its account. Parsing and checking the lines is
    :mod:`fleet.engine.priors`' job.
    """
    lines: list[tuple[int, bytes]] = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                break
            lines.append((number, raw))
    return lines


def result_record(result: HostResult, note: str | None = None) -> dict[str, object]:
    """A host's result as the journal's ``finished`` event keeps it (read back by ``--resume``)."""
    doc = result.to_dict()
    if note:
        doc["note"] = note
    return doc
