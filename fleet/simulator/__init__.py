"""A simulated obshell fleet: many agents on loopback addresses, with configurable faults.

Part of the product (``fleet simulate``), used by fleet's own tests and soaks. It reuses
:mod:`fleet.protocol` and :mod:`fleet.models` only — never the engine, client or CLI.

Modules: - settings: :mod:`~fleet.simulator.config` (YAML schema, validation),
  :mod:`~fleet.simulator.settings` (the frozen values), :mod:`~fleet.simulator.yamlcheck`
  (line numbers, scalar checks), :mod:`~fleet.simulator.keys` (RSA key pool, 512-bit keys);
- one agent, pure: :mod:`~fleet.simulator.agent` (state, answer order, time-driven faults),
  :mod:`~fleet.simulator.exchange` (request, answer, refusal), :mod:`~fleet.simulator.routing`,
  :mod:`~fleet.simulator.verify` (credentials), :mod:`~fleet.simulator.handlers` (ODP and DAG
  routes), :mod:`~fleet.simulator.dag` and :mod:`~fleet.simulator.operators` (DAG lifecycle),
  :mod:`~fleet.simulator.dto` and :mod:`~fleet.simulator.replies` (answers),
  :mod:`~fleet.simulator.hostile` (hostile rewrites);
- I/O: :mod:`~fleet.simulator.server` (aiohttp serving), :mod:`~fleet.simulator.state` (state
  file), :mod:`~fleet.simulator.cli` (command line).
"""

from __future__ import annotations

import importlib
from typing import Any

#: name → the module defining it. Loaded on first use (PEP 562): ``fleet start`` registers the
#: ``simulate`` subcommand through :mod:`fleet.simulator.cli`, and importing the server (aiohttp)
#: with it cost every run ~0.3 s of CPU.
_LAZY = {"AgentSettings": "settings", "ConfigError": "settings", "Faults": "settings", "SimConfig": "settings",
         "config_from_dict": "config", "load_config": "config", "AddressError": "server", "Simulator": "server"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
