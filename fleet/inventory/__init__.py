"""The inventory: Ansible-style YAML files into HostSpecs, host patterns, shards and passwords.

Pure logic without network I/O. ``load_inventory`` reads one file; ``select`` applies an
Ansible host pattern (``--limit``); ``shard`` splits a selection across machines;
``resolve_passwords`` finds each host's agent password.
"""

from fleet.inventory.credentials import resolve_passwords
from fleet.inventory.loader import Inventory, load_inventory
from fleet.inventory.patterns import select, shard

__all__ = ["Inventory", "load_inventory", "resolve_passwords", "select", "shard"]
