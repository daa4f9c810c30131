"""The journal is the run's lock: one process at a time works on a journal.

A run takes an exclusive, non-blocking ``flock`` on its journal before it reads anything from
it (``--resume``) or sends anything, and holds it until it has written its reports. A second
fleet on the same journal — two terminals resuming at once, a resume while the original still
runs, a CI job retried — fails to take the lock and stops at once (exit 5), naming the pid
that holds it, with nothing sent. The kernel drops the lock when its holder dies, however it
dies, so a crashed run never leaves a journal locked.

The lock is taken on the journal file itself (its inode, whatever path names it) through a
descriptor of its own; the journal's writer opens the file separately and never locks. The
holder's pid is written to ``<journal>.lock`` once the lock is held; on Linux, a contender
that finds that file not written yet reads the holder from ``/proc/locks``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Callable

from fleet.errors import InputError

LOCK_SUFFIX = ".lock"
_PROC_LOCKS = "/proc/locks"


class RunLock:
    """An exclusive lock on one journal. Use :meth:`acquire` / :meth:`release`, or ``with``."""

    def __init__(self, journal: str, flag: str, *, create: bool, what: str = "") -> None:
        self.journal = journal
        self.flag = flag
        self.create = create
        #: a word on the holder for the pid file, e.g. "fleet start"
        self.what = what
        self._fd: int | None = None

    @property
    def pid_file(self) -> str:
        return self.journal + LOCK_SUFFIX

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise :class:`InputError` (exit 5) saying who holds it."""
        directory = os.path.dirname(self.journal)
        if self.create and directory:
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise InputError(f"{self.flag} {self.journal}: cannot create its directory: {exc.strerror}") from None
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | (os.O_CREAT if self.create else 0)
        try:
            fd = os.open(self.journal, flags, 0o600)
        except OSError as exc:
            raise InputError(f"{self.flag} {self.journal}: cannot open: {exc.strerror}") from None
        lock_regular(fd, f"{self.flag} {self.journal}: not a regular file",
                     lambda: f"{self.flag} {self.journal}: in use by {self._holder(fd)}; nothing was sent "
                             "(wait for that run to end, or stop it)")
        self._fd = fd
        self._write_pid()

    def release(self) -> None:
        """Drop the lock (the pid file first, so it never names a process that let go)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.pid_file)
        os.close(self._fd)
        self._fd = None

    def journal_size(self) -> int:
        """Bytes in the journal now (read through the locked descriptor)."""
        assert self._fd is not None
        return os.fstat(self._fd).st_size

    def drop_torn_tail(self) -> bool:
        """Cut a last line left without its newline by a crash mid-write; ``True`` if one was cut.

        Such a line was never fsynced, so nothing was sent on its account; removing it keeps the
        next appended event on a line of its own.
        """
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return False
        keep, offset = 0, 0
        while offset < size:
            chunk = os.pread(self._fd, min(1 << 20, size - offset), offset)
            if not chunk:
                break
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = offset + newline + 1
            offset += len(chunk)
        os.ftruncate(self._fd, keep)
        os.fsync(self._fd)
        return True

    def _write_pid(self) -> None:
        text = f"{os.getpid()} {self.what} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
        with contextlib.suppress(OSError):
            fd = os.open(self.pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
                         | os.O_NONBLOCK, 0o600)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)

    def _holder(self, fd: int) -> str:
        """``pid N (…)`` of the process holding the lock, as well as can be told."""
        for _ in range(20):  # the holder writes its pid file right after taking the lock
            with contextlib.suppress(OSError, ValueError):
                with open(self.pid_file, encoding="utf-8", errors="replace") as fh:
                    words = fh.read(200).split(maxsplit=1)
                if words and words[0].isdigit():
                    rest = words[1].strip() if len(words) > 1 else ""
                    return f"pid {int(words[0])}" + (f" ({rest})" if rest else "")
            pid = flock_holder(fd)
            if pid is not None:
                return f"pid {pid}"
            time.sleep(0.01)
        return "another process (its pid is not recorded)"


def lock_regular(fd: int, not_regular: str, busy: Callable[[], str]) -> None:
    """Take an exclusive, non-blocking ``flock`` on ``fd``, which must be a regular file, or close
    ``fd`` and raise :class:`InputError` (``not_regular``, or ``busy()`` naming the holder)."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(not_regular)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(busy()) from None
    except BaseException:
        os.close(fd)
        raise


def flock_holder(fd: int) -> int | None:
    """The pid holding a ``flock`` on ``fd``'s file, from Linux's ``/proc/locks``; None elsewhere."""
    st = os.fstat(fd)
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    try:
        with open(_PROC_LOCKS, encoding="ascii", errors="replace") as fh:
            lines = fh.readlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF" ("->" marks a waiter)
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[2] == "->":
            continue
        parts = fields[5].split(":")
        try:
            found = (int(parts[0], 16), int(parts[1], 16), int(parts[2]))
            if found == wanted:
                return int(fields[4])
        except (ValueError, IndexError):
            continue
    return None
