"""Option defaults from ``fleet.yaml`` (or ``--config``) and ``FLEET_*`` variables.

Precedence: command line > environment > config file > built-in default. The command line
parser leaves options it was not given as ``None``; :func:`resolve` fills them in.
"""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from fleet.errors import InputError

DEFAULT_CONFIG = "fleet.yaml"


def _bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{text!r} is not a boolean")


def _positive_int(text: Any) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text!r} must be at least 1")
    return value


def _positive_float(text: Any) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be positive")
    return value


def _percentage(text: Any) -> float:
    value = float(str(text).rstrip("%"))
    if not 0 <= value <= 100:
        raise ValueError(f"{text!r} must be between 0 and 100")
    return value


def _non_negative_int(text: Any) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{text!r} must not be negative")
    return value


def _serial(text: Any) -> list[str]:
    if isinstance(text, list):
        return [str(x) for x in text]
    return [part for part in str(text).split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    default: Any
    convert: Callable[[Any], Any] = str


OPTIONS: tuple[Option, ...] = (
    Option("inventory", None),
    Option("limit", None),
    Option("forks", 64, _positive_int),
    Option("timeout", 600.0, _positive_float),
    Option("connect_timeout", 5.0, _positive_float),
    Option("request_timeout", 30.0, _positive_float),
    Option("auth_lifetime", 60, _positive_int),
    Option("polls_in_flight", 256, _positive_int),
    Option("poll_cap", 2.0, _positive_float),
    Option("grace", 30.0, float),
    Option("output", None),
    Option("journal", None),
    Option("no_journal", False, _bool),
    Option("junit", None),
    Option("retry_file", None),
    Option("serial", None, _serial),
    Option("max_fail_percentage", None, _percentage),
    Option("canary", 0, _non_negative_int),
    Option("order", "inventory"),
    Option("shard", None),
    Option("quiet", False, _bool),
    Option("log_level", None),
    Option("log_format", "auto"),
    Option("refire_ambiguous", False, _bool),
    Option("retry_failed", 0, _non_negative_int),
)
_BY_NAME = {o.name: o for o in OPTIONS}


def load_config_file(path: str | None) -> tuple[str | None, dict[str, Any]]:
    """Read ``--config`` (must exist) or ``./fleet.yaml`` (optional)."""
    explicit = path is not None
    path = path or DEFAULT_CONFIG
    if not os.path.exists(path):
        if explicit:
            raise InputError(f"{path}: config file not found")
        return None, {}
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise InputError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a mapping of option: value")
    settings: dict[str, Any] = {}
    for key, value in doc.items():
        name = str(key).replace("-", "_")
        if "password" in name.lower():
            raise InputError(f"{_where(path, doc, key)}: {key!r}: passwords do not belong in config files; "
                             "set the variable obshell_password_env names (default OBSHELL_AGENT_PASSWORD) "
                             "or obshell_password_file in the inventory")
        if name not in _BY_NAME:
            hint = difflib.get_close_matches(name, _BY_NAME, n=1)
            tip = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise InputError(f"{_where(path, doc, key)}: unknown option {key!r}{tip}")
        settings[name] = value
    return path, settings


def _where(path: str, doc: Mapping[Any, Any], key: Any) -> str:
    """``path:line`` of ``key`` in the top-level mapping of the YAML file, or just ``path``."""
    try:
        with open(path, encoding="utf-8") as fh:
            node = yaml.compose(fh)
    except (OSError, yaml.YAMLError):
        return path
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if key_node.value == str(key):
                return f"{path}:{key_node.start_mark.line + 1}"
    return path


#: ``FLEET_*`` variables that are not options but are read on purpose
ENV_EXTRAS = frozenset({"FLEET_SHARDS"})


def check_environment(environ: Mapping[str, str]) -> list[str]:
    """Refuse a password in ``FLEET_*``; return warnings for ``FLEET_*`` names fleet does not know."""
    known = {"FLEET_" + o.name.upper() for o in OPTIONS} | ENV_EXTRAS
    warnings = []
    for name in sorted(environ):
        if not name.startswith("FLEET_") or name in known:
            continue
        if "PASSWORD" in name.upper():
            raise InputError(f"{name}: passwords are never taken from FLEET_* variables; set the variable "
                             "obshell_password_env names (default OBSHELL_AGENT_PASSWORD) instead")
        hint = difflib.get_close_matches(name, known, n=1)
        tip = f" (did you mean {hint[0]}?)" if hint else ""
        warnings.append(f"ignoring unknown environment variable {name}{tip}")
    return warnings


def resolve(args: argparse.Namespace, environ: Mapping[str, str], file_settings: Mapping[str, Any],
            file_name: str | None) -> None:
    """Fill every option ``args`` lacks from the environment, the config file, then defaults.

    Values given on the command line are converted and checked the same way (``--serial
    1,5,20%`` becomes a list, ``--forks 0`` is refused).
    """
    for option in OPTIONS:
        if not hasattr(args, option.name):
            continue
        given = getattr(args, option.name)
        if given is not None:
            flag = "--" + option.name.replace("_", "-")
            setattr(args, option.name, _convert(option, given, flag))
            continue
        env_name = "FLEET_" + option.name.upper()
        if env_name in environ:
            setattr(args, option.name, _convert(option, environ[env_name], env_name))
        elif option.name in file_settings:
            setattr(args, option.name, _convert(option, file_settings[option.name], f"{file_name}: {option.name}"))
        else:
            setattr(args, option.name, option.default)


def _convert(option: Option, value: Any, where: str) -> Any:
    try:
        return option.convert(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: bad value {value!r} for {option.name}: {exc}") from None
