"""The run journal: JSON Lines, one event per line, durable at the moments that matter.

Events (``ev``): ``run`` (header), ``fired`` (before a start/stop is sent: host, trace id),
``answered`` (its DAG id and the agent's trace id), ``lost`` (the start left but its answer was
lost: a resume searches for its DAG and never re-fires it), ``retry`` (before an in-place RETRY),
``finished`` (the host's outcome), and ``end``. Lines that must survive a crash are fsynced
before the caller proceeds; concurrent writers share one fsync (group commit), so durability
does not serialise the fleet.
The file is created 0600 and never holds a secret: the CLI passes its sanitiser as ``clean``,
which every record goes through, and lines are written ASCII-only (non-ASCII as JSON escapes), so no
agent text reaches a terminal raw through ``cat``. It is opened without following a symbolic
link and without blocking on a FIFO; anything but a regular file is refused.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import stat
import time
from collections.abc import Callable
from typing import Any

from fleet.errors import InputError
from fleet.models import HostResult


class Journal:
    """Appends events to a journal file. Use as an async context manager."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time,
                 clean: Callable[[Any], Any] | None = None) -> None:
        self.path = path
        self._clock = clock
        self._clean = clean
        self._fd: int | None = None
        self._buffer: list[bytes] = []
        self._appended = 0
        self._synced = 0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Journal:
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        self._fd = open_journal(self.path)
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
        if self._clean is not None:
            doc = self._clean(doc)
        self._buffer.append(json.dumps(doc, separators=(",", ":")).encode() + b"\n")
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


def open_journal(path: str) -> int:
    """A descriptor appending to the journal at ``path`` (created 0600).

    Never follows a symbolic link, never blocks on a FIFO (opened non-blocking, then refused),
    and refuses anything but a regular file with :class:`InputError`. An existing journal
    readable by others is narrowed to 0600 (through the descriptor, never a path).
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"--journal {path}: is a symbolic link; give the journal's real path") from None
        if exc.errno == errno.ENXIO:
            raise InputError(f"--journal {path}: is a FIFO with no reader; the journal must be a regular file"
                             ) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"--journal {path}: is not a regular file (use --no-journal to keep none)")
        os.set_blocking(fd, True)
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


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
