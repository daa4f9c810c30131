"""fleet and ansible-core read the same inventories into the same hosts and obshell variables.

Every case under ``tests/inventories/`` (a ``case.yml`` naming its ``-i`` sources, ``-e``
options and host patterns) is loaded twice, in-process: by ansible-core's ``InventoryManager``
and ``VariableManager`` (with a ``DataLoader``, as ``ansible-playbook`` loads it) and by fleet.
For each pattern the selected host names must be equal, and for each host every variable fleet
reads must resolve to the same value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("ANSIBLE_HOME", "/tmp/fleet-test-ansible-home")
os.environ.setdefault("ANSIBLE_LOCAL_TEMP", "/tmp/fleet-test-ansible-home/tmp")
os.environ.pop("ANSIBLE_CONFIG", None)  # defaults only: no ansible.cfg of the machine applies
os.environ["ANSIBLE_HOST_PATTERN_MISMATCH"] = "ignore"

from ansible import context
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.collections import ImmutableDict
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.parsing.dataloader import DataLoader
from ansible.utils.vars import load_extra_vars
from ansible.vars.manager import VariableManager

from fleet.cli.inventory import host_variables
from fleet.inventory import Inventory, load_inventory, select
from fleet.inventory.variables import DEFAULTS

CORPUS = Path(__file__).resolve().parent / "inventories"
CASES = sorted(p.parent.name for p in CORPUS.glob("*/case.yml"))


def _case(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((CORPUS / name / "case.yml").read_text())
    return doc


def _sources(name: str, case: dict[str, Any]) -> list[str]:
    base = CORPUS / name
    return [str(base / s) if (base / s).exists() else s for s in case["sources"]]


def _ansible(name: str, case: dict[str, Any]) -> tuple[InventoryManager, VariableManager]:
    load_extra_vars.extra_vars = None  # ansible caches -e per process
    context.CLIARGS = ImmutableDict(extra_vars=tuple(
        ("@" + str(CORPUS / name / e[1:])) if e.startswith("@") else e for e in case.get("extra_vars", ())))
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=_sources(name, case))
    return manager, VariableManager(loader=loader, inventory=manager)


def _fleet(name: str, case: dict[str, Any]) -> Inventory:
    old = os.getcwd()
    os.chdir(CORPUS / name)  # -e @file is relative, as on a command line
    try:
        return load_inventory(_sources(name, case), extra_vars=case.get("extra_vars", ()))
    finally:
        os.chdir(old)


def _normalise(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Ansible's untyped values as fleet reads them (modules would convert them the same way)."""
    out = {}
    for key, default in DEFAULTS.items():
        value = raw.get(key, default)
        if key == "ansible_host":
            value = str(value if value is not None else name).strip("[]")
        elif key == "obshell_port":
            value = int(value)
        elif key == "obshell_verify_tls":
            value = boolean(value)
        elif value is not None:
            value = str(value)
        out[key] = value
    return out


@pytest.mark.parametrize("name", CASES)
def test_selected_hosts_match_ansible(name: str) -> None:
    """For every pattern of the case, fleet selects exactly the hosts ansible-core selects."""
    case = _case(name)
    manager, _ = _ansible(name, case)
    inventory = _fleet(name, case)
    assert {h.name for h in inventory.hosts} == {h.name for h in manager.get_hosts("all")}
    for pattern in case["patterns"]:
        theirs = {h.name for h in manager.get_hosts(pattern)}
        ours = {h.name for h in select(inventory, pattern, allow_unmatched=True)} if theirs else set()
        assert ours == theirs, pattern


@pytest.mark.parametrize("name", CASES)
def test_resolved_variables_match_ansible(name: str) -> None:
    """Every host's obshell variables and ansible_host resolve to the values ansible-core resolves."""
    case = _case(name)
    manager, variables = _ansible(name, case)
    inventory = _fleet(name, case)
    for host in inventory.hosts:
        raw = variables.get_vars(host=manager.get_host(host.name))
        assert host_variables(host) == _normalise(host.name, raw), host.name


@pytest.mark.parametrize("name", CASES)
def test_groups_match_ansible(name: str) -> None:
    """Each host belongs to the same groups (all and ungrouped aside) in fleet and ansible-core."""
    case = _case(name)
    manager, _ = _ansible(name, case)
    inventory = _fleet(name, case)
    for host in inventory.hosts:
        theirs = {g.name for g in manager.get_host(host.name).get_groups()} - {"all", "ungrouped"}
        assert set(host.groups) == theirs, host.name


def test_corpus_covers_every_format() -> None:
    """The corpus has a case for YAML, INI, INI without extension, a directory, several -i,
    an executable script, a host list and -e."""
    assert {"yaml", "ini", "ini_noext", "directory", "multi", "script", "host_list", "extra_vars"} <= set(CASES)
    assert os.access(CORPUS / "script" / "inventory.sh", os.X_OK)
