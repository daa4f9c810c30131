"""``fleet inventory``: what fleet reads from an inventory, like ``ansible-inventory``.

``--list`` (the default) prints JSON in ``ansible-inventory --list``'s shape — each group with
its direct ``hosts`` and ``children``, ``_meta.hostvars`` with every fleet variable resolved
for each host — plus ``_meta.origins`` (where each value was set: ``file:line``, a
group_vars/host_vars file, ``-e``, or ``default``) and ``_meta.agents`` (the ``address:port``
fleet connects to). ``--graph`` draws the group tree; ``--host`` shows one host.
Warnings (unverified TLS, patterns that match nothing) go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fleet.cli.outputs import prepare_output, write_output
from fleet.errors import InputError
from fleet.inventory import Inventory, load_inventory, select
from fleet.inventory.variables import DEFAULTS
from fleet.models import HostSpec


def _warn(message: str) -> None:
    print(f"fleet: warning: {message}", file=sys.stderr)


def host_variables(host: HostSpec) -> dict[str, Any]:
    """Every fleet variable of ``host`` as resolved (defaults included)."""
    return {
        "ansible_host": host.address,
        "obshell_port": host.port,
        "obshell_scheme": host.scheme,
        "obshell_ca_file": host.tls.ca_file,
        "obshell_client_cert": host.tls.client_cert,
        "obshell_client_key": host.tls.client_key,
        "obshell_verify_tls": host.tls.verify,
        "obshell_password_env": host.password_env,
        "obshell_password_file": host.password_file,
    }


def host_origins(inventory: Inventory, host: HostSpec) -> dict[str, str]:
    """Where each of ``host``'s fleet variables came from."""
    known = inventory.origins.get(host.name, {})
    origins = {}
    for name in DEFAULTS:
        if name in known:
            origins[name] = str(known[name])
        elif name == "ansible_host":
            origins[name] = "the host name"
        else:
            origins[name] = "default"
    return origins


def list_document(inventory: Inventory, hosts: tuple[HostSpec, ...]) -> dict[str, Any]:
    """``ansible-inventory --list``'s shape, restricted to ``hosts``, with fleet's extras."""
    chosen = {h.name for h in hosts}
    doc: dict[str, Any] = {"_meta": {
        "hostvars": {h.name: host_variables(h) for h in hosts},
        "origins": {h.name: host_origins(inventory, h) for h in hosts},
        "agents": {h.name: h.netloc for h in hosts},
    }}
    for group, children in inventory.children.items():
        members = [name for name in inventory.members.get(group, ()) if name in chosen]
        if group == "ungrouped":
            members = [name for name in inventory.groups["ungrouped"] if name in chosen]
        kids = [c for c in children if any(n in chosen for n in inventory.groups.get(c, ()))]
        entry: dict[str, Any] = {}
        if members and group != "all":
            entry["hosts"] = members
        if kids:
            entry["children"] = kids
        if entry or group == "all":
            doc[group] = entry
    return doc


def graph_lines(inventory: Inventory, hosts: tuple[HostSpec, ...], start: str) -> list[str]:
    """``ansible-inventory --graph``'s drawing of the tree under ``start``."""
    chosen = {h.name for h in hosts}
    lines = [f"@{start}:"]

    def walk(group: str, indent: str) -> None:
        for child in inventory.children.get(group, ()):
            if any(n in chosen for n in inventory.groups.get(child, ())):
                lines.append(f"{indent}|--@{child}:")
                walk(child, indent + "|  ")
        direct = inventory.groups["ungrouped"] if group == "ungrouped" else inventory.members.get(group, ())
        if group != "all":
            lines.extend(f"{indent}|--{name}" for name in direct if name in chosen)

    walk(start, "  ")
    return lines


def run_inventory(args: argparse.Namespace) -> int:
    if not args.inventory:
        raise InputError("no inventory: pass -i/--inventory (or set inventory: in fleet.yaml)")
    if args.output:
        prepare_output("--output", args.output)
    inventory = load_inventory(args.inventory, extra_vars=args.extra_vars or ())
    for warning in inventory.warnings:
        _warn(warning)
    hosts = select(inventory, args.limit, warn=_warn, allow_unmatched=bool(getattr(args, "allow_unmatched", False)))
    if args.graph is not None:
        if args.graph not in inventory.groups:
            raise InputError(f"--graph: no group {args.graph!r} in {inventory.path}")
        text = "\n".join(graph_lines(inventory, hosts, args.graph)) + "\n"
    elif args.host is not None:
        host = next((h for h in hosts if h.name == args.host), None)
        if host is None:
            raise InputError(f"--host: no host {args.host!r} in {inventory.path}")
        origins = host_origins(inventory, host)
        doc = {"host": host.name, "agent": host.netloc, "groups": list(host.groups), "defined_at": host.source,
               "vars": {k: {"value": v, "from": origins[k]} for k, v in host_variables(host).items()}}
        text = json.dumps(doc, indent=2) + "\n"
    else:
        text = json.dumps(list_document(inventory, hosts), indent=2) + "\n"
    if args.output:
        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return 0
