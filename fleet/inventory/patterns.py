"""Ansible host patterns (``--limit``) and sharding of a selection.

:func:`select` follows ansible-core's ``InventoryManager`` (``split_host_pattern``,
``order_patterns``, ``_match_one_pattern``):

* ``a,b`` or ``a:b`` — union; a pattern without ``,`` that is a valid host identifier (an
  IPv6 address such as ``2001:db8::1``, or ``host:port``) is one pattern, not split on ``:``;
* ``a:&b`` — intersection, ``a:!b`` — exclusion; unions apply first, then intersections,
  then exclusions; without any union the start is ``all``;
* ``all`` or ``*`` — every host; a word names a host or a group (a group brings its
  descendants' hosts); ``*``, ``?``, ``[…]`` are fnmatch globs over group and host names;
* ``~regex`` — a regular expression over group and host names, anchored at the start of the
  name (Ansible uses ``re.match``; write ``~.*part`` to search anywhere);
* ``pattern[0]``, ``pattern[1:3]``, ``pattern[-1]`` — subscripts, indexing the pattern's hosts
  in inventory order (Ansible indexes its internal group order, which may differ);
* ``@file`` — the patterns of ``file``, one per line (a ``.retry`` file is one host per line).

The result is in inventory order without duplicates. A single pattern that names no group
and no host is an :class:`~fleet.errors.InputError` (as Ansible with
``HOST_PATTERN_MISMATCH=error``): a mistyped part would silently narrow a run. The error
names the part, the closest group and host names, and, for ``odp-bj-0[1-3]``, that Ansible
reads ``[x-y]``/``[x:y]`` as a subscript. With ``allow_unmatched`` such a part is ignored
with Ansible's warning (``Could not match supplied host pattern, ignoring: nosuchgroup``),
passed to ``warn``. A whole pattern selecting nothing, an empty pattern and an unreadable
``@file`` are :class:`~fleet.errors.InputError` either way.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import warnings
from collections.abc import Callable, Iterable, Sequence

from fleet.errors import InputError
from fleet.inventory.data import Inventory
from fleet.inventory.ranges import parse_address
from fleet.inventory.yamlload import MAX_BYTES, quote
from fleet.models import HostSpec
from fleet.regularfile import open_regular

_COLON_SEPARATED = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_GLOB_OR_DOTTED = (".", "?", "*", "[")


def _read_limit_file(path: str) -> list[str]:
    try:
        with open_regular(path) as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"--limit @{path}: cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise InputError(f"--limit @{path}: the file is larger than 16 MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"--limit @{path}: the file is not UTF-8 text") from None
    return [line.strip() for line in text.split("\n")]


def split_pattern(pattern: str, read_file: Callable[[str], list[str]] = _read_limit_file) -> list[str]:
    """One pattern string into its single patterns, ``@file`` references replaced by their lines."""
    if "," in pattern:
        parts = pattern.split(",")
    elif parse_address(pattern) is not None:
        parts = [pattern]
    else:
        parts = _COLON_SEPARATED.findall(pattern)
    result: list[str] = []
    for part in (p.strip() for p in parts):
        if part.startswith("@"):
            result.extend(line for line in read_file(part[1:]) if line)
        elif part:
            result.append(part)
    return result


def order_patterns(patterns: Iterable[str]) -> list[str]:
    """Unions first, then ``&`` intersections, then ``!`` exclusions; ``all`` if no union."""
    regular = [p for p in patterns if p[0] not in "&!"]
    intersections = [p for p in patterns if p[0] == "&"]
    exclusions = [p for p in patterns if p[0] == "!"]
    return (regular or ["all"]) + intersections + exclusions


class _Matcher:
    """Matches single patterns against one inventory, with Ansible's rules."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.position = {host.name: i for i, host in enumerate(inventory.hosts)}
        #: each single pattern that matched no group or host: (as written, its expression)
        self.unmatched: list[tuple[str, str]] = []

    def compile(self, pattern: str, original: str) -> re.Pattern[str]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # re's "possible nested set" hints
                return re.compile(pattern[1:] if pattern[0] == "~" else fnmatch.translate(pattern))
        except (re.error, OverflowError, RecursionError) as exc:
            raise InputError(f"--limit {quote(original)}: invalid pattern {quote(pattern)}: {exc}") from None

    def match_one(self, pattern: str, original: str) -> list[str]:
        expr, subscript = pattern, None
        if pattern[0] != "~":
            m = _SUBSCRIPT.match(pattern)
            if m:
                expr, index, start, _sep, end = m.groups()
                subscript = (int(index), None) if index else (int(start), int(end) if end else -1)
        before = len(self.unmatched)
        names = self.enumerate(expr, original)
        if len(self.unmatched) > before:
            self.unmatched[-1] = (pattern, expr)
        if subscript is None or not names:
            return names
        first, last = subscript
        if last is None:
            if not -len(names) <= first < len(names):
                raise InputError(f"--limit {quote(original)}: subscript {quote(pattern)} is out of range "
                                 f"({len(names)} hosts match {quote(expr)})")
            return [names[first]]
        return names[first:(len(names) if last == -1 else last + 1)]

    def enumerate(self, pattern: str, original: str) -> list[str]:
        groups = self.inventory.groups
        if pattern[0] != "~" and not any(ch in pattern for ch in "*?["):
            # A literal fnmatch pattern matches by equality: dictionary look-ups, no scan.
            if pattern in groups and "." not in pattern:
                return list(groups[pattern])
            literal = set(groups.get(pattern, ()))
            if pattern in self.position:
                literal.add(pattern)
            if pattern not in groups and not literal:
                self.unmatched.append((pattern, pattern))
            return sorted(literal, key=self.position.__getitem__)
        regex = self.compile(pattern, original)
        found: set[str] = set()
        matched_group = False
        for group, hosts in groups.items():
            if regex.match(group):
                matched_group = True
                found.update(hosts)
        if not matched_group or pattern[0] == "~" or any(ch in pattern for ch in _GLOB_OR_DOTTED):
            found.update(name for name in self.position if regex.match(name))
        if not found and not matched_group:
            self.unmatched.append((pattern, pattern))
        return sorted(found, key=self.position.__getitem__)


