"""Each host's agent password, from an environment variable or a ``chmod 600`` file.

A host's password comes from ``obshell_password_file`` when that is set, otherwise from the
environment variable named by ``obshell_password_env`` (default ``OBSHELL_AGENT_PASSWORD``).
Each distinct source is read once, however many hosts share it. Messages name the variable or
the file and the host's ``file:line``, never the password.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping

from fleet.errors import InputError
from fleet.models import HostSpec, Secret
from fleet.regularfile import open_regular

MAX_PASSWORD_FILE_BYTES = 64 * 1024
#: Shorter passwords are refused: fleet masks secrets in its outputs where they occur as whole
#: tokens, and a password of a few characters ("0.1", "1234") would be masked in ordinary
#: values (stage numbers, addresses), which both garbles them and reveals the password.
MIN_MASKABLE_CHARS = 6


def read_password_file(path: str) -> str:
    """The password in ``path``: one line, trailing newline removed.

    Raises :class:`InputError` with the reason (without the host) when the file is missing,
    not a regular file, readable or writable by group or others, empty, or not one line.
    """
    try:
        with open_regular(path) as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError(f"password file {path} is not a regular file")
            if info.st_mode & 0o077:
                raise InputError(f"password file {path} is accessible by group or others; chmod 600 {path}")
            data = fh.read(MAX_PASSWORD_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read password file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_PASSWORD_FILE_BYTES:
        raise InputError(f"password file {path} is too large to hold a password")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"password file {path} is not UTF-8 text") from None
    password = text.rstrip("\r\n")
    if not password:
        raise InputError(f"password file {path} is empty")
    if "\n" in password or "\r" in password:
        raise InputError(f"password file {path} must hold the password on one line")
    return password


def resolve_passwords(
    hosts: Iterable[HostSpec],
    environ: Mapping[str, str],
    *,
    read_file: Callable[[str], str] = read_password_file,
) -> dict[str, Secret]:
    """``host.key`` → the host's agent password.

    ``read_file(path)`` returns a password file's content or raises :class:`InputError` with
    the reason. Raises :class:`InputError` at the first host whose password is unavailable,
    prefixed with the host's ``file:line``.
    """
    cache: dict[tuple[str, str], Secret] = {}
    passwords: dict[str, Secret] = {}
    for host in hosts:
        source = ("file", host.password_file) if host.password_file is not None else ("env", host.password_env)
        secret = cache.get(source)
        if secret is None:
            try:
                secret = cache[source] = Secret(_lookup(source, environ, read_file))
            except (InputError, OSError) as exc:
                reason = exc if isinstance(exc, InputError) else f"cannot read {source[1]}: {exc.strerror or exc}"
                where = f"{host.source}: " if host.source else ""
                raise InputError(f"{where}host {host.name!r} needs its agent password: {reason}") from None
        passwords[host.key] = secret
    return passwords


def _lookup(source: tuple[str, str], environ: Mapping[str, str], read_file: Callable[[str], str]) -> str:
    kind, name = source
    if kind == "file":
        return read_file(name)
    value = environ.get(name)
    if value is None:
        raise InputError(f"environment variable {name} is not set (or set obshell_password_file)")
    if not value:
        raise InputError(f"environment variable {name} is empty")
    return value


def check_maskable(hosts: Iterable[HostSpec], passwords: Mapping[str, Secret]) -> None:
    """Refuse (:class:`InputError`, exit 5) an agent password too short to mask safely in outputs.

    Names the first host using it (``file:line``) and the length needed, never the password.
    """
    for host in hosts:
        secret = passwords.get(host.key)
        if secret is not None and len(secret.reveal()) < MIN_MASKABLE_CHARS:
            where = f"{host.source}: " if host.source else ""
            source = host.password_file or host.password_env
            raise InputError(f"{where}host {host.name!r}: the agent password from {source} is shorter than "
                             f"{MIN_MASKABLE_CHARS} characters, too short for fleet to mask safely in its "
                             "outputs; use a longer agent password")
