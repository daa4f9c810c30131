"""A simulated obshell fleet: many agents on loopback addresses, with configurable faults.

Part of the product (``fleet simulate``), used by fleet's own tests and soaks. It reuses
:mod:`fleet.protocol` and :mod:`fleet.models` only — never the engine, client or CLI.

Modules: :mod:`~fleet.simulator.config` (YAML schema), :mod:`~fleet.simulator.keys` (RSA key
pool, 512-bit keys), :mod:`~fleet.simulator.agent` (pure agent logic),
:mod:`~fleet.simulator.server` (aiohttp serving), :mod:`~fleet.simulator.state` (state file),
:mod:`~fleet.simulator.cli` (command line).
"""

from fleet.simulator.config import AgentSettings, ConfigError, Faults, SimConfig, config_from_dict, load_config
from fleet.simulator.server import AddressError, Simulator

__all__ = ["AddressError", "AgentSettings", "ConfigError", "Faults", "SimConfig", "Simulator",
           "config_from_dict", "load_config"]