def select(inventory: Inventory, pattern: str | None, warn: Callable[[str], None] | None = None, *,
           allow_unmatched: bool = False) -> tuple[HostSpec, ...]:
    """The hosts of ``inventory`` that ``pattern`` selects, in inventory order.

    ``None``, ``all`` and ``*`` select every host. A single pattern matching no group or host
    raises :class:`InputError` (see :func:`unmatched_message`); with ``allow_unmatched`` it is
    reported to ``warn`` (Ansible's wording) and ignored. Raises :class:`InputError` when the
    pattern is empty or selects no host.
    """
    if pattern is None:
        return inventory.hosts
    if not pattern.strip():
        raise InputError("--limit is empty; give a host pattern or leave the option out")
    matcher = _Matcher(inventory)
    chosen: dict[str, None] = {}
    for single in order_patterns(split_pattern(pattern)):
        if single in matcher.position:
            chosen[single] = None
        elif single[0] == "!":
            excluded = set(matcher.match_one(single[1:], pattern)) if len(single) > 1 else set()
            chosen = {name: None for name in chosen if name not in excluded}
        elif single[0] == "&":
            kept = set(matcher.match_one(single[1:], pattern)) if len(single) > 1 else set()
            chosen = {name: None for name in chosen if name in kept}
        else:
            chosen.update(dict.fromkeys(matcher.match_one(single, pattern)))
    unmatched = list(dict.fromkeys(matcher.unmatched))
    if unmatched and not allow_unmatched:
        raise InputError(unmatched_message(inventory, pattern, unmatched[0][0], len(unmatched)))
    if not chosen:
        raise InputError(f"--limit {quote(pattern)} matches no host in {inventory.path}")
    for _written, expr in unmatched:
        if warn is not None:
            warn(f"Could not match supplied host pattern, ignoring: {expr}")
    return tuple(host for host in inventory.hosts if host.name in chosen)


