"""Where the CLI writes its reports: checked before anything is sent, written safely after.

Regular files are replaced atomically (:func:`fleet.report.write_atomic`); anything else that
already exists — ``/dev/null``, ``/dev/stdout``, a FIFO — is written in place, because renaming
a temporary file over it would replace the device itself.
"""

from __future__ import annotations

import os
import stat

from fleet.errors import InputError
from fleet.report import write_atomic


def prepare_output(flag: str, path: str) -> None:
    """Before anything is sent: make sure ``path`` can be written (its directory is created).

    Raises :class:`InputError` naming ``flag`` when it cannot.
    """
    if _is_special(path):
        return
    directory = os.path.dirname(path) or "."
    if os.path.isdir(path):
        raise InputError(f"{flag} {path}: is a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot create its directory: {exc.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: directory {directory} is not writable")


def write_output(path: str, data: str | bytes) -> None:
    """Write ``data`` to ``path``: atomically for a regular file, in place for a device or FIFO."""
    if _is_special(path):
        payload = data.encode("utf-8") if isinstance(data, str) else data
        with open(path, "wb") as handle:
            handle.write(payload)
        return
    write_atomic(path, data)


def _is_special(path: str) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path)
    except OSError:
        return False
