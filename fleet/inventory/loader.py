"""``load_inventory``: an Ansible-style YAML inventory into an :class:`Inventory`.

The file is read as Ansible's ``yaml`` inventory plugin reads it: top-level keys are groups
(usually just ``all``), each with ``hosts``, ``vars`` and ``children`` nested to any depth; a
section may also be a single name. A host may appear in several groups and is one host.

Variables merge as Ansible merges them: the host's groups are ordered by (depth,
``ansible_group_priority``, name) — ``all`` first, deeper groups later, alphabetical among
equals — each later group overriding earlier ones, and host variables override every group.
When one host or group is defined twice, the later definition of a variable wins.

fleet is stricter than Ansible where Ansible only warns: unknown keys in a group, sections of
the wrong type, duplicate keys, non-string keys, hosts whose names contain whitespace or
control characters, group cycles and groups nested more than :data:`MAX_GROUP_DEPTH` deep are
errors. Each error is an :class:`~fleet.errors.InventoryError` pointing at ``file:line``.

``HostSpec.groups`` lists the host's groups without ``all``/``ungrouped``, the most specific
first: deepest first, then higher priority, then by name.
"""

from __future__ import annotations

import difflib
import types
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from fleet.errors import InventoryError
from fleet.inventory.ranges import RangeError, expand_host_key
from fleet.inventory.variables import FleetVariables, host_spec_fields, read_variable
from fleet.inventory.yamlload import NodeReader, compose_file, line_of, quote
from fleet.models import HostSpec

MAX_GROUP_DEPTH = 64
MAX_HOST_ENTRIES = 500_000

_SECTIONS = ("hosts", "vars", "children")
_RESERVED = frozenset({"all", "ungrouped"})


@dataclass(frozen=True, slots=True)
class Inventory:
    """A loaded inventory: hosts in first-appearance order and every group's host names.

    ``groups`` maps each group (``all`` and ``ungrouped`` included) to the names of its hosts
    and of its descendants' hosts, in inventory order.
    """

    path: str
    hosts: tuple[HostSpec, ...]
    groups: Mapping[str, tuple[str, ...]]


@dataclass(slots=True)
class _Group:
    name: str
    line: int
    variables: FleetVariables = field(default_factory=dict)
    priority: int = 1
    hosts: dict[str, None] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)
    parents: dict[str, None] = field(default_factory=dict)


@dataclass(slots=True)
class _Host:
    name: str
    line: int
    variables: FleetVariables = field(default_factory=dict)
    groups: dict[str, None] = field(default_factory=dict)


def load_inventory(path: str) -> Inventory:
    """Read, validate and merge the inventory at ``path``.

    Raises :class:`~fleet.errors.InventoryError` (one line, with ``file:line``) for anything
    unusable; never another exception for any file content.
    """
    root = compose_file(path)
    try:
        return _Builder(path).build(root)
    except RecursionError:
        raise InventoryError("YAML nesting is too deep", path) from None


def check_name(reader: NodeReader, name: str, what: str, line: int) -> None:
    """Refuse empty names and names with whitespace, control or invisible characters."""
    if not name:
        raise reader.fail(f"empty {what} name", line)
    for ch in name:
        category = unicodedata.category(ch)
        if category[0] in "CZ" and category not in ("Cn", "Co"):
            raise reader.fail(f"{what} name {quote(name)} contains whitespace or a control character "
                              f"(U+{ord(ch):04X})", line)


