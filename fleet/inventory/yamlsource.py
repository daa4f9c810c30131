"""YAML inventories (and JSON ones, YAML's subset) read as Ansible's ``yaml`` plugin reads them.

Top-level keys are groups (usually just ``all``), each with ``hosts``, ``vars`` and
``children`` nested to any depth; a section may also be a single name. A host may appear in
several groups and is one host; when one host or group is defined twice, the later definition
of a variable wins.

fleet is stricter than Ansible where Ansible only warns: unknown keys in a group, sections of
the wrong type, duplicate keys, non-string keys, hosts whose names contain whitespace or
control characters, group cycles and groups nested more than ``MAX_GROUP_DEPTH`` deep are
errors. Each error is an :class:`~fleet.errors.InventoryError` pointing at ``file:line``.
"""

from __future__ import annotations

import difflib
import unicodedata

import yaml

from fleet.errors import InventoryError
from fleet.inventory.data import MAX_GROUP_DEPTH, Group, InventoryData
from fleet.inventory.ranges import RangeError, expand_host_key
from fleet.inventory.variables import FleetVariables, Origin, convert, wanted
from fleet.inventory.yamlload import NodeReader, line_of, quote

_SECTIONS = ("hosts", "vars", "children")


def looks_like_yaml_inventory(root: yaml.Node | None) -> bool:
    """Whether a composed document is a YAML inventory (a mapping), as opposed to INI text."""
    return isinstance(root, yaml.MappingNode)


def read_yaml_inventory(path: str, root: yaml.Node | None, data: InventoryData) -> None:
    """Add the YAML inventory ``root`` (composed from ``path``) to ``data``."""
    try:
        _Builder(path, data).build(root)
    except RecursionError:
        raise InventoryError("YAML nesting is too deep", path) from None


def check_name(reader: NodeReader, name: str, what: str, line: int) -> None:
    """Refuse empty names and names with whitespace, control or invisible characters."""
    problem = name_problem(name, what)
    if problem:
        raise reader.fail(problem, line)


def name_problem(name: str, what: str) -> str | None:
    """Why ``name`` cannot be a host or group name, or ``None``."""
    if not name:
        return f"empty {what} name"
    for ch in name:
        category = unicodedata.category(ch)
        if category[0] in "CZ" and category not in ("Cn", "Co"):
            return (f"{what} name {quote(name)} contains whitespace or a control character "
                    f"(U+{ord(ch):04X})")
    return None


def read_vars_mapping(reader: NodeReader, node: yaml.Node, what: str, group: Group | None = None) -> FleetVariables:
    """fleet's variables of a YAML ``vars`` mapping, validated; every other variable skipped."""
    if reader.is_null(node):
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise reader.fail(f"{what} must be a mapping, not {reader.describe(node)}", node)
    found: FleetVariables = {}
    for entry in reader.entries(node, what):
        origin = Origin(reader.path, entry.line)
        if entry.key == "ansible_group_priority" and group is not None:
            value = reader.scalar(entry.value, "ansible_group_priority")
            if not isinstance(value, int) or isinstance(value, bool):
                raise reader.fail("ansible_group_priority must be an integer", entry.line)
            group.priority = value
        elif wanted(entry.key, origin):
            found[entry.key] = convert(entry.key, reader.scalar(entry.value, entry.key), origin)
    return found


class _Builder:
    def __init__(self, path: str, data: InventoryData) -> None:
        self.path = path
        self.reader = NodeReader(path)
        self.data = data

    def origin(self, line: int) -> Origin:
        return Origin(self.path, line)

    def build(self, root: yaml.Node | None) -> None:
        reader = self.reader
        if root is None or reader.is_null(root):
            raise InventoryError("inventory is empty; expected 'all:' with hosts", self.path, 1)
        if not isinstance(root, yaml.MappingNode):
            raise reader.fail(f"an inventory must be a mapping of groups (usually 'all:'), "
                              f"not {reader.describe(root)}", root)
        for entry in reader.entries(root, "the inventory"):
            if entry.key == "plugin":
                raise reader.fail("this is an inventory plugin configuration; fleet reads static YAML, INI, "
                                  "script and host-list inventories only", entry.line)
            if entry.key in _SECTIONS:
                raise reader.fail(f"top-level key {entry.key!r} must sit inside a group; "
                                  f"start the file with 'all:'", entry.line)
            self._group(entry.key, entry.line, entry.value, 0 if entry.key == "all" else 1)

    def _group(self, name: str, line: int, node: yaml.Node, depth: int) -> Group:
        reader = self.reader
        check_name(reader, name, "group", line)
        if depth > MAX_GROUP_DEPTH:
            raise reader.fail(f"groups are nested more than {MAX_GROUP_DEPTH} deep at {quote(name)}", line)
        group = self.data.group(name, self.origin(line))
        if reader.is_null(node):
            return group
        if not isinstance(node, yaml.MappingNode):
            raise reader.fail(f"group {quote(name)} must be a mapping of hosts/vars/children, "
                              f"not {reader.describe(node)}", node)
        for entry in reader.entries(node, f"group {quote(name)}"):
            if entry.key not in _SECTIONS:
                close = difflib.get_close_matches(entry.key, _SECTIONS, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else " (expected hosts, vars or children)"
                raise reader.fail(f"unknown key {quote(entry.key)} in group {quote(name)}{hint}", entry.line)
            if entry.key == "vars":
                group.variables.update(read_vars_mapping(reader, entry.value, f"vars of group {quote(name)}", group))
            elif entry.key == "children":
                for child_name, child_line, child_node in self._section(name, entry.key, entry.value):
                    check_name(reader, child_name, "group", child_line)
                    self.data.add_child(name, child_name, self.origin(child_line))
                    self._group(child_name, child_line, child_node, depth + 1)
            else:
                for key, key_line, host_node in self._section(name, entry.key, entry.value):
                    self._hosts(group, key, key_line, host_node)
        return group

    def _section(self, group: str, section: str, node: yaml.Node) -> list[tuple[str, int, yaml.Node]]:
        reader = self.reader
        if reader.is_null(node):
            return []
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            null = yaml.ScalarNode("tag:yaml.org,2002:null", "", node.start_mark, node.end_mark)
            return [(str(node.value), line_of(node), null)]
        if not isinstance(node, yaml.MappingNode):
            raise reader.fail(f"{section!r} of group {quote(group)} must be a mapping, "
                              f"not {reader.describe(node)}", node)
        return [(e.key, e.line, e.value) for e in reader.entries(node, f"{section} of group {quote(group)}")]

    def _hosts(self, group: Group, key: str, line: int, node: yaml.Node) -> None:
        reader = self.reader
        try:
            names, _ssh_port = expand_host_key(key)
        except RangeError as exc:
            raise reader.fail(f"invalid host range in {quote(key)}: {exc}", line) from None
        if not (reader.is_null(node) or isinstance(node, yaml.MappingNode)):
            raise reader.fail(f"host {quote(key)} must map to its variables or to nothing, "
                              f"not {reader.describe(node)}", node)
        variables = read_vars_mapping(reader, node, f"vars of host {quote(key)}") if isinstance(
            node, yaml.MappingNode) else {}
        for name in names:
            check_name(reader, name, "host", line)
            host = self.data.add_host(name, group.name, self.origin(line))
            host.variables.update(variables)
