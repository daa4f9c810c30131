"""``--resume JOURNAL``: lock the journal, read it under the lock, replay the run's options.

The lock comes first (:func:`fleet.api.open_journal`): the journal is read only while this
process holds it, so no other fleet can append to it between the reading and the firing.
The CLI's precedence for the recorded options is its own: command line > journal >
environment > config file > default (:func:`fleet.cli.config.replay`).
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from typing import Any

from fleet.api import open_journal
from fleet.api.prepare import recorded_options
from fleet.cli.config import SOURCE_CLI, replay
from fleet.engine.plan import Operation
from fleet.engine.priors import JournalState


def open_resume(args: argparse.Namespace, operation: Operation,
                stack: ExitStack) -> tuple[JournalState, dict[str, Any]]:
    """Lock and read ``args.resume``, and set ``args``' run options from it; returns ``(state, overrides)``.

    The lock is held until ``stack`` closes. ``overrides`` lists the options the command line
    changed from the journal's (see :func:`fleet.cli.config.replay`).
    """
    path = str(args.resume)
    state = open_journal(path, operation, stack, what=f"fleet {args.command} --resume")
    latest = state.latest
    sources = getattr(args, "option_sources", {})
    if sources.get("inventory") != SOURCE_CLI and latest.get("inventory"):
        inventory = latest["inventory"]
        args.inventory = inventory if isinstance(inventory, list) else [inventory]
    if not getattr(args, "extra_vars", None) and latest.get("extra_vars"):
        args.extra_vars = list(latest["extra_vars"])
    overrides = replay(args, recorded_options(state), f"--resume {path}")
    return state, overrides
