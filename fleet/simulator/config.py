"""The simulator's configuration: a YAML file validated into frozen settings, one per agent.

Schema (see ``fleet-sim.example.yaml`` at the repository root for a commented example)::

    seed: 7                  # RNG seed (the CLI's --seed overrides it)
    key_pool: 64             # distinct RSA key pairs per key size, shared round-robin
    defaults: {SETTINGS}     # applied to every agent
    agents:                  # overrides; keys are "ip:port", "ip" (any port) or "ip-ip" (inclusive range)
      "127.30.0.5:2886": {SETTINGS}
    random_faults:           # faults spread over the fleet with the seed, on disjoint agent sets
      dag_fails: 0.05        # a float in (0, 1] is a share of the agents, an int >= 1 a count
      slow: {share: 10, value: 3}   # or a mapping with the fault's value

SETTINGS keys: version, identity, zone, is_obproxy_agent, agent_password_set, password,
password_env, ob_password, dag_duration [min, max], error_style (auto|modern|legacy),
key_bits (1024|512), clock_skew, utc_offset, history (old finished DAGs the agent kept in sqlite
before it started: dag ids 1..N, synthesised on demand, so 50,000 cost no memory),
history_local_every (every Nth old DAG is a non-ODP local DAG sharing the id sequence),
dags (DAGs the agent already has at startup, after its history: a list of {kind:
start|stop|add|upgrade|delete, state: RUNNING|READY|PENDING|FAILED|SUCCEED, stage: N}; a running
one stays so until an operator acts on it), health_check ({tries: N, interval: S}: the start
DAG's last node sleeps S seconds (default 10, obshell's) before each health check and the ODP
answers the Nth; over 100 tries the DAG fails, as obshell's does), ipv4_mapped (the agent's own
address is ``::ffff:`` + its IPv4 address), faults {FAULTS}.

FAULTS keys: refuse, blackhole, hang, http500, garbage, truncated, oversize, bad_types (each ``true`` for
every route or a list of route names), slow (seconds), dag_fails (true, or the number of runs
that fail), dag_stuck, key_rotation ({after_requests: N} or {every_seconds: K}),
busy_lookups (true, or N: DAG lookups after the first start answered 404 Task.NotFound with a
lookup error that is not "record not found", as obshell answers a busy sqlite), forget_dags_after (seconds after the
first start; the agent comes back with no DAGs — real obshell never does this, it is a fault),
restart_after (seconds after the first start; the agent restarts as obshell does: new pid,
startAt and key pair, DAG history kept), flaky_polls (N),
drop_after_start,
die_after (seconds after the first start), hostile {HOSTILE} (see :mod:`fleet.simulator.hostile`).

Errors are :class:`ConfigError` with ``file:line`` when the YAML position is known.
"""

from __future__ import annotations

import ipaddress
import os
import random
from dataclasses import replace
from typing import Any

import yaml

from fleet.protocol.clock import parse_offset
from fleet.simulator import yamlcheck as check
from fleet.simulator.dag import DAG_NAMES, KINDS, NODE_NAMES
from fleet.simulator.hostile import Hostile, parse_hostile
from fleet.simulator.settings import (
    IDENTITIES,
    AgentSettings,
    ConfigError,
    Faults,
    PlantedDag,
    RandomFault,
    SimConfig,
)
from fleet.simulator.yamlcheck import Lines


