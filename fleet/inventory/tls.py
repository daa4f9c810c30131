"""TLS files of the selected hosts, checked before anything is sent.

``obshell_ca_file`` must hold at least one PEM certificate; ``obshell_client_cert`` (with
``obshell_client_key``, or a key in the same file) must load as a certificate chain whose key
matches. Each distinct file (or pair) is read once. A failure is an
:class:`~fleet.errors.InventoryError` naming the file and the inventory line that set it.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Iterable, Mapping

from fleet.errors import InventoryError
from fleet.inventory.variables import Origin
from fleet.models import HostSpec


def _no_password() -> bytes:
    raise ValueError("the key is encrypted")


def _load_ca(path: str) -> None:
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)


def _load_pair(cert: str, key: str | None) -> None:
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key, password=_no_password)


def check_tls_files(hosts: Iterable[HostSpec], origins: Mapping[str, Mapping[str, Origin]]) -> None:
    """Refuse a selection whose CA bundle or client certificate/key is missing or does not load."""
    checked: set[tuple[str, str | None]] = set()
    for host in hosts:
        where = origins.get(host.name, {})
        tls = host.tls
        if tls.ca_file and (tls.ca_file, None) not in checked:
            checked.add((tls.ca_file, None))
            _check(functools.partial(_load_ca, tls.ca_file), "obshell_ca_file", tls.ca_file, where, host)
        if tls.client_key and not tls.client_cert:
            origin = where.get("obshell_client_key")
            raise InventoryError(f"host {host.name!r} has obshell_client_key but no obshell_client_cert",
                                 *(origin or Origin(host.source)))
        if tls.client_cert and (tls.client_cert, tls.client_key) not in checked:
            checked.add((tls.client_cert, tls.client_key))
            _check(functools.partial(_load_pair, tls.client_cert, tls.client_key), "obshell_client_cert",
                   tls.client_cert, where, host, key_file=tls.client_key)


def _check(load: Callable[[], None], variable: str, path: str, where: Mapping[str, Origin], host: HostSpec,
           key_file: str | None = None) -> None:
    try:
        load()
    except FileNotFoundError as exc:
        missing = exc.filename if isinstance(exc.filename, str) else path
        _fail(f"{variable} {path!r} of host {host.name!r}: {missing} does not exist", variable, where, host)
    except OSError as exc:
        reason = (exc.strerror or str(exc)) if not isinstance(exc, ssl.SSLError) else (exc.reason or str(exc))
        files = f"{path!r}" + (f" with key {key_file!r}" if key_file else "")
        _fail(f"{variable} {files} of host {host.name!r} does not load: {reason}", variable, where, host)
    except ValueError as exc:
        _fail(f"{variable} {path!r} of host {host.name!r} does not load: {exc}", variable, where, host)


def _fail(message: str, variable: str, where: Mapping[str, Origin], host: HostSpec) -> None:
    origin = where.get(variable)
    if origin is None:
        file, _, line = host.source.rpartition(":")
        raise InventoryError(message, file or host.source, int(line) if line.isdigit() else None)
    raise InventoryError(message, origin.file, origin.line)
