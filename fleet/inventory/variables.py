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
``obshell_password``: passwords never live in inventories. An ``ansible_*`` variable that is
not one Ansible knows but is close to ``ansible_host`` (``ansible_hots``) is an error too: fleet
would otherwise connect to the host's name. Other variables (``ansible_port``, ``ansible_user``,
…) belong to other tools and are ignored without being read. Values are never templated: a
``{{ … }}`` in one of these variables is an error.

Values written as text (INI without Python literal syntax, ``-e key=value``) may spell
booleans as Ansible does (``true``/``false``/``yes``/``no``); YAML and JSON need real booleans.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from fleet.errors import InventoryError
from fleet.inventory.addresses import AddressError, check_address
from fleet.inventory.yamlload import quote
from fleet.models import DEFAULT_PASSWORD_ENV, DEFAULT_PORT, TlsSpec


class Origin(NamedTuple):
    """Where a value was written: a file and its 1-based line (``None`` when it has no lines)."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def fail(self, message: str) -> InventoryError:
        return InventoryError(message, self.file, self.line)


class Value(NamedTuple):
    """A validated variable and where it was set."""

    value: Any
    origin: Origin


#: variable name → its validated value and origin
FleetVariables = dict[str, Value]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = frozenset({"true", "yes", "on", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "off", "0", "n", "f"})


def _text(key: str, value: object, text: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty string")
    if "{{" in value or "{%" in value:
        raise ValueError(f"{key} is a Jinja template; fleet does not evaluate templates, write the value out")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"{key} contains a control character")
    return value


def _port(key: str, value: object, text: bool) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        shown = quote(str(value)) if not isinstance(value, int) or isinstance(value, bool) else str(value)
        raise ValueError(f"obshell_port must be a port number 1..65535, not {shown}")
    return value


def _scheme(key: str, value: object, text: bool) -> str:
    if value not in ("http", "https"):
        raise ValueError(f"obshell_scheme must be 'http' or 'https', not {quote(str(value))}")
    return str(value)


def _bool(key: str, value: object, text: bool) -> bool:
    if text and isinstance(value, str):
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false (unquoted), not {quote(str(value))}")
    return value


def _env_name(key: str, value: object, text: bool) -> str:
    name = _text(key, value, text)
    if not _ENV_NAME.match(name):
        raise ValueError(f"obshell_password_env must be an environment variable name, not {quote(name)}")
    return name


def _address(key: str, value: object, text: bool) -> str:
    address = _text(key, value, text).strip()
    try:
        return check_address(address)
    except AddressError as exc:
        raise ValueError(f"ansible_host {exc}") from None


_CONVERTERS: dict[str, Callable[[str, object, bool], Any]] = {
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
KNOWN_VARIABLES = tuple(_CONVERTERS)

#: ``ansible_*`` names Ansible itself reads (connection, privilege escalation, inventory,
#: interpreters); close to ``ansible_host`` but deliberate, so never a typo.
ANSIBLE_VARIABLES = frozenset({
    "ansible_host", "ansible_port", "ansible_user", "ansible_password", "ansible_connection",
    "ansible_ssh_host", "ansible_ssh_port", "ansible_ssh_user", "ansible_ssh_pass", "ansible_ssh_private_key_file",
    "ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_sftp_extra_args", "ansible_scp_extra_args",
    "ansible_ssh_pipelining", "ansible_ssh_executable", "ansible_private_key_file", "ansible_shell_type",
    "ansible_shell_executable", "ansible_python_interpreter", "ansible_become", "ansible_become_method",
    "ansible_become_user", "ansible_become_password", "ansible_become_pass", "ansible_become_exe",
    "ansible_become_flags", "ansible_group_priority", "ansible_network_os", "ansible_hostname",
    "ansible_host_key_checking", "ansible_timeout", "ansible_winrm_transport", "ansible_winrm_scheme",
    "ansible_winrm_server_cert_validation", "ansible_facts", "ansible_limit", "ansible_check_mode",
})


def wanted(key: str, origin: Origin) -> bool:
    """Whether ``key`` is one of fleet's variables; raise for a misspelling of one.

    ``obshell_password`` and unknown ``obshell*`` names are errors; so is an ``ansible_*``
    name Ansible does not know that is close to one fleet honours (``ansible_hots``).
    """
    if key in _CONVERTERS:
        return True
    if key == "obshell_password":
        raise origin.fail("obshell_password is refused: passwords never live in inventories; set "
                          "obshell_password_env (an environment variable name) or obshell_password_file")
    if key.lower().startswith("obshell"):
        close = difflib.get_close_matches(key, KNOWN_VARIABLES, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "known: " + ", ".join(KNOWN_VARIABLES[:-1])
        raise origin.fail(f"unknown variable {quote(key)} ({hint})")
    if key.lower().startswith("ansible") and key not in ANSIBLE_VARIABLES:
        honoured = [k for k in KNOWN_VARIABLES if k.startswith("ansible_")]
        close = difflib.get_close_matches(key.lower(), honoured, n=1, cutoff=0.8)
        if close:
            raise origin.fail(f"unknown variable {quote(key)} (did you mean {close[0]}? fleet would connect "
                              "to the host's name instead)")
    return False


def convert(key: str, value: object, origin: Origin, *, text: bool = False) -> Value:
    """Validate ``value`` of fleet variable ``key``; an :class:`InventoryError` at ``origin`` if bad."""
    try:
        return Value(_CONVERTERS[key](key, value, text), origin)
    except ValueError as exc:
        raise origin.fail(str(exc)) from None


def read_variables(items: Any, origin_of: Callable[[str], Origin], *, text: bool = False) -> FleetVariables:
    """fleet's variables among ``items`` (``(key, value)`` pairs), validated; all others skipped."""
    found: FleetVariables = {}
    for key, value in items:
        origin = origin_of(key)
        if not isinstance(key, str):
            raise origin.fail(f"variable name {quote(str(key))} is not a string")
        if wanted(key, origin):
            found[key] = convert(key, value, origin, text=text)
    return found


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


DEFAULTS: dict[str, Any] = {
    "ansible_host": None, "obshell_port": DEFAULT_PORT, "obshell_scheme": "http", "obshell_ca_file": None,
    "obshell_client_cert": None, "obshell_client_key": None, "obshell_verify_tls": True,
    "obshell_password_env": DEFAULT_PASSWORD_ENV, "obshell_password_file": None,
}