class _Builder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.reader = NodeReader(path)
        self.groups: dict[str, _Group] = {"all": _Group("all", 1), "ungrouped": _Group("ungrouped", 1)}
        self.groups["all"].children["ungrouped"] = 1
        self.groups["ungrouped"].parents["all"] = None
        self.hosts: dict[str, _Host] = {}
        self.entries = 0
        self.vars = _VarsReader(self.reader)

    # -- parsing ---------------------------------------------------------------------------

    def build(self, root: yaml.Node | None) -> Inventory:
        reader = self.reader
        if root is None or reader.is_null(root):
            raise InventoryError("inventory is empty; expected 'all:' with hosts", self.path, 1)
        if not isinstance(root, yaml.MappingNode):
            raise reader.fail(f"an inventory must be a mapping of groups (usually 'all:'), "
                              f"not {reader.describe(root)}", root)
        for entry in reader.entries(root, "the inventory"):
            if entry.key == "plugin":
                raise reader.fail("this is an inventory plugin configuration; fleet reads static YAML "
                                  "inventories only", entry.line)
            if entry.key in _SECTIONS:
                raise reader.fail(f"top-level key {entry.key!r} must sit inside a group; "
                                  f"start the file with 'all:'", entry.line)
            self._group(entry.key, entry.line, entry.value, 0 if entry.key == "all" else 1)
        if not self.hosts:
            raise InventoryError("inventory defines no hosts", self.path, 1)
        return self._finish()

    def _group(self, name: str, line: int, node: yaml.Node, depth: int) -> _Group:
        reader = self.reader
        check_name(reader, name, "group", line)
        if depth > MAX_GROUP_DEPTH:
            raise reader.fail(f"groups are nested more than {MAX_GROUP_DEPTH} deep at {quote(name)}", line)
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = _Group(name, line)
        if reader.is_null(node):
            return group
        if not isinstance(node, yaml.MappingNode):
            raise reader.fail(f"group {quote(name)} must be a mapping of hosts/vars/children, "
                              f"not {reader.describe(node)}", node)
        for entry in reader.entries(node, f"group {quote(name)}"):
            if entry.key not in _SECTIONS:
                hint = _did_you_mean(entry.key, _SECTIONS) or " (expected hosts, vars or children)"
                raise reader.fail(f"unknown key {quote(entry.key)} in group {quote(name)}{hint}", entry.line)
            if entry.key == "vars":
                variables = self.vars.read(entry.value, f"vars of group {quote(name)}", group=group)
                group.variables.update(variables)
            elif entry.key == "children":
                for child_name, child_line, child_node in self._section(name, entry.key, entry.value):
                    if child_name == name:
                        raise reader.fail(f"group {quote(name)} lists itself as a child", child_line)
                    group.children.setdefault(child_name, child_line)
                    child = self._group(child_name, child_line, child_node, depth + 1)
                    child.parents[name] = None
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

    def _hosts(self, group: _Group, key: str, line: int, node: yaml.Node) -> None:
        reader = self.reader
        try:
            names, _ssh_port = expand_host_key(key)
        except RangeError as exc:
            raise reader.fail(f"invalid host range in {quote(key)}: {exc}", line) from None
        self.entries += len(names)
        if self.entries > MAX_HOST_ENTRIES:
            raise reader.fail(f"inventory expands to more than {MAX_HOST_ENTRIES} host entries", line)
        if not (reader.is_null(node) or isinstance(node, yaml.MappingNode)):
            raise reader.fail(f"host {quote(key)} must map to its variables or to nothing, "
                              f"not {reader.describe(node)}", node)
        variables = self.vars.read(node, f"vars of host {quote(key)}") if isinstance(node, yaml.MappingNode) else {}
        for name in names:
            check_name(reader, name, "host", line)
            host = self.hosts.get(name)
            if host is None:
                host = self.hosts[name] = _Host(name, line)
            host.variables.update(variables)
            host.groups[group.name] = None
            group.hosts[name] = None

    # -- merging ---------------------------------------------------------------------------

    def _finish(self) -> Inventory:
        groups = self.groups
        for group in list(groups.values()):
            if group.name != "all" and not group.parents:
                group.parents["all"] = None
                groups["all"].children.setdefault(group.name, group.line)
        order = self._topological_order()
        depth = dict.fromkeys(groups, 0)
        for name in order:
            for child in groups[name].children:
                depth[child] = max(depth[child], depth[name] + 1)
                if depth[child] > MAX_GROUP_DEPTH:
                    raise self.reader.fail(f"groups are nested more than {MAX_GROUP_DEPTH} deep at "
                                           f"{quote(child)}", groups[child].line)
        ancestors: dict[str, frozenset[str]] = {}
        for name in order:
            ancestors[name] = frozenset({name}).union(*(ancestors[p] for p in groups[name].parents))

        def precedence(name: str) -> tuple[int, int, str]:
            return depth[name], groups[name].priority, name

        members: dict[str, list[str]] = {name: [] for name in groups}
        specs = []
        for host in self.hosts.values():
            direct = set(host.groups) - {"all"}
            if direct - _RESERVED:
                direct.discard("ungrouped")
            else:
                direct = {"ungrouped"}
            mine = frozenset({"all"}).union(*(ancestors[g] for g in direct))
            merged: dict[str, tuple[object, int]] = {}
            for name in sorted(mine, key=precedence):
                merged.update(groups[name].variables)
            merged.update(host.variables)
            named = sorted(mine - _RESERVED, key=lambda g: (-depth[g], -groups[g].priority, g))
            fields = host_spec_fields(host.name, {k: v for k, (v, _line) in merged.items()})
            specs.append(HostSpec(groups=tuple(named), source=f"{self.path}:{host.line}", **fields))
            for name in mine:
                members[name].append(host.name)
        view = types.MappingProxyType({name: tuple(hosts) for name, hosts in members.items()})
        return Inventory(path=self.path, hosts=tuple(specs), groups=view)

    def _topological_order(self) -> list[str]:
        """Groups with every parent before its children; a cycle is an error."""
        groups = self.groups
        state: dict[str, int] = {}
        order: list[str] = []
        for start in groups:
            if start in state:
                continue
            state[start] = 1
            stack = [(start, iter(groups[start].children))]
            path = [start]
            while stack:
                name, it = stack[-1]
                child = next(it, None)
                if child is None:
                    stack.pop()
                    path.pop()
                    state[name] = 2
                    order.append(name)
                elif state.get(child) == 1:
                    cycle = " → ".join([*path[path.index(child):], child])
                    raise self.reader.fail(f"groups form a cycle: {cycle}", groups[name].children[child])
                elif child not in state:
                    state[child] = 1
                    path.append(child)
                    stack.append((child, iter(groups[child].children)))
        order.reverse()
        return order


class _VarsReader:
    """Reads a ``vars`` mapping: fleet's variables validated, every other variable skipped."""

    def __init__(self, reader: NodeReader) -> None:
        self.reader = reader

    def read(self, node: yaml.Node, what: str, group: _Group | None = None) -> FleetVariables:
        if self.reader.is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.reader.fail(f"{what} must be a mapping, not {self.reader.describe(node)}", node)
        found: FleetVariables = {}
        for entry in self.reader.entries(node, what):
            if entry.key == "ansible_group_priority" and group is not None:
                value = self.reader.scalar(entry.value, "ansible_group_priority")
                if not isinstance(value, int) or isinstance(value, bool):
                    raise self.reader.fail("ansible_group_priority must be an integer", entry.line)
                group.priority = value
                continue
            read_variable(self.reader, entry, found)
        return found


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
