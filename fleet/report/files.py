"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The data goes to a temporary file in the target's directory, is fsynced, renamed over the
target, and the directory is fsynced so the rename survives a crash. These calls block; from
the event loop, run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

StrPath = str | os.PathLike[str]


def write_atomic(path: StrPath, data: bytes | str, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` (str is written as UTF-8) atomically, with permissions ``mode``
    (default: what the process umask allows of 0666, as any new file).

    On any failure the temporary file is removed and the previous content of ``path`` is left
    untouched. A symbolic link at ``path`` is replaced, never followed.
    """
    if mode is None:
        mode = 0o666 & ~current_umask()
    payload = data.encode("utf-8") if isinstance(data, str) else data
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def write_json_atomic(path: StrPath, doc: Any) -> None:
    """Write ``doc`` as indented UTF-8 JSON (non-ASCII kept readable) with a final newline."""
    write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def current_umask() -> int:
    """The process umask (read from /proc where possible; else set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable; a no-op where directories cannot be opened (Windows)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