def load_config(path: str) -> SimConfig:
    """Read and validate a YAML config file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, path)


def parse_config(text: str, source: str = "<config>") -> SimConfig:
    """Validate YAML text (or an empty document) into a :class:`SimConfig`."""
    lines = Lines(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = {} if node is None else check.to_python(node, (), lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    return config_from_dict(doc, lines)


def config_from_dict(doc: Any, lines: Lines | None = None) -> SimConfig:
    """Validate an already-parsed document (tests may pass a dict directly)."""
    lines = lines or Lines("<config>")
    if not isinstance(doc, dict):
        raise lines.error((), "the configuration must be a mapping")
    check.check_keys(doc, ("seed", "key_pool", "defaults", "agents", "random_faults"), (), lines)
    seed = check.integer(doc.get("seed", 0), ("seed",), lines)
    key_pool = check.integer(doc.get("key_pool", 64), ("key_pool",), lines, minimum=1)
    defaults = doc.get("defaults") or {}
    build_settings(AgentSettings(), defaults, ("defaults",), lines)  # validate now
    agents_doc = doc.get("agents") or {}
    if not isinstance(agents_doc, dict):
        raise lines.error(("agents",), "must be a mapping of address → settings")
    agents = []
    for key, overrides in agents_doc.items():
        _parse_selector(str(key), ("agents", key), lines)
        build_settings(AgentSettings(), overrides or {}, ("agents", key), lines)
        agents.append((str(key), overrides or {}))
    randoms = _parse_random_faults(doc.get("random_faults") or {}, lines)
    return SimConfig(seed, key_pool, defaults, tuple(agents), randoms, lines.source)


# -- settings -------------------------------------------------------------------------------

_SETTINGS_KEYS = ("version", "identity", "zone", "is_obproxy_agent", "agent_password_set", "password",
                  "password_env", "ob_password", "dag_duration", "error_style", "key_bits", "clock_skew",
                  "utc_offset", "history", "history_local_every", "dags", "health_check", "ipv4_mapped", "faults")
_ROUTE_FAULTS = ("hang", "http500", "garbage", "truncated", "oversize", "bad_types")
_FAULT_KEYS = ("refuse", "blackhole", *_ROUTE_FAULTS, "slow", "dag_fails", "dag_stuck", "key_rotation",
               "forget_dags_after", "restart_after", "flaky_polls", "drop_after_start", "die_after",
               "busy_lookups", "hostile")
#: The value a ``random_faults`` entry applies when it gives none.
RANDOM_FAULT_DEFAULTS: dict[str, Any] = {
    "refuse": True, "blackhole": True, "hang": True, "http500": True, "garbage": True, "truncated": True,
    "oversize": True, "bad_types": True, "slow": 2.0, "dag_fails": True, "dag_stuck": True,
    "key_rotation": {"after_requests": 2}, "forget_dags_after": 3.0, "restart_after": 1.0,
    "flaky_polls": 2, "drop_after_start": True, "busy_lookups": 2,
    "die_after": 1.0, "hostile": {"control_chars": True},
}


def build_settings(base: AgentSettings, doc: Any, path: tuple[Any, ...], lines: Lines) -> AgentSettings:
    """``base`` with the overrides of ``doc`` applied (faults merge key by key)."""
    if not isinstance(doc, dict):
        raise lines.error(path, "must be a mapping of settings")
    check.check_keys(doc, _SETTINGS_KEYS, path, lines)
    changes: dict[str, Any] = {}
    for key, value in doc.items():
        where = (*path, key)
        if key in ("version", "zone", "password", "ob_password"):
            changes[key] = check.text(value, where, lines)
        elif key == "password_env":
            name = check.text(value, where, lines)
            if name not in os.environ:
                raise lines.error(where, f"environment variable {name} is not set")
            changes["password"] = os.environ[name]
        elif key == "identity":
            changes[key] = check.choice(value, IDENTITIES, where, lines)
        elif key in ("is_obproxy_agent", "agent_password_set", "ipv4_mapped"):
            changes[key] = check.flag(value, where, lines)
        elif key == "dag_duration":
            if not isinstance(value, list) or len(value) != 2:
                raise lines.error(where, "must be [min, max] seconds")
            low, high = (check.number(v, (*where, i), lines) for i, v in enumerate(value))
            if high < low:
                raise lines.error(where, "max is below min")
            changes[key] = (low, high)
        elif key == "error_style":
            changes[key] = check.choice(value, ("auto", "modern", "legacy"), where, lines)
        elif key == "key_bits":
            changes[key] = check.choice(value, (1024, 512), where, lines)
        elif key == "clock_skew":
            changes[key] = check.number(value, where, lines, minimum=None)
        elif key == "utc_offset":
            text = check.text(value, where, lines)
            if parse_offset(text) is None:
                raise lines.error(where, "must look like +08:00 or Z (an offset within ±23:59)")
            changes[key] = text
        elif key in ("history", "history_local_every"):
            changes[key] = check.integer(value, where, lines)
        elif key == "dags":
            changes[key] = _planted(value, where, lines)
        elif key == "health_check":
            if not isinstance(value, dict):
                raise lines.error(where, "must be {tries: N, interval: seconds}")
            check.check_keys(value, ("tries", "interval"), where, lines)
            changes["health_check_tries"] = check.integer(value.get("tries", 0), (*where, "tries"), lines)
            interval = check.number(value.get("interval", 10.0), (*where, "interval"), lines)
            if interval <= 0:
                raise lines.error((*where, "interval"), "must be > 0")
            changes["health_check_interval"] = interval
        elif key == "faults":
            changes[key] = _build_faults(base.faults, value, where, lines)
    return replace(base, **changes)


_PLANTED_STATES = ("RUNNING", "READY", "PENDING", "FAILED", "SUCCEED")


def _planted(value: Any, path: tuple[Any, ...], lines: Lines) -> tuple[PlantedDag, ...]:
    if not isinstance(value, list):
        raise lines.error(path, "must be a list of {kind, state, stage}")
    out = []
    for i, item in enumerate(value):
        where = (*path, i)
        if not isinstance(item, dict):
            raise lines.error(where, "must be a mapping {kind, state, stage}")
        check.check_keys(item, ("kind", "state", "stage"), where, lines)
        if "kind" not in item or "state" not in item:
            raise lines.error(where, "needs a kind and a state")
        kind = check.choice(item["kind"], KINDS, (*where, "kind"), lines)
        state = check.choice(item["state"], _PLANTED_STATES, (*where, "state"), lines)
        stages = len(NODE_NAMES[kind])
        stage = check.integer(item.get("stage", 1), (*where, "stage"), lines, minimum=1)
        if stage > stages:
            raise lines.error((*where, "stage"), f"a '{DAG_NAMES[kind]}' DAG has {stages} stages")
        out.append(PlantedDag(kind, state, stage))
    return tuple(out)


def _build_faults(base: Faults, doc: Any, path: tuple[Any, ...], lines: Lines) -> Faults:
    if not isinstance(doc, dict):
        raise lines.error(path, "must be a mapping of faults")
    check.check_keys(doc, _FAULT_KEYS, path, lines)
    changes: dict[str, Any] = {}
    for key, value in doc.items():
        where = (*path, key)
        if key in _ROUTE_FAULTS:
            changes[key] = check.route_set(value, where, lines)
        elif key in ("refuse", "blackhole", "dag_stuck", "drop_after_start"):
            changes[key] = check.flag(value, where, lines)
        elif key == "slow":
            changes[key] = check.number(value, where, lines)
        elif key in ("dag_fails", "busy_lookups"):
            changes[key] = (10**9 if value else 0) if isinstance(value, bool) else check.integer(value, where, lines)
        elif key == "flaky_polls":
            changes[key] = check.integer(value, where, lines)
        elif key == "hostile":
            changes[key] = _hostile(base.hostile, value, where, lines)
        elif key in ("forget_dags_after", "restart_after", "die_after"):
            changes[key] = None if value is None else check.number(value, where, lines)
        elif key == "key_rotation":
            if value in (None, False):
                changes.update(rotate_after_requests=0, rotate_every=0.0)
                continue
            if not isinstance(value, dict) or len(value) != 1:
                raise lines.error(where, "must be {after_requests: N} or {every_seconds: K}")
            check.check_keys(value, ("after_requests", "every_seconds"), where, lines)
            if "after_requests" in value:
                n = check.integer(value["after_requests"], (*where, "after_requests"), lines, minimum=1)
                changes.update(rotate_after_requests=n, rotate_every=0.0)
            else:
                k = check.number(value["every_seconds"], (*where, "every_seconds"), lines)
                if k <= 0:
                    raise lines.error((*where, "every_seconds"), "must be > 0")
                changes.update(rotate_every=k, rotate_after_requests=0)
    return replace(base, **changes)


def _hostile(base: Hostile, value: Any, path: tuple[Any, ...], lines: Lines) -> Hostile:
    return parse_hostile(base, value, lambda v, k: check.route_set(v, (*path, k), lines),
                         lambda k, message: lines.error(path + ((k,) if k else ()), message))


def _parse_random_faults(doc: Any, lines: Lines) -> tuple[RandomFault, ...]:
    path: tuple[Any, ...] = ("random_faults",)
    if not isinstance(doc, dict):
        raise lines.error(path, "must be a mapping of fault → share")
    check.check_keys(doc, _FAULT_KEYS, path, lines)
    out = []
    total_share = 0.0
    for name, spec in doc.items():
        where = (*path, name)
        value = RANDOM_FAULT_DEFAULTS[name]
        if isinstance(spec, dict):
            check.check_keys(spec, ("share", "value"), where, lines)
            if "share" not in spec:
                raise lines.error(where, "needs a share (a fraction or a count)")
            value = spec.get("value", value)
            spec = spec["share"]
            where = (*where, "share")
        _build_faults(Faults(), {name: value}, (*path, name), lines)  # validate the value
        if isinstance(spec, bool) or not isinstance(spec, (int, float)):
            raise lines.error(where, "must be a fraction in (0, 1] or a count >= 1")
        if isinstance(spec, int):
            if spec < 1:
                raise lines.error(where, "a count must be >= 1")
            out.append(RandomFault(name, None, spec, value))
        else:
            if not 0 < spec <= 1:
                raise lines.error(where, "a fraction must be in (0, 1]")
            total_share += spec
            out.append(RandomFault(name, spec, None, value))
    if total_share > 1 + 1e-9:
        raise lines.error(path, f"shares add up to {total_share:g} > 1 (faults go to disjoint agents)")
    return tuple(out)


def _parse_selector(key: str, path: tuple[Any, ...], lines: Lines) -> None:
    try:
        parse_selector(key)
    except ValueError as exc:
        raise lines.error(path, str(exc)) from None


def parse_selector(key: str) -> tuple[int, int, int | None]:
    """``(first ip int, last ip int, port or None)`` for an ``agents:`` key."""
    port: int | None = None
    text = key
    if ":" in text:
        text, _, port_text = text.rpartition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port in agent selector {key!r}")
        port = int(port_text)
    first, _, last = text.partition("-")
    try:
        lo = int(ipaddress.IPv4Address(first.strip()))
        hi = int(ipaddress.IPv4Address(last.strip())) if last else lo
    except ValueError:
        raise ValueError(f"agent selector {key!r} is not ip, ip:port or ip-ip") from None
    if hi < lo:
        raise ValueError(f"agent range {key!r} ends before it starts")
    return lo, hi, port


# -- resolving the fleet ------------------------------------------------------------------------


def resolve_settings(config: SimConfig, addresses: list[tuple[str, int]], seed: int) -> list[AgentSettings]:
    """Each agent's settings: defaults, then its random fault (seeded, disjoint), then its overrides.

    Agents with the same resolution share one :class:`AgentSettings` object.
    """
    lines = Lines(config.source)
    base = build_settings(AgentSettings(), dict(config.defaults), ("defaults",), lines)
    n = len(addresses)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    fault_of: dict[int, int] = {}
    cursor = 0
    for index, rf in enumerate(config.random_faults):
        want = rf.count if rf.count is not None else round((rf.share or 0.0) * n)
        for i in order[cursor : cursor + want]:
            fault_of[i] = index
        cursor += want
    selectors = [(parse_selector(key), key, doc) for key, doc in config.agents]
    cache: dict[tuple[int | None, tuple[str, ...]], AgentSettings] = {}
    out = []
    for i, (ip, port) in enumerate(addresses):
        ip_int = int(ipaddress.ip_address(ip))
        matched = tuple(key for (lo, hi, p), key, _ in selectors if lo <= ip_int <= hi and p in (None, port))
        cache_key = (fault_of.get(i), matched)
        settings = cache.get(cache_key)
        if settings is None:
            settings = base
            if cache_key[0] is not None:
                rf = config.random_faults[cache_key[0]]
                faults = _build_faults(settings.faults, {rf.name: rf.raw_value}, ("random_faults", rf.name), lines)
                settings = replace(settings, faults=faults)
            for (_, key, doc) in (s for s in selectors if s[1] in matched):
                settings = build_settings(settings, dict(doc), ("agents", key), lines)
            cache[cache_key] = settings
        out.append(settings)
    return out
