"""``group_vars/`` and ``host_vars/`` beside an inventory, found as Ansible's ``host_group_vars`` finds them.

For a source file the directory that holds it is searched, for a source directory the
directory itself; host lists have none. For an entity ``name`` (a group or a host) the
candidates are ``name``, ``name.yml``, ``name.yaml`` and ``name.json``: a file is read, a
directory contributes every file beneath it (sorted, recursively; hidden files, names ending in
``~`` and extensions other than those three are skipped). Each file is a YAML mapping; later
files win. Only fleet's variables are kept, validated with their ``file:line``; a misspelt
``obshell_*`` there is an error as anywhere else. Empty files are ignored, as Ansible does.
"""

from __future__ import annotations

import os

import yaml

from fleet.errors import InventoryError
from fleet.inventory.variables import FleetVariables
from fleet.inventory.yamlload import NodeReader, compose_file
from fleet.inventory.yamlsource import read_vars_mapping

EXTENSIONS = (".yml", ".yaml", ".json")


def _dir_files(path: str) -> list[str]:
    found = []
    for name in sorted(os.listdir(path)):
        if name.startswith(".") or name.endswith("~"):
            continue
        full = os.path.join(path, name)
        ext = os.path.splitext(name)[1]
        if os.path.isdir(full) and not ext:
            found.extend(_dir_files(full))
        elif os.path.isfile(full) and (not ext or ext in EXTENSIONS):
            found.append(full)
    return found


def find_vars_files(directory: str, name: str) -> list[str]:
    """The files that hold ``name``'s variables under ``directory``, in the order they apply."""
    found = []
    for ext in ("", *EXTENSIONS):
        full = os.path.join(directory, name + ext)
        if os.path.isdir(full):
            found.extend(_dir_files(full))
        elif os.path.isfile(full):
            found.append(full)
    return found


def read_vars_file(path: str) -> FleetVariables:
    """fleet's variables in one group_vars/host_vars file."""
    root = compose_file(path, what="variables file")
    reader = NodeReader(path)
    if root is None or reader.is_null(root):
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise InventoryError(f"a variables file must be a mapping of name: value, not {reader.describe(root)}",
                             path, 1)
    return read_vars_mapping(reader, root, "variables")


class VarsDirectory:
    """``group_vars/`` or ``host_vars/`` of one inventory source (it may not exist)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.exists = os.path.isdir(directory)
        self._cache: dict[str, FleetVariables] = {}

    def __call__(self, name: str) -> FleetVariables:
        if not self.exists or name.startswith(os.sep):
            return {}
        cached = self._cache.get(name)
        if cached is None:
            cached = {}
            for path in find_vars_files(self.directory, name):
                cached.update(read_vars_file(path))
            self._cache[name] = cached
        return cached

    def preload(self) -> None:
        """Read every file now, so a typo in a file for a group with no hosts is still found."""
        if not self.exists:
            return
        for entry in sorted(os.listdir(self.directory)):
            if entry.startswith(".") or entry.endswith("~"):
                continue
            stem, ext = os.path.splitext(entry)
            if ext in EXTENSIONS:
                self(stem)
            elif not ext:
                self(entry)
