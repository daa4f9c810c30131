"""Runs on the same agents exclude each other on one machine: one advisory lock per agent.

A run that acts on agents (start, stop, ``fleet dag``) takes an exclusive, non-blocking
``flock`` on one file per agent (``address:port``) in a lock directory, before anything is
sent, and holds them until it has written its reports. A second run that shares an agent with
it — a ``fleet stop`` during a ``fleet start``, a second ``fleet dag retry`` of the same run
given as another file — fails to take that agent's lock and stops at once, naming the holder,
with nothing sent and every lock it took released.

Locks are tried in one order (sorted by agent) and never waited for, so two runs over
overlapping hosts cannot deadlock: whichever takes their first shared agent first goes on,
the other refuses. The kernel drops a ``flock`` when its holder dies, however it dies, so a
killed run never leaves an agent locked. A lock file another user created (a shared
``FLEET_HOME``) is locked through a read-only descriptor: the lock holds, only the holder's
line is not written (a contender then names the pid from ``/proc/locks``). Lock files stay
(removing one that another process may be opening would let two runs lock two different files
for one agent). The holder writes its pid and run into the file it locked; on Linux the pid is
confirmed from ``/proc/locks``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import re
import time
from collections.abc import Iterable

from fleet.engine.runlock import flock_holder, lock_regular
from fleet.errors import InputError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: the most of a lock file read back to name its holder
_HOLDER_BYTES = 400


def agent_key(address: str, port: int) -> str:
    """``address:port`` of an agent, its address in one spelling (an IP in its compressed form,
    a DNS name in lower case without its trailing dot)."""
    try:
        text = ipaddress.ip_address(address.strip("[]")).compressed
    except ValueError:
        text = address.strip().rstrip(".").lower()
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


def lock_name(key: str) -> str:
    """The lock file's name for ``key``: readable, and unique by a digest of the key."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{_UNSAFE.sub('_', key)[:80]}.{digest}.lock"


class AgentLocks:
    """Exclusive locks on a set of agents; :meth:`acquire` all or none, :meth:`release` all, or ``with``."""

    def __init__(self, directory: str, agents: Iterable[tuple[str, str]], holder: str) -> None:
        #: agent key → a name for it in messages (the inventory's host name)
        self.agents = dict(agents)
        self.directory = directory
        #: what the holder writes into each file it locked, after its pid (e.g. "fleet start run …")
        self.holder = " ".join(holder.split())[:300]
        self._fds: list[int] = []

    def __enter__(self) -> AgentLocks:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Lock every agent (in sorted order) or none: :class:`InputError` (exit 5) names the holder."""
        if not self.agents:
            return
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise InputError(f"agent locks: cannot create {self.directory}: {exc.strerror} "
                             "(set FLEET_HOME to a writable directory)") from None
        text = f"{os.getpid()} {self.holder} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode()
        try:
            for key in sorted(self.agents):
                self._lock_one(key, text)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Drop every lock held (the files stay, emptied so they name no process that let go)."""
        fds, self._fds = self._fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    def _lock_one(self, key: str, text: bytes) -> None:
        path = os.path.join(self.directory, lock_name(key))
        flags = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        writable = True
        try:
            fd = os.open(path, flags | os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:  # another user's file in a shared FLEET_HOME: a flock needs no write access
            writable = False
            try:
                fd = os.open(path, flags | os.O_RDONLY)
            except OSError as exc:
                raise InputError(f"agent lock {path}: cannot open: {exc.strerror}; nothing was sent") from None
        except OSError as exc:
            raise InputError(f"agent lock {path}: cannot open: {exc.strerror}; nothing was sent") from None
        lock_regular(fd, f"agent lock {path}: not a regular file; nothing was sent",
                     lambda: f"{self.agents[key]} ({key}) is in use by {_holder(fd)}; nothing was sent "
                             "(wait for that run to end, or stop it)")
        self._fds.append(fd)
        if writable:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, text, 0)


def _holder(fd: int) -> str:
    """``pid N (fleet start run …)`` of the process holding ``fd``'s lock, as well as can be told."""
    pid = None
    for _ in range(20):  # the holder writes its line right after taking the lock
        pid = flock_holder(fd)
        with contextlib.suppress(OSError):
            words = os.pread(fd, _HOLDER_BYTES, 0).decode("utf-8", "replace").split(maxsplit=1)
            if words and words[0].isdigit() and (pid is None or int(words[0]) == pid):
                said = " ".join(words[1].split()) if len(words) > 1 else ""
                rest = "".join(c if c.isprintable() else "?" for c in said)
                return f"pid {int(words[0])}" + (f" ({rest})" if rest else "")
        time.sleep(0.01)
    return f"pid {pid}" if pid is not None else "another process (its pid is not recorded)"
