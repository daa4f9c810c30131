"""Where a run locks the agents it acts on, and taking those locks for a prepared run.

The locks live in one directory per user and machine, whatever the working directory:
``$FLEET_HOME/locks`` when ``FLEET_HOME`` is set, else ``$XDG_STATE_HOME/fleet/locks``
(``~/.local/state/fleet/locks``) — fleet's home (:func:`fleet.api.paths.fleet_home`) without
its working-directory ``.fleet``: runs started from two directories still share their agents'
locks. Runs that share that directory exclude each other per agent
(:mod:`fleet.engine.agentlock`); runs on other machines, of other users, or with another
``FLEET_HOME`` do not — nor do two names of one agent that differ before they are resolved
(``localhost`` and ``127.0.0.1``): within one run those are told apart by
:func:`fleet.engine.lookout.claim_agent`, across runs they are not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack

from fleet.api.paths import HOME_ENV
from fleet.api.prepare import PreparedRun
from fleet.engine.agentlock import AgentLocks, agent_key

LOCKS = "locks"


def lock_dir(environ: Mapping[str, str]) -> str:
    """The directory of the agent locks (see the module doc)."""
    home = environ.get(HOME_ENV)
    if home:
        return os.path.join(home, LOCKS)
    state = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):  # the XDG rule, as fleet_home applies it: a relative value is ignored
        state = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "fleet", LOCKS)


def claim_agents(run: PreparedRun, stack: ExitStack, environ: Mapping[str, str] | None = None) -> None:
    """Lock every agent ``run`` may act on until ``stack`` closes, before anything is sent.

    A run that only reads (``check``) locks nothing. Another run holding one of them:
    :class:`~fleet.errors.InputError` naming it (pid, command, run), with nothing locked.
    """
    if not run.operation.fires or not run.plan.hosts:
        return
    environ = os.environ if environ is None else environ
    what = run.operation.value.replace("obproxy.", "").replace("dag.", "dag ")
    where = run.folder or run.journal or "without a journal"
    agents = ((agent_key(h.address, h.port), h.name) for h in run.plan.hosts)
    stack.enter_context(AgentLocks(lock_dir(environ), agents, f"fleet {what}, run {where}"))
