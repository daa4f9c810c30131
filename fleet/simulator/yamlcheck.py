"""Reading the simulator's YAML with line numbers, and the scalar checks that point at them.

Every check raises :class:`~fleet.simulator.settings.ConfigError` as ``file:line: key.path: problem``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import yaml

from fleet.simulator.routing import ALL_ROUTES, ROUTES
from fleet.simulator.settings import ConfigError


class Lines:
    """Maps a key path to the 1-based line it was written on."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.by_path: dict[tuple[Any, ...], int] = {}

    def error(self, path: tuple[Any, ...], message: str) -> ConfigError:
        probe = path
        while probe and probe not in self.by_path:
            probe = probe[:-1]
        line = self.by_path.get(probe)
        where = f"{self.source}:{line}" if line else self.source
        dotted = ".".join(str(p) for p in path)
        return ConfigError(f"{where}: {dotted + ': ' if dotted else ''}{message}")


def to_python(node: yaml.Node, path: tuple[Any, ...], lines: Lines) -> Any:
    lines.by_path.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # Keys stay the strings written ("127.30.0.5:2886" must not become a YAML 1.1 number).
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            lines.by_path[(*path, key)] = key_node.start_mark.line + 1
            if key in out:
                raise lines.error((*path, key), "duplicate key")
            out[key] = to_python(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [to_python(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def check_keys(doc: Mapping[Any, Any], allowed: tuple[str, ...], path: tuple[Any, ...], lines: Lines) -> None:
    for key in doc:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(allowed)})"
            raise lines.error((*path, key), f"unknown key {key!r}{hint}")


def route_set(value: Any, path: tuple[Any, ...], lines: Lines) -> frozenset[str]:
    if isinstance(value, bool):
        return ALL_ROUTES if value else frozenset()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise lines.error(path, "must be true/false or a list of routes")
    for i, name in enumerate(value):
        if name not in ROUTES:
            close = difflib.get_close_matches(str(name), ROUTES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (routes: {', '.join(ROUTES)})"
            raise lines.error((*path, i), f"unknown route {name!r}{hint}")
    return frozenset(value)


def text(value: Any, path: tuple[Any, ...], lines: Lines) -> str:
    if not isinstance(value, str):
        raise lines.error(path, "must be a string")
    return value


def flag(value: Any, path: tuple[Any, ...], lines: Lines) -> bool:
    if not isinstance(value, bool):
        raise lines.error(path, "must be true or false")
    return value


def number(value: Any, path: tuple[Any, ...], lines: Lines, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise lines.error(path, "must be a number")
    if minimum is not None and value < minimum:
        raise lines.error(path, f"must be >= {minimum:g}")
    return float(value)


def integer(value: Any, path: tuple[Any, ...], lines: Lines, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise lines.error(path, "must be an integer")
    if value < minimum:
        raise lines.error(path, f"must be >= {minimum}")
    return value


def choice(value: Any, allowed: tuple[Any, ...], path: tuple[Any, ...], lines: Lines) -> Any:
    if value not in allowed or isinstance(value, bool):
        raise lines.error(path, f"must be one of {', '.join(map(str, allowed))}")
    return value
