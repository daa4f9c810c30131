"""``--resume JOURNAL``: lock the journal, read it under the lock, replay the run's options.

The lock comes first: the journal is read only while this process holds it, so no other fleet
can append to it between the reading and the firing (see :mod:`fleet.engine.runlock`).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from fleet.cli.config import SOURCE_CLI, replay
from fleet.engine.plan import Operation
from fleet.engine.priors import JournalState, load_journal
from fleet.engine.runlock import RunLock
from fleet.errors import InputError
from fleet.models import HostSpec


def open_resume(args: argparse.Namespace, operation: Operation,
                stack: ExitStack) -> tuple[JournalState, dict[str, Any]]:
    """Lock and read ``args.resume``, and set ``args``' run options from it; returns ``(state, overrides)``.

    The lock is held until ``stack`` closes. ``overrides`` lists the options the command line
    changed from the journal's (see :func:`fleet.cli.config.replay`).
    """
    path = str(args.resume)
    lock = stack.enter_context(RunLock(path, "--resume", create=False, what=f"fleet {args.command} --resume"))
    lock.drop_torn_tail()
    state = load_journal(path, "--resume")
    if state.operation != operation.value:
        raise InputError(f"--resume {path}: that journal is of a '{state.operation}' run, not '{operation.value}'")
    latest = state.latest
    recorded: dict[str, Any] = dict(latest.get("options") or {})
    # journals written before options were recorded still carry limit and shard
    recorded.setdefault("limit", latest.get("limit"))
    recorded.setdefault("shard", latest.get("shard"))
    sources = getattr(args, "option_sources", {})
    if sources.get("inventory") != SOURCE_CLI and latest.get("inventory"):
        args.inventory = latest["inventory"]
    if not getattr(args, "extra_vars", None) and latest.get("extra_vars"):
        args.extra_vars = list(latest["extra_vars"])
    overrides = replay(args, recorded, f"--resume {path}")
    return state, overrides


def resumed_hosts(selected: tuple[HostSpec, ...], state: JournalState, *, keep_order: bool) -> tuple[HostSpec, ...]:
    """The selected hosts the journal's run selected, in the run's own order when ``keep_order``.

    Hosts the inventory gained since are left out (a resume never widens the run); the order is
    the latest run header's, so ``--order shuffle`` replays the very order it drew.
    """
    universe = set(state.hosts)
    hosts = tuple(h for h in selected if h.key in universe)
    if not keep_order:
        return hosts
    rank: Mapping[str, int] = {key: i for i, key in enumerate(state.latest.get("hosts") or state.hosts)}
    later = len(rank)
    return tuple(sorted(hosts, key=lambda h: rank.get(h.key, later)))
