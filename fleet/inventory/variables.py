"""fleet's inventory variables: each validated where it is written, then merged into a HostSpec.

==========================  ====================================================  ==========
variable                    value                                                 default
==========================  ====================================================  ==========
``obshell_port``            integer 1..65535 (a string of digits is accepted)      2886
``obshell_scheme``          ``http`` or ``https``                                  ``http``
``obshell_ca_file``         path of a CA bundle to verify the agent with           none
``obshell_client_cert``     path of a client certificate (PEM)                     none
``obshell_client_key``      path of the client certificate's key                   none
``obshell_verify_tls``      ``true``/``false`` (a YAML boolean, not a string)      ``true``
``obshell_password_env``    name of the environment variable with the password     ``OBSHELL_AGENT_PASSWORD``
``obshell_password_file``   path of a ``chmod 600`` file with the password        none (wins over the env var)
``ansible_host``            address to connect to when the host key is an alias    the key
==========================  ====================================================  ==========

Any other ``obshell*`` variable is an error (with a "did you mean" hint), and so is
``obshell_password``: passwords never live in inventories. Other variables (``ansible_port``,
``ansible_user``, …) belong to other tools and are ignored without being read. Values are never
templated: a ``{{ … }}`` in one of these variables is an error.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from fleet.inventory.yamlload import Entry, NodeReader, quote
from fleet.models import DEFAULT_PASSWORD_ENV, DEFAULT_PORT, TlsSpec

#: variable name → (value, line where it was set)
FleetVariables = dict[str, tuple[object, int]]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _text(reader: NodeReader, entry: Entry) -> str:
    value = reader.scalar(entry.value, entry.key)
    if not isinstance(value, str) or not value.strip():
        raise reader.fail(f"{entry.key} must be a non-empty string", entry.line)
    if "{{" in value or "{%" in value:
        raise reader.fail(f"{entry.key} is a Jinja template; fleet does not evaluate templates, "
                          "write the value out", entry.line)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise reader.fail(f"{entry.key} contains a control character", entry.line)
    return value


def _port(reader: NodeReader, entry: Entry) -> int:
    value = reader.scalar(entry.value, entry.key)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        shown = quote(str(value)) if not isinstance(value, int) or isinstance(value, bool) else str(value)
        raise reader.fail(f"obshell_port must be a port number 1..65535, not {shown}", entry.line)
    return value


def _scheme(reader: NodeReader, entry: Entry) -> str:
    value = reader.scalar(entry.value, entry.key)
    if value not in ("http", "https"):
        raise reader.fail(f"obshell_scheme must be 'http' or 'https', not {quote(str(value))}", entry.line)
    return str(value)


def _bool(reader: NodeReader, entry: Entry) -> bool:
    value = reader.scalar(entry.value, entry.key)
    if not isinstance(value, bool):
        raise reader.fail(f"{entry.key} must be true or false (unquoted), not {quote(str(value))}", entry.line)
    return value


def _env_name(reader: NodeReader, entry: Entry) -> str:
    value = _text(reader, entry)
    if not _ENV_NAME.match(value):
        raise reader.fail(f"obshell_password_env must be an environment variable name, not {quote(value)}",
                          entry.line)
    return value


def _address(reader: NodeReader, entry: Entry) -> str:
    value = _text(reader, entry).strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if not value or any(ch.isspace() for ch in value):
        raise reader.fail(f"ansible_host must be one address, not {quote(value)}", entry.line)
    return value


_READERS: dict[str, Callable[[NodeReader, Entry], Any]] = {
    "obshell_port": _port,
    "obshell_scheme": _scheme,
    "obshell_ca_file": _text,
    "obshell_client_cert": _text,
    "obshell_client_key": _text,
    "obshell_verify_tls": _bool,
    "obshell_password_env": _env_name,
    "obshell_password_file": _text,
    "ansible_host": _address,
}
KNOWN_VARIABLES = tuple(_READERS)


def read_variable(reader: NodeReader, entry: Entry, found: FleetVariables) -> None:
    """Validate ``entry`` into ``found`` if it is one of fleet's variables; skip any other."""
    key = entry.key
    if key in _READERS:
        found[key] = (_READERS[key](reader, entry), entry.line)
    elif key == "obshell_password":
        raise reader.fail("obshell_password is refused: passwords never live in inventories; set "
                          "obshell_password_env (an environment variable name) or obshell_password_file",
                          entry.line)
    elif key.lower().startswith("obshell"):
        close = difflib.get_close_matches(key, KNOWN_VARIABLES, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "known: " + ", ".join(KNOWN_VARIABLES[:-1])
        raise reader.fail(f"unknown variable {quote(key)} ({hint})", entry.line)


def host_spec_fields(name: str, merged: dict[str, Any]) -> dict[str, Any]:
    """HostSpec keyword arguments for host ``name`` from its merged variables."""
    return {
        "name": name,
        "address": merged.get("ansible_host", name),
        "port": merged.get("obshell_port", DEFAULT_PORT),
        "scheme": merged.get("obshell_scheme", "http"),
        "tls": TlsSpec(
            ca_file=merged.get("obshell_ca_file"),
            client_cert=merged.get("obshell_client_cert"),
            client_key=merged.get("obshell_client_key"),
            verify=merged.get("obshell_verify_tls", True),
        ),
        "password_env": merged.get("obshell_password_env", DEFAULT_PASSWORD_ENV),
        "password_file": merged.get("obshell_password_file"),
    }
