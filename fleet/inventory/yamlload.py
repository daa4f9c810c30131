"""Reading an inventory file into YAML nodes, with line numbers and hard limits.

PyYAML's constructor silently keeps the last of two equal keys and forgets where each value
came from, so fleet composes the document into nodes and walks them itself: every mapping key
keeps its line, and a duplicate key is an error.

Limits (each broken limit is an :class:`~fleet.errors.InventoryError` with ``file:line``):

* files larger than :data:`MAX_BYTES` are refused before they are read;
* the text must be UTF-8 (a BOM is allowed);
* anchors and aliases are allowed (shared ``vars`` are a common use), but the nodes reachable
  through aliases may add up to at most :data:`ALIAS_BUDGET`; a "billion laughs" document or a
  recursive alias is refused, after work linear in the size of the file;
* nesting depth is bounded by libyaml (1000 levels); the pure-Python fallback turns its
  ``RecursionError`` into the same error.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import yaml

from fleet.errors import InventoryError
from fleet.regularfile import open_regular

MAX_BYTES = 16 * 1024 * 1024
ALIAS_BUDGET = 100_000

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"
_TAG_NAMES = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
}


class Entry(NamedTuple):
    """One ``key: value`` pair of a YAML mapping, with the key's 1-based line."""

    key: str
    line: int
    value: yaml.Node


def line_of(node: yaml.Node) -> int:
    """The 1-based line where ``node`` starts."""
    return int(node.start_mark.line) + 1


def quote(text: str, limit: int = 80) -> str:
    """``text`` quoted for a one-line message: control characters escaped, long text cut."""
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def read_text(path: str, what: str = "inventory") -> str:
    """The UTF-8 text of ``path`` (a BOM is dropped), refused over :data:`MAX_BYTES`."""
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_BYTES:
                raise InventoryError(f"{what} is {size} bytes; fleet reads at most {MAX_BYTES} (16 MiB)", path)
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InventoryError(f"cannot read {what}: {exc.strerror or exc}", path) from None
    if len(data) > MAX_BYTES:
        raise InventoryError(f"{what} is larger than {MAX_BYTES} bytes (16 MiB)", path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError(f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x})", path, line) from None


def compose_file(path: str, what: str = "inventory") -> yaml.Node | None:
    """Read and compose ``path``; ``None`` for an empty document."""
    return compose_text(read_text(path, what), path)


def compose_text(text: str, path: str) -> yaml.Node | None:
    """Compose the YAML ``text`` read from ``path``; ``None`` for an empty document."""
    try:
        loader = _Loader(text.encode("utf-8") if _Loader is not yaml.SafeLoader else text)
        try:
            node: yaml.Node | None = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        mark_line = mark.line + 1 if mark is not None else None
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise InventoryError(f"YAML syntax error: {problem}{column}", path, mark_line) from None
    except yaml.reader.ReaderError as exc:
        pos_line: int | None = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise InventoryError(f"YAML syntax error: unacceptable character {char}", path, pos_line) from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"YAML syntax error: {' '.join(str(exc).split())}", path) from None
    except RecursionError:
        raise InventoryError("YAML nesting is too deep", path) from None
    if node is not None:
        _check_aliases(node, path)
    return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_aliases(root: yaml.Node, path: str) -> None:
    """Refuse recursive aliases and aliases whose expansion exceeds :data:`ALIAS_BUDGET`.

    A depth-first walk in document order meets each anchored node first where it is defined;
    every later edge to an already finished node is an alias use and costs the node's expanded
    size. Sizes saturate at the budget, so the walk is linear in the number of distinct nodes.
    """
    cap = ALIAS_BUDGET + 1
    size: dict[int, int] = {}
    open_: set[int] = {id(root)}
    spent = 0
    stack = [(root, iter(_children(root)))]
    while stack:
        node, it = stack[-1]
        child = next(it, None)
        if child is None:
            stack.pop()
            open_.discard(id(node))
            size[id(node)] = min(cap, 1 + sum(size[id(c)] for c in _children(node)))
        elif id(child) in open_:
            raise InventoryError("YAML alias refers to its own enclosing anchor (a recursive structure)",
                                 path, line_of(child))
        elif id(child) in size:
            spent += size[id(child)]
            if spent > ALIAS_BUDGET:
                raise InventoryError(f"YAML aliases expand to more than {ALIAS_BUDGET} nodes (an alias bomb?); "
                                     "write the values out or use group vars", path, line_of(child))
        else:
            open_.add(id(child))
            stack.append((child, iter(_children(child))))


class NodeReader:
    """Typed access to composed nodes, raising :class:`InventoryError` at the node's line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._constructor = yaml.constructor.SafeConstructor()

    def fail(self, message: str, node_or_line: yaml.Node | int | None) -> InventoryError:
        line = line_of(node_or_line) if isinstance(node_or_line, yaml.Node) else node_or_line
        return InventoryError(message, self.path, line)

    @staticmethod
    def is_null(node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG

    def describe(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        if node.tag == STR_TAG:
            return "a string"
        return _TAG_NAMES.get(node.tag, f"a {node.tag!s} value")

    def key(self, node: yaml.Node, what: str) -> str:
        """A mapping key as a string; anything else is refused with a hint to quote it."""
        if isinstance(node, yaml.ScalarNode) and node.tag == STR_TAG:
            return str(node.value)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == NULL_TAG:
                raise self.fail(f"empty {what} (a key with no name)", node)
            raise self.fail(f"{what} {quote(str(node.value))} is read by YAML as {self.describe(node)}; "
                            f"put it in quotes", node)
        raise self.fail(f"{what} must be a string, not {self.describe(node)}", node)

    def entries(self, node: yaml.Node, what: str) -> list[Entry]:
        """The pairs of a mapping node in document order; duplicate keys are refused.

        ``<<`` merge keys are honoured as YAML 1.1 defines them: explicit keys win over merged
        ones, and among merged mappings the earlier one wins.
        """
        explicit: list[Entry] = []
        merged: list[Entry] = []
        seen: dict[str, int] = {}
        for key_node, value in node.value:
            if key_node.tag == MERGE_TAG:
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise self.fail(f"a '<<' merge key in {what} needs a mapping, not "
                                        f"{self.describe(source)}", key_node)
                    merged.extend(self.entries(source, what))
                continue
            key = self.key(key_node, f"key in {what}")
            line = line_of(key_node)
            if key in seen:
                raise self.fail(f"duplicate key {quote(key)} in {what} (first at line {seen[key]}); "
                                "YAML would silently keep only the last one", line)
            seen[key] = line
            explicit.append(Entry(key, line, value))
        if not merged:
            return explicit
        kept: list[Entry] = []
        for entry in merged:
            if entry.key not in seen:
                seen[entry.key] = entry.line
                kept.append(entry)
        return kept + explicit

    def scalar(self, node: yaml.Node, what: str) -> object:
        """The Python value of a scalar node (str, int, float, bool, None, …)."""
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(f"{what} must be a single value, not {self.describe(node)}", node)
        if node.tag == "!unsafe":
            return str(node.value)
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, TypeError):
            raise self.fail(f"{what} has a value YAML cannot read: {quote(str(node.value))}", node) from None
