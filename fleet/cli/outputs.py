"""Where the CLI writes its reports: checked before anything is sent, written safely after.

Regular files are replaced atomically (:func:`fleet.report.write_atomic`) with the mode the
umask allows. fleet never follows a symbolic link to an output and never changes the mode of
anything but the file it creates. Other existing files: ``/dev/stdout``, ``/dev/stderr`` and
``/dev/fd/N`` (bash's ``>(…)``) write to the descriptor fleet already holds; a character
device such as ``/dev/null`` and a FIFO are written in place (never chmod-ed), the FIFO opened
without blocking, so one with no reader is an error rather than a hang; a socket, a block
device or a directory is refused before anything is sent (exit 5). The journal must be a
regular file.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys

from fleet.errors import InputError
from fleet.report import write_atomic

#: Names of descriptors fleet already holds: written through the descriptor, never opened.
STREAMS = {"/dev/stdout": 1, "/dev/stderr": 2}
_FD_PATH = re.compile(r"/(?:dev|proc/self)/fd/([0-9]{1,6})")


def _descriptor(path: str) -> int | None:
    """The descriptor ``path`` names (``/dev/stdout``, ``/dev/fd/63``), if it names one that is open."""
    match = _FD_PATH.fullmatch(path)
    fd = STREAMS.get(path) if match is None else int(match.group(1))
    if fd is None:
        return None
    try:
        os.fstat(fd)
    except OSError:
        return None
    return fd


def prepare_output(flag: str, path: str) -> None:
    """Before anything is sent: make sure ``path`` can be written (its directory is created).

    Raises :class:`InputError` naming ``flag`` when it cannot, or when ``path`` is a symbolic
    link, a FIFO, a socket or a directory (the journal must moreover be a regular file).
    """
    if flag != "--journal" and _descriptor(path) is not None:
        return
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot check it: {exc.strerror}") from None
    if info is not None:
        _refuse_special(flag, path, info.st_mode)
        if not stat.S_ISREG(info.st_mode):
            return
    directory = os.path.dirname(path) or "."
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot create its directory: {exc.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: directory {directory} is not writable")


def _refuse_special(flag: str, path: str, mode: int) -> None:
    if stat.S_ISLNK(mode):
        raise InputError(f"{flag} {path}: is a symbolic link; fleet does not follow links to its outputs "
                         "(give the real path)")
    if stat.S_ISDIR(mode):
        raise InputError(f"{flag} {path}: is a directory")
    if stat.S_ISREG(mode):
        return
    if (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)) and flag != "--journal":
        return
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else \
        "not a regular file"
    hint = " (use --no-journal to keep none)" if flag == "--journal" else ""
    raise InputError(f"{flag} {path}: is {kind}; fleet writes only regular files{hint}")


def write_output(path: str, data: str | bytes) -> None:
    """Write ``data`` to ``path``: through a descriptor fleet holds, in place for a character
    device or a FIFO, atomically otherwise.

    Raises ``OSError`` (``ELOOP``, ``ENXIO``, ``EINVAL``) rather than follow a symbolic link,
    block on a FIFO without a reader, or write into anything else.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd = _descriptor(path)
    if fd is not None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        _write_all(fd, payload)
        return
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is None or stat.S_ISREG(info.st_mode):
        write_atomic(path, payload)
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "a FIFO with no reader", path) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
            raise OSError(errno.EINVAL, "not a regular file, a character device or a FIFO", path)
        os.set_blocking(fd, True)
        _write_all(fd, payload)
    finally:
        os.close(fd)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view):]
