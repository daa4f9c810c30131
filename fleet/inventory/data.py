"""The inventory graph every source adds to, merged into HostSpecs as Ansible merges it.

Sources (YAML, INI, scripts, host lists) add groups, hosts, children and variables to one
:class:`InventoryData`, in the order they are read, as Ansible's ``InventoryData`` does: a later
definition of a variable on the same group or host wins, a host in several groups is one host.

:func:`merge` then resolves each host's variables with Ansible's precedence (lowest first):

1. the ``all`` group's inventory variables, then those of the host's other groups, ordered by
   (depth, ``ansible_group_priority``, name) — deeper groups win, alphabetical among equals;
2. ``group_vars/all`` beside each source, then ``group_vars/<group>`` for those groups in the
   same order (source by source: a later source's file wins over an earlier source's);
3. the host's inventory variables, then ``host_vars/<host>`` beside each source;
4. ``-e`` extra variables.

``HostSpec.groups`` lists the host's groups without ``all``/``ungrouped``, the most specific
first: deepest first, then higher priority, then by name.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fleet.errors import InventoryError
from fleet.inventory.variables import FleetVariables, Origin, host_spec_fields
from fleet.inventory.yamlload import quote
from fleet.models import HostSpec

MAX_GROUP_DEPTH = 64
MAX_HOST_ENTRIES = 500_000
RESERVED = frozenset({"all", "ungrouped"})


@dataclass(frozen=True, slots=True)
class Inventory:
    """A loaded inventory: hosts in first-appearance order and every group's host names.

    ``groups`` maps each group (``all`` and ``ungrouped`` included) to the names of its hosts
    and of its descendants' hosts, in inventory order; ``children`` and ``members`` hold each
    group's direct child groups and direct hosts (for ``fleet inventory --graph``); ``origins``
    maps each host to where each of its resolved fleet variables was set.
    """

    path: str
    hosts: tuple[HostSpec, ...]
    groups: Mapping[str, tuple[str, ...]]
    sources: tuple[str, ...] = ()
    children: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    origins: Mapping[str, Mapping[str, Origin]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class Group:
    name: str
    origin: Origin
    variables: FleetVariables = field(default_factory=dict)
    priority: int = 1
    hosts: dict[str, None] = field(default_factory=dict)
    children: dict[str, Origin] = field(default_factory=dict)
    parents: dict[str, None] = field(default_factory=dict)


@dataclass(slots=True)
class Host:
    name: str
    origin: Origin
    variables: FleetVariables = field(default_factory=dict)
    groups: dict[str, None] = field(default_factory=dict)


class InventoryData:
    """Groups and hosts of every source read so far."""

    def __init__(self) -> None:
        start = Origin("<implicit>")
        self.groups: dict[str, Group] = {"all": Group("all", start), "ungrouped": Group("ungrouped", start)}
        self.add_child("all", "ungrouped", start)
        self.hosts: dict[str, Host] = {}
        self.entries = 0

    def group(self, name: str, origin: Origin) -> Group:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name, origin)
        return group

    def add_child(self, parent: str, child: str, origin: Origin) -> None:
        if parent == child:
            raise origin.fail(f"group {quote(parent)} lists itself as a child")
        self.group(parent, origin).children.setdefault(child, origin)
        self.group(child, origin).parents[parent] = None

    def add_host(self, name: str, group: str, origin: Origin) -> Host:
        self.entries += 1
        if self.entries > MAX_HOST_ENTRIES:
            raise origin.fail(f"inventory expands to more than {MAX_HOST_ENTRIES} host entries")
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = Host(name, origin)
        host.groups[group] = None
        self.group(group, origin).hosts[name] = None
        return host


#: name → that entity's variables from one source's group_vars/ or host_vars/
VarsLookup = Callable[[str], FleetVariables]


def merge(data: InventoryData, *, path: str, sources: Sequence[str] = (),
          group_files: Sequence[VarsLookup] = (), host_files: Sequence[VarsLookup] = (),
          extra: FleetVariables | None = None) -> tuple[Inventory, dict[str, FleetVariables]]:
    """The :class:`Inventory` of ``data``, and each host's merged variables (with origins)."""
    groups = data.groups
    for group in list(groups.values()):
        if group.name != "all" and not group.parents:
            data.add_child("all", group.name, group.origin)
    order = _topological_order(groups)
    depth = dict.fromkeys(groups, 0)
    for name in order:
        for child in groups[name].children:
            depth[child] = max(depth[child], depth[name] + 1)
            if depth[child] > MAX_GROUP_DEPTH:
                raise groups[child].origin.fail(f"groups are nested more than {MAX_GROUP_DEPTH} deep at "
                                                f"{quote(child)}")
    ancestors: dict[str, frozenset[str]] = {}
    for name in order:
        ancestors[name] = frozenset({name}).union(*(ancestors[p] for p in groups[name].parents))

    def precedence(name: str) -> tuple[int, int, str]:
        return depth[name], groups[name].priority, name

    members: dict[str, list[str]] = {name: [] for name in groups}
    specs = []
    resolved: dict[str, FleetVariables] = {}
    for host in data.hosts.values():
        direct = set(host.groups) - {"all"}
        if direct - RESERVED:
            direct.discard("ungrouped")
        else:
            direct = {"ungrouped"}
        mine = frozenset({"all"}).union(*(ancestors[g] for g in direct))
        ordered = sorted(mine - {"all"}, key=precedence)
        merged: FleetVariables = dict(groups["all"].variables)
        for name in ordered:
            merged.update(groups[name].variables)
        for lookup in group_files:
            merged.update(lookup("all"))
        for lookup in group_files:
            for name in ordered:
                merged.update(lookup(name))
        merged.update(host.variables)
        for lookup in host_files:
            merged.update(lookup(host.name))
        merged.update(extra or {})
        named = sorted(mine - RESERVED, key=lambda g: (-depth[g], -groups[g].priority, g))
        fields = host_spec_fields(host.name, {k: v.value for k, v in merged.items()})
        specs.append(HostSpec(groups=tuple(named), source=str(host.origin), **fields))
        resolved[host.name] = merged
        for name in mine:
            members[name].append(host.name)
    inventory = Inventory(
        path=path, hosts=tuple(specs), sources=tuple(sources),
        groups=types.MappingProxyType({name: tuple(hosts) for name, hosts in members.items()}),
        children=types.MappingProxyType({n: tuple(g.children) for n, g in groups.items()}),
        members=types.MappingProxyType({n: tuple(g.hosts) for n, g in groups.items()}),
        origins=types.MappingProxyType({h: {k: v.origin for k, v in m.items()} for h, m in resolved.items()}),
    )
    return inventory, resolved


def _topological_order(groups: Mapping[str, Group]) -> list[str]:
    """Groups with every parent before its children; a cycle is an error."""
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
                raise groups[name].children[child].fail(f"groups form a cycle: {cycle}")
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(groups[child].children)))
    order.reverse()
    return order


__all__ = ["Group", "Host", "Inventory", "InventoryData", "InventoryError", "merge"]
