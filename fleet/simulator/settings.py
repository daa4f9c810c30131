"""The simulator's settings as frozen values: one :class:`AgentSettings` per distinct agent
behaviour (shared between agents), with its :class:`Faults`. Built and validated by
:mod:`fleet.simulator.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.protocol.agentinfo import ERR_CODES_SINCE, Identity, version_tuple
from fleet.simulator.hostile import Hostile

IDENTITIES = tuple(Identity)
DEFAULT_VERSION = "4.3.2.0-100000012025010112"
DEFAULT_PASSWORD = "fleet-sim-password"


class ConfigError(ValueError):
    """Raised when a simulator configuration is invalid; the message points at file:line."""


@dataclass(frozen=True, slots=True)
class Faults:
    """What goes wrong on one agent. Route-set faults are empty when off."""

    refuse: bool = False
    blackhole: bool = False
    hang: frozenset[str] = frozenset()
    http500: frozenset[str] = frozenset()
    garbage: frozenset[str] = frozenset()
    truncated: frozenset[str] = frozenset()
    oversize: frozenset[str] = frozenset()
    bad_types: frozenset[str] = frozenset()
    slow: float = 0.0
    dag_fails: int = 0
    dag_stuck: bool = False
    rotate_after_requests: int = 0
    rotate_every: float = 0.0
    forget_dags_after: float | None = None
    restart_after: float | None = None
    flaky_polls: int = 0
    drop_after_start: bool = False
    die_after: float | None = None
    #: DAG lookups (GET or POST ``/api/v1/task/dag/{id}``) after the agent's first start answered
    #: 404 ``Task.NotFound`` with a lookup error that is not "record not found" (a busy sqlite),
    #: before lookups work again
    busy_lookups: int = 0
    hostile: Hostile = field(default_factory=Hostile)


@dataclass(frozen=True, slots=True)
class PlantedDag:
    """A DAG the agent already has when the simulator starts (``dags:``), after its history:
    another operator's upgrade still running, a stop that failed in its first node, ...

    ``state`` RUNNING/READY/PENDING stays so until an operator acts on it; FAILED and SUCCEED are
    final. ``stage`` is the node it is at (or failed in), 1-based.
    """

    kind: str
    state: str
    stage: int = 1


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """One agent's behaviour. Shared by every agent with the same overrides (memory)."""

    version: str = DEFAULT_VERSION
    identity: str = Identity.SINGLE
    zone: str = "zone1"
    is_obproxy_agent: bool = True
    agent_password_set: bool = True
    password: str = DEFAULT_PASSWORD
    ob_password: str = ""
    dag_duration: tuple[float, float] = (2.0, 4.0)
    error_style: str = "auto"
    key_bits: int = 1024
    clock_skew: float = 0.0
    utc_offset: str = "+08:00"
    history: int = 0
    history_local_every: int = 0
    #: DAGs planted at startup (ids after the history), oldest first
    dags: tuple[PlantedDag, ...] = ()
    #: the start DAG's health checks: how many the ODP needs before it answers (0: not modelled;
    #: over obshell's 100 tries the DAG fails), each after a sleep of ``health_check_interval``
    #: seconds (obshell: 10 s; a test scales it down)
    health_check_tries: int = 0
    health_check_interval: float = 10.0
    #: the agent's own address is the IPv4-mapped IPv6 form of the one it listens on
    #: (``::ffff:a.b.c.d``), as /info shows it and as its DAG ids are built from it
    ipv4_mapped: bool = False
    faults: Faults = field(default_factory=Faults)

    @property
    def legacy_errors(self) -> bool:
        """4.2.x error envelopes: explicit ``legacy``, or ``auto`` with a version below 4.3.1."""
        if self.error_style == "auto":
            return version_tuple(self.version) < ERR_CODES_SINCE
        return self.error_style == "legacy"


@dataclass(frozen=True, slots=True)
class RandomFault:
    """``random_faults`` entry: apply ``settings`` to ``count`` or ``share`` of the agents."""

    name: str
    share: float | None
    count: int | None
    raw_value: Any


@dataclass(frozen=True, slots=True)
class SimConfig:
    """A validated configuration. ``settings_for`` resolves one agent's settings."""

    seed: int = 0
    key_pool: int = 64
    defaults: Mapping[str, Any] = field(default_factory=dict)
    agents: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    random_faults: tuple[RandomFault, ...] = ()
    source: str = "<config>"