#: group names listed in an error when no name is close to the mistyped one
_GROUPS_LISTED = 12
_IMPLICIT_GROUPS = ("all", "ungrouped")
_REGEX_SPECIAL = re.compile(r"[.^$*+?{}()|\\]")


def unmatched_message(inventory: Inventory, pattern: str, part: str, count: int = 1) -> str:
    """One line: which part of ``--limit`` matched nothing, and what was probably meant.

    The closest group and host names (a did-you-mean), else the inventory's groups; for a
    part such as ``odp-bj-0[1-3]``, Ansible's subscript hint and a regex that matches those
    names; the way out (``--allow-unmatched``) when other parts did match.
    """
    bare = part.lstrip("!&")
    head = (f"--limit {quote(pattern)} matches no host in {inventory.path}" if bare == pattern.strip()
            else f"--limit {quote(pattern)}: {quote(bare)} matches no group or host in {inventory.path}")
    if count > 1:
        head += f" ({count - 1} more part{'s match' if count > 2 else ' matches'} nothing too)"
    hints: list[str] = []
    m = _SUBSCRIPT.match(bare) if bare and bare[0] != "~" else None
    if m:
        expr, sep = m.group(1), m.group(4)
        hint = f"{quote(bare)} is read as a subscript of {quote(expr)}, as Ansible reads it"
        if sep == "-":
            hint += " (and Ansible warns: use [x:y] inclusive subscripts instead of [x-y] which has been removed)"
        regex = "~" + _REGEX_SPECIAL.sub(r"\\\g<0>", expr) + bare[len(expr):]
        for candidate in (regex + "$", regex):  # whole names first, else names that start so
            if _names_matching(inventory, candidate[1:]):
                hint += f"; to select host names by range write {quote(candidate)}"
                break
        hints.append(hint)
    else:
        names = [g for g in inventory.groups if g not in _IMPLICIT_GROUPS] + [h.name for h in inventory.hosts]
        close = difflib.get_close_matches(bare, names, n=3, cutoff=0.6) if len(bare) <= 256 else []
        if close:
            hints.append("did you mean " + " or ".join(quote(name) for name in close) + "?")
        else:
            groups = sorted(g for g in inventory.groups if g not in _IMPLICIT_GROUPS)
            if groups:
                listed = ", ".join(groups[:_GROUPS_LISTED]) + (", …" if len(groups) > _GROUPS_LISTED else "")
                hints.append(f"groups: {listed} (fleet inventory --graph shows them all)")
    if pattern.strip() != bare:
        hints.append("--allow-unmatched ignores such parts with a warning, as Ansible does")
    return head + "".join(f"; {hint}" for hint in hints)


def _names_matching(inventory: Inventory, expression: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # re's "possible nested set" hints
            regex = re.compile(expression)
    except re.error:
        return False
    return any(regex.match(host.name) for host in inventory.hosts)


def shard(hosts: Sequence[HostSpec], index: int, total: int) -> tuple[HostSpec, ...]:
    """Shard ``index`` (0-based) of ``total``: round-robin over ``hosts`` sorted by (name, port).

    The host at position ``i`` of the sorted order belongs to shard ``i % total``; shards are
    disjoint, cover every host and differ in size by at most one (a shard may be empty). The
    shard keeps the order of ``hosts``.
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise InputError(f"--shard: the number of shards must be at least 1, not {total!r}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < total:
        raise InputError(f"--shard: index must be between 0 and {total - 1}, not {index!r}")
    ordered = sorted(range(len(hosts)), key=lambda i: (hosts[i].name, hosts[i].port))
    mine = {position for rank, position in enumerate(ordered) if rank % total == index}
    return tuple(host for i, host in enumerate(hosts) if i in mine)
