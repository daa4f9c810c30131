"""Option defaults from ``fleet.yaml`` (or ``--config``) and ``FLEET_*`` variables.

Precedence: command line > environment > config file > built-in default. The command line
parser leaves options it was not given as ``None``; :func:`resolve` fills them in and records
where each value came from (``args.option_sources``). On ``--resume`` the journal's recorded
values of the options that shape a run (:data:`RUN_SHAPING`) come right after the command
line: command line > journal > environment > config file > default (:func:`replay`).
"""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from fleet.api.options import DEFAULTS, NOT_REPLAYED, ORDERS, RUN_SHAPING
from fleet.errors import InputError
from fleet.regularfile import open_regular

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
    if not value > 0 or value == float("inf"):
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


def _transport(text: Any) -> str:
    value = str(text).strip().lower()
    if value not in {"lean", "aiohttp"}:
        raise ValueError("expected lean or aiohttp")
    return value


def _serial(text: Any) -> list[str]:
    if isinstance(text, list):
        return [str(x) for x in text]
    return [part for part in str(text).split(",") if part.strip()]


def _order(text: Any) -> str:
    value = str(text)
    if value not in ORDERS:
        raise ValueError(f"expected one of {', '.join(ORDERS)}")
    return value


def _non_negative_float(text: Any) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"{text!r} must not be negative")
    return value


def _inventories(value: Any) -> list[str]:
    """One or more inventory sources: a list (``-i`` repeated, a YAML list) or one string."""
    if isinstance(value, list | tuple):
        if not value or not all(isinstance(v, str) and v for v in value):
            raise ValueError("expected inventory paths")
        return list(value)
    if not isinstance(value, str) or not value:
        raise ValueError("expected an inventory path")
    return [value]


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    default: Any
    convert: Callable[[Any], Any] = str


_D = DEFAULTS  # the API's RunOptions holds every run option's one default

OPTIONS: tuple[Option, ...] = (
    Option("inventory", None, _inventories),
    Option("limit", _D["limit"]),
    Option("allow_unmatched", _D["allow_unmatched"], _bool),
    Option("forks", _D["forks"], _positive_int),
    Option("timeout", _D["timeout"], _positive_float),
    Option("connect_timeout", _D["connect_timeout"], _positive_float),
    Option("request_timeout", _D["request_timeout"], _positive_float),
    Option("auth_lifetime", _D["auth_lifetime"], _positive_int),
    Option("polls_in_flight", _D["polls_in_flight"], _positive_int),
    Option("poll_cap", _D["poll_cap"], _positive_float),
    Option("transport", _D["transport"], _transport),
    Option("grace", _D["grace"], _non_negative_float),
    Option("output", None),
    Option("journal", _D["journal"]),
    Option("no_journal", _D["no_journal"], _bool),
    Option("junit", None),
    Option("retry_file", None),
    Option("serial", _D["serial"], _serial),
    Option("max_fail_percentage", _D["max_fail_percentage"], _percentage),
    Option("canary", _D["canary"], _non_negative_int),
    Option("order", _D["order"], _order),
    Option("shard", _D["shard"]),
    Option("quiet", False, _bool),
    Option("log_level", None),
    Option("log_format", "auto"),
    Option("refire_ambiguous", _D["refire_ambiguous"], _bool),
    Option("step", _D["step"], _bool),
    Option("retry_failed", _D["retry_failed"], _non_negative_int),
)
_BY_NAME = {o.name: o for o in OPTIONS}


def default_text(name: str) -> str:
    """``(default 64)``: an option's default for its help text, from the one source of defaults."""
    value = _BY_NAME[name].default
    return f"(default {value:g})" if isinstance(value, float) else f"(default {value})"


#: Where an option's value came from, as ``args.option_sources`` and the summary's ``options`` say.
SOURCE_CLI = "command line"
SOURCE_JOURNAL = "journal"
SOURCE_ENV = "environment"
#: A config file is a few options: one larger than this is not one.
MAX_CONFIG_BYTES = 1024 * 1024
SOURCE_FILE = "config file"
SOURCE_DEFAULT = "default"


