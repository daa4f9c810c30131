"""INI inventories, read as Ansible's ``ini`` plugin reads them.

* ``[group]`` sections list hosts, one per line: a host key (ranges and ``:port`` as in YAML)
  followed by ``key=value`` host variables (shell-quoted; ``#`` starts a comment);
* ``[group:vars]`` holds ``key=value`` lines, ``[group:children]`` child group names;
* lines before the first section are hosts of ``ungrouped``; ``#`` and ``;`` start comments;
* values are read with Python's ``ast.literal_eval`` where they parse (``2999`` is a number,
  ``'2999'`` a string, ``True`` a boolean), as text otherwise;
* ``[g:vars]`` for a group no section defines, or a ``[g:children]`` entry naming a group
  that is never defined, is an error (at the line that names it).

Every error is an :class:`~fleet.errors.InventoryError` at ``file:line``.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from fleet.inventory.data import InventoryData
from fleet.inventory.ranges import RangeError, expand_host_key
from fleet.inventory.variables import Origin, convert, wanted
from fleet.inventory.yamlload import quote
from fleet.inventory.yamlsource import name_problem

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")


def parse_value(text: str) -> Any:
    """An INI value as Ansible reads it: a Python literal where one parses, else the text."""
    if len(text) > 100_000:
        return text
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if value is ... or isinstance(value, complex):
        return str(text) if value is ... else str(value)
    return value


def read_ini_inventory(path: str, text: str, data: InventoryData) -> None:
    """Add the INI inventory ``text`` (read from ``path``) to ``data``."""
    _Reader(path, data).read(text)


class _Reader:
    def __init__(self, path: str, data: InventoryData) -> None:
        self.path = path
        self.data = data
        self.line = 0
        # group → (line, state, parents) of a section or child entry that names it before it exists
        self.pending: dict[str, tuple[int, str, list[str]]] = {}

    def fail(self, message: str) -> Exception:
        return Origin(self.path, self.line).fail(message)

    def read(self, text: str) -> None:
        group, state = "ungrouped", "hosts"
        self.line = 0
        for self.line, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            m = _SECTION.match(line)
            if m:
                group, state = m.group(1), m.group(2) or "hosts"
                self._section(group, state)
                continue
            if line.startswith("[") and line.endswith("]"):
                raise self.fail(f"invalid section {quote(line)}: no spaces or other characters are allowed in a "
                                "section name ([group], [group:vars], [group:children])")
            if state == "hosts":
                self._host_line(group, line)
            elif state == "vars":
                self._vars_line(group, line)
            else:
                self._child_line(group, line)
        for name, (at, pending_state, parents) in self.pending.items():
            self.line = at
            if pending_state == "vars":
                raise self.fail(f"section [{name}:vars] is not valid for undefined group {name!r}")
            raise self.fail(f"section [{parents[-1]}:children] includes undefined group {name!r}")

    def _section(self, group: str, state: str) -> None:
        if state not in ("hosts", "children", "vars"):
            raise self.fail(f"section [{group}:{state}] has unknown type {state!r} (expected vars or children)")
        problem = name_problem(group, "group")
        if problem:
            raise self.fail(problem)
        if group not in self.data.groups:
            if state == "vars" and group not in self.pending:
                self.pending[group] = (self.line, state, [])
            self.data.group(group, Origin(self.path, self.line))
        pending = self.pending.get(group)
        if pending is not None and state != "vars":
            if pending[1] == "children":
                self._add_pending_children(group)
            else:
                del self.pending[group]

    def _add_pending_children(self, group: str) -> None:
        line, _state, parents = self.pending.pop(group)
        for parent in parents:
            self.data.add_child(parent, group, Origin(self.path, line))
            if parent in self.pending and self.pending[parent][1] == "children":
                self._add_pending_children(parent)

    def _host_line(self, group: str, line: str) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            raise self.fail(f"cannot parse host line {quote(line)}: {exc}") from None
        if not tokens:
            return
        key = tokens[0]
        if key.strip() == "---":
            raise self.fail("'---' is not a host; this looks like a YAML file (name it .yml or .yaml)")
        try:
            names, port = expand_host_key(key)
        except RangeError as exc:
            raise self.fail(f"invalid host range in {quote(key)}: {exc}") from None
        if key.endswith(":") and port is None:
            raise self.fail(f"host {quote(key)} ends in ':', which is reserved for a port")
        origin = Origin(self.path, self.line)
        variables = {}
        for token in tokens[1:]:
            if "=" not in token:
                raise self.fail(f"expected key=value host variable, got {quote(token)}")
            name, value = token.split("=", 1)
            if wanted(name, origin):
                variables[name] = convert(name, parse_value(value), origin, text=True)
        for name in names:
            problem = name_problem(name, "host")
            if problem:
                raise self.fail(problem)
            self.data.add_host(name, group, origin).variables.update(variables)

    def _vars_line(self, group: str, line: str) -> None:
        if "=" not in line:
            raise self.fail(f"expected key=value in [{group}:vars], got {quote(line)}")
        name, value = (part.strip() for part in line.split("=", 1))
        origin = Origin(self.path, self.line)
        if name == "ansible_group_priority":
            priority = parse_value(value)
            try:
                self.data.groups[group].priority = int(priority)
            except (TypeError, ValueError):
                raise self.fail(f"ansible_group_priority must be an integer, not {quote(value)}") from None
        elif wanted(name, origin):
            self.data.groups[group].variables[name] = convert(name, parse_value(value), origin, text=True)

    def _child_line(self, group: str, line: str) -> None:
        m = _GROUP_NAME.match(line)
        if not m:
            raise self.fail(f"expected a group name in [{group}:children], got {quote(line)}")
        child = m.group(1)
        if child in self.data.groups:
            self.data.add_child(group, child, Origin(self.path, self.line))
        elif child in self.pending:
            self.pending[child][2].append(group)
        else:
            self.pending[child] = (self.line, "children", [group])
