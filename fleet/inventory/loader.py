"""``load_inventory``: one or more Ansible inventory sources into an :class:`Inventory`.

Each source is detected as Ansible's default plugins (``host_list``, ``script``, ``yaml``,
``ini``) detect it:

* a string that is no existing path and contains a comma is a host list (``-i 'a,b,'``);
* a directory is every entry in it, sorted, recursively — hidden entries, ``group_vars``,
  ``host_vars``, ``vars_plugins`` and names ending in ``.pyc .pyo .swp .bak ~ .rpm .md .txt
  .rst .orig .cfg .retry`` are skipped, as in Ansible;
* an executable file starting with ``#!`` is an inventory script (:mod:`.script`);
* ``.yml``, ``.yaml``, ``.json`` files are YAML; files without an extension are YAML when
  they hold a YAML mapping and INI otherwise; any other file is INI (:mod:`.inisource`).

Sources are read in order into one graph, so a later source's variable wins on the same
group or host; ``group_vars/`` and ``host_vars/`` beside each source (:mod:`.varsfiles`) and
``-e`` (:mod:`.extravars`) are then layered as :mod:`.data` describes.

After the merge, every host's address (``ansible_host``, else its name) must be one IPv4/IPv6
address or DNS name, and two host names may not reach one agent (address and port, after
normalisation): fleet would start it twice. Nothing is resolved or contacted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from fleet.errors import InventoryError
from fleet.inventory.addresses import AddressError, agent_identity, check_address
from fleet.inventory.data import Inventory, InventoryData, merge
from fleet.inventory.extravars import read_extra_vars
from fleet.inventory.inisource import read_ini_inventory
from fleet.inventory.ranges import parse_address
from fleet.inventory.script import SCRIPT_TIMEOUT, read_script_inventory
from fleet.inventory.variables import FleetVariables, Origin
from fleet.inventory.varsfiles import VarsDirectory
from fleet.inventory.yamlload import compose_text, read_text
from fleet.inventory.yamlsource import looks_like_yaml_inventory, name_problem, read_yaml_inventory
from fleet.models import HostSpec
from fleet.regularfile import open_regular

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
T = TypeVar("T")
IGNORED = re.compile(r"^\.|^host_vars$|^group_vars$|^vars_plugins$|"
                     r"(\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.cfg|\.retry)$")


def load_inventory(sources: str | Sequence[str], *, extra_vars: Sequence[str] = (),
                   script_timeout: float = SCRIPT_TIMEOUT) -> Inventory:
    """Read, validate and merge the inventory ``sources`` (one ``-i`` each), then ``extra_vars``.

    Raises :class:`~fleet.errors.InventoryError` (one line, with ``file:line`` where there is
    one) for anything unusable; never another exception for any file content.
    """
    paths = (sources,) if isinstance(sources, str) else tuple(sources)
    if not paths:
        raise InventoryError("no inventory: pass -i/--inventory")
    data = InventoryData()
    extra = read_extra_vars(extra_vars)
    env_value = extra.get("obshell_password_env")
    hidden = (env_value.value,) if env_value is not None and isinstance(env_value.value, str) else ()
    for source in paths:
        _read_source(source, data, in_directory=False, timeout=script_timeout, hidden_env=hidden)
    group_files: list[Callable[[str], FleetVariables]] = []
    host_files: list[Callable[[str], FleetVariables]] = []
    dirs: dict[str, VarsDirectory] = {}
    for source in paths:
        if "," in source and not os.path.exists(source):
            continue
        base = source if os.path.isdir(source) else os.path.dirname(source)
        for kind, into in (("group_vars", group_files), ("host_vars", host_files)):
            directory = os.path.join(base, kind)
            if directory not in dirs:
                dirs[directory] = VarsDirectory(directory)
                dirs[directory].preload()
            into.append(dirs[directory])
    path = paths[0] if len(paths) == 1 else ", ".join(paths)
    inventory, resolved = merge(data, path=path, sources=paths, group_files=group_files,
                                host_files=host_files, extra=extra)
    if not inventory.hosts:
        single_file = len(paths) == 1 and os.path.isfile(paths[0])
        raise InventoryError("inventory defines no hosts", paths[0] if len(paths) == 1 else path,
                             1 if single_file else None)
    warnings = _check_agents(inventory, resolved)
    return Inventory(path=inventory.path, hosts=inventory.hosts, groups=inventory.groups, sources=paths,
                     children=inventory.children, members=inventory.members, origins=inventory.origins,
                     warnings=tuple(warnings))


def _read_source(source: str, data: InventoryData, *, in_directory: bool, timeout: float,
                 hidden_env: tuple[str, ...] = ()) -> None:
    if not os.path.exists(source):
        if "," in source:
            _read_host_list(source, data)
            return
        raise InventoryError("cannot read inventory: No such file or directory "
                             "(a list of hosts needs a comma: -i 'host1,host2,')", source)
    if os.path.isdir(source):
        try:
            entries = sorted(os.listdir(source))
        except OSError as exc:
            raise InventoryError(f"cannot read inventory directory: {exc.strerror or exc}", source) from None
        for name in entries:
            if not IGNORED.search(name):
                _read_source(os.path.join(source, name), data, in_directory=True, timeout=timeout,
                             hidden_env=hidden_env)
        return
    if not os.path.isfile(source):
        raise InventoryError("inventory is not a regular file or a directory", source)
    if os.access(source, os.X_OK) and _has_shebang(source):
        _tagged("script", lambda: read_script_inventory(source, data, timeout, hidden_env=hidden_env))
        return
    ext = os.path.splitext(source)[1].lower()
    if ext == ".toml":
        raise InventoryError("TOML inventories are not supported by fleet; convert it to YAML or INI", source)
    text = read_text(source)
    if ext in YAML_EXTENSIONS:
        root = _tagged("YAML", lambda: compose_text(text, source))
        if in_directory and root is None:
            return  # Ansible reads an empty file in a directory as an empty INI inventory
        _tagged("YAML", lambda: read_yaml_inventory(source, root, data))
    elif not ext:
        try:
            root = compose_text(text, source)
        except InventoryError:
            root = None
        if looks_like_yaml_inventory(root):
            _tagged("YAML", lambda: read_yaml_inventory(source, root, data))
        else:
            _tagged("INI", lambda: read_ini_inventory(source, text, data))
    else:
        _tagged("INI", lambda: read_ini_inventory(source, text, data))


def _tagged(fmt: str, read: Callable[[], T]) -> T:
    """Run ``read``; an InventoryError it raises names the format it was read as."""
    try:
        return read()
    except InventoryError as exc:
        if exc.reason.startswith(fmt):
            raise
        raise InventoryError(f"{fmt} inventory: {exc.reason}", exc.file, exc.line) from None


def _has_shebang(path: str) -> bool:
    try:
        with open_regular(path) as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False


def _read_host_list(source: str, data: InventoryData) -> None:
    origin = Origin(f"-i {source!r}")
    for item in (part.strip() for part in source.split(",")):
        if not item:
            continue
        parsed = parse_address(item)
        name = parsed[0] if parsed is not None and "[" not in parsed[0] else item
        problem = name_problem(name, "host")
        if problem:
            raise origin.fail(f"host list: {problem}")
        data.add_host(name, "ungrouped", origin)


def _check_agents(inventory: Inventory, resolved: dict[str, FleetVariables]) -> list[str]:
    """Refuse hosts without a usable address and names sharing one agent; warn about unverified TLS."""
    by_agent: dict[tuple[str, int], str] = {}
    unverified: dict[Origin, int] = {}
    for host in inventory.hosts:
        variables = resolved[host.name]
        if "ansible_host" not in variables:
            try:
                check_address(host.name)
            except AddressError as exc:
                raise InventoryError(f"host {host.name!r} has no ansible_host, so its name is its address, "
                                     f"which {exc}", *_split(host.source)) from None
        agent = agent_identity(host.address, host.port)
        first = by_agent.setdefault(agent, host.name)
        if first != host.name:
            other = next(h for h in inventory.hosts if h.name == first)
            netloc = f"[{agent[0]}]:{agent[1]}" if ":" in agent[0] else f"{agent[0]}:{agent[1]}"
            raise InventoryError(f"hosts {first!r} ({_where(other, resolved)}) and {host.name!r} "
                                 f"({_where(host, resolved)}) both reach the agent {netloc}: fleet would start "
                                 "it twice; keep one name", *_split(host.source))
        verify = variables.get("obshell_verify_tls")
        if host.scheme == "https" and verify is not None and verify.value is False:
            unverified[verify.origin] = unverified.get(verify.origin, 0) + 1
    return [f"{origin}: obshell_verify_tls is false: the certificates of {count} https agent"
            f"{'s' if count > 1 else ''} are not verified (anyone on the path can impersonate them)"
            for origin, count in unverified.items()]


def _where(host: HostSpec, resolved: dict[str, FleetVariables]) -> str:
    via = resolved[host.name].get("ansible_host")
    return f"{host.source}" + (f", ansible_host at {via.origin}" if via is not None else "")


def _split(source: str) -> tuple[str, int | None]:
    file, _, line = source.rpartition(":")
    if file and line.isdigit():
        return file, int(line)
    return source, None


__all__ = ["Inventory", "load_inventory"]