def load_config_file(path: str | None) -> tuple[str | None, dict[str, Any]]:
    """Read ``--config`` (must exist) or ``./fleet.yaml`` (optional)."""
    explicit = path is not None
    path = path or DEFAULT_CONFIG
    if not os.path.exists(path):
        if explicit:
            raise InputError(f"{path}: config file not found")
        return None, {}
    try:
        with open_regular(path) as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise InputError(f"{path}: config file is larger than {MAX_CONFIG_BYTES // 1024} KiB")
        text = data.decode("utf-8")
        doc = yaml.safe_load(text) or {}
    except UnicodeDecodeError:
        raise InputError(f"{path}: config file is not UTF-8 text") from None
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
            raise InputError(f"{_where(path, text, key)}: {key!r}: passwords do not belong in config files; "
                             "set the variable obshell_password_env names (default OBSHELL_AGENT_PASSWORD) "
                             "or obshell_password_file in the inventory")
        if name not in _BY_NAME:
            hint = difflib.get_close_matches(name, _BY_NAME, n=1)
            tip = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise InputError(f"{_where(path, text, key)}: unknown option {key!r}{tip}")
        settings[name] = value
    return path, settings


def _where(path: str, text: str, key: Any) -> str:
    """``path:line`` of ``key`` in the top-level mapping of the YAML ``text`` read from ``path``, or just ``path``."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return path
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if key_node.value == str(key):
                return f"{path}:{key_node.start_mark.line + 1}"
    return path


#: ``FLEET_*`` variables that are not options but are read on purpose
ENV_EXTRAS = frozenset({"FLEET_SHARDS", "FLEET_HOME"})


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
    1,5,20%`` becomes a list, ``--forks 0`` is refused). ``args.option_sources`` maps each
    option filled in to ``SOURCE_CLI``, ``SOURCE_ENV``, ``SOURCE_FILE`` or ``SOURCE_DEFAULT``.
    """
    sources: dict[str, str] = {}
    for option in OPTIONS:
        if not hasattr(args, option.name):
            continue
        given = getattr(args, option.name)
        if given is not None:
            flag = "--" + option.name.replace("_", "-")
            setattr(args, option.name, _convert(option, given, flag))
            sources[option.name] = SOURCE_CLI
            continue
        env_name = "FLEET_" + option.name.upper()
        if env_name in environ:
            setattr(args, option.name, _convert(option, environ[env_name], env_name))
            sources[option.name] = SOURCE_ENV
        elif option.name in file_settings:
            setattr(args, option.name, _convert(option, file_settings[option.name], f"{file_name}: {option.name}"))
            sources[option.name] = SOURCE_FILE
        else:
            setattr(args, option.name, option.default)
            sources[option.name] = SOURCE_DEFAULT
    args.option_sources = sources


def recorded_options(args: argparse.Namespace) -> dict[str, Any]:
    """The run-shaping options' values, as the journal's header records them."""
    return {name: getattr(args, name) for name in RUN_SHAPING if hasattr(args, name)}


def replay(args: argparse.Namespace, recorded: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``--resume``: take each run-shaping option the journal recorded unless the command line gave it.

    Returns the overrides: ``{name: {"journal": recorded, "value": given}}`` for each option
    given on the command line with a value other than the recorded one. Recorded values are
    checked as if typed (a tampered header is refused, naming ``where``).
    """
    sources: dict[str, str] = getattr(args, "option_sources", {})
    overrides: dict[str, Any] = {}
    for name in RUN_SHAPING:
        if name not in recorded or not hasattr(args, name) or name in NOT_REPLAYED:
            continue
        option = _BY_NAME[name]
        value = recorded[name]
        if value is not None:
            value = _convert(option, value, f"{where}: recorded {name}")
        if sources.get(name) == SOURCE_CLI:
            if getattr(args, name) != value:
                overrides[name] = {"journal": value, "value": getattr(args, name)}
            continue
        setattr(args, name, value)
        sources[name] = SOURCE_JOURNAL
    args.option_sources = sources
    return overrides


def option_report(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The summary's ``options``: each run-shaping option's value and where it came from."""
    sources: dict[str, str] = getattr(args, "option_sources", {})
    return {name: {"value": getattr(args, name), "source": sources.get(name, SOURCE_DEFAULT)}
            for name in RUN_SHAPING if hasattr(args, name)}


def _convert(option: Option, value: Any, where: str) -> Any:
    try:
        return option.convert(value)
    except (TypeError, ValueError, OverflowError) as exc:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise InputError(f"{where}: bad value {shown} for {option.name}: {str(exc)[:120]}") from None
