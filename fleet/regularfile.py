"""Open an input file only if it is a regular file, without ever blocking on a FIFO.

Every file fleet reads on the user's word (inventories, ``-e @FILE``, ``--limit @FILE``,
``--config``, ``obshell_password_file``, the summary or journal ``fleet dag`` and ``fleet report``
read) is opened through :func:`open_regular`: the open is
non-blocking (a FIFO without a writer would otherwise hang it for ever) and the type is checked
on the descriptor it opened (``fstat``), so a path swapped between a check and the open cannot
slip a FIFO, a device or a directory in. The caller still bounds what it reads.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


@contextmanager
def open_regular(path: str) -> Iterator[BinaryIO]:
    """``open(path, "rb")`` for a regular file; ``OSError`` (``EINVAL``, its ``strerror`` saying
    what the path is instead, e.g. "is a FIFO, not a regular file") for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"is {_kind(mode)}, not a regular file", path)
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh
