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

from fleet.simulator.config import config_from_dict, load_config
from fleet.simulator.server import AddressError, Simulator
from fleet.simulator.settings import AgentSettings, ConfigError, Faults, SimConfig

__all__ = ["AddressError", "AgentSettings", "ConfigError", "Faults", "SimConfig", "Simulator",
           "config_from_dict", "load_config"]
