"""``-e/--extra-vars``: variables that win over every inventory, as Ansible's ``-e`` does.

Each ``-e`` is one of (later ones win, as in Ansible):

* ``@FILE`` — a YAML or JSON file holding a mapping (errors point at ``FILE:line``);
* ``{…}`` — an inline YAML/JSON mapping;
* ``key=value [key=value …]`` — shell-quoted pairs; the values are text (``obshell_port=2999``
  and ``obshell_verify_tls=false`` are read as Ansible's modules would read them).

Only fleet's variables are kept; an unknown ``obshell_*`` is an error as in an inventory.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import yaml

from fleet.errors import InputError
from fleet.inventory.variables import FleetVariables, Origin, convert, wanted
from fleet.inventory.yamlload import NodeReader, compose_file, compose_text, quote
from fleet.inventory.yamlsource import read_vars_mapping


def read_extra_vars(options: Sequence[str]) -> FleetVariables:
    """The fleet variables given by ``-e`` options, the later ones winning."""
    found: FleetVariables = {}
    for option in options:
        found.update(_one(option))
    return found


def _one(option: str) -> FleetVariables:
    text = option.strip()
    if text.startswith("@"):
        path = text[1:]
        return _mapping(compose_file(path, what="extra-vars file"), path)
    if text.startswith(("{", "[")):
        return _mapping(compose_text(text, "-e"), "-e")
    if text.startswith(("/", ".")):
        raise InputError(f"-e {quote(text)}: to read variables from a file, write -e @{text}")
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise InputError(f"-e {quote(text)}: {exc}") from None
    if not tokens:
        raise InputError("-e needs key=value, @FILE or a YAML/JSON mapping")
    found: FleetVariables = {}
    origin = Origin("-e")
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise InputError(f"-e {quote(token)}: expected key=value, @FILE or a YAML/JSON mapping")
        if wanted(key, origin):
            found[key] = convert(key, value, origin, text=True)
    return found


def _mapping(root: yaml.Node | None, path: str) -> FleetVariables:
    reader = NodeReader(path)
    if root is None or reader.is_null(root):
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise reader.fail(f"extra variables must be a mapping of name: value, not {reader.describe(root)}", root)
    return read_vars_mapping(reader, root, "extra variables")

