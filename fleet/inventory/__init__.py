"""The inventory: Ansible inventories into HostSpecs, host patterns, shards and passwords.

Pure logic without network I/O (an inventory script is the one process it may run).
``load_inventory`` reads YAML, INI, directories, host lists and inventory scripts, with
``group_vars``/``host_vars`` and ``-e``; ``select`` applies an Ansible host pattern
(``--limit``); ``shard`` splits a selection across machines; ``check_tls_files`` checks the
TLS files of the selected hosts; ``resolve_passwords`` finds each host's agent password.
"""

from fleet.inventory.credentials import resolve_passwords
from fleet.inventory.data import Inventory
from fleet.inventory.loader import load_inventory
from fleet.inventory.patterns import select, shard
from fleet.inventory.tls import check_tls_files

__all__ = ["Inventory", "check_tls_files", "load_inventory", "resolve_passwords", "select", "shard"]
