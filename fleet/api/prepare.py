"""From options to a run ready to go: the hosts, the plan, the journal and the run's folder.

Three steps, so a caller can act between them (the CLI prints ``--list-hosts`` after the first
and checks its output files after the second): :func:`select_hosts`, :func:`plan_run`,
:func:`claim_journal`. Every refusal is an :class:`~fleet.errors.InputError` (one line, exit 5)
raised before anything is sent.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from fleet.api.masking import environment_secrets, masked
from fleet.api.options import NOT_REPLAYED, RUN_SHAPING, RunOptions
from fleet.api.paths import default_journal, run_dir
from fleet.engine.plan import Operation, RunPlan, batch_sizes
from fleet.engine.polling import PollPolicy
from fleet.engine.priors import JournalState, load_journal
from fleet.engine.runlock import RunLock
from fleet.errors import InputError
from fleet.inventory import Inventory, check_tls_files, load_inventory, resolve_passwords, select, shard
from fleet.inventory.credentials import check_maskable
from fleet.models import HostSpec

#: where an option's value came from, as the summary's ``options.*.source`` says
SOURCE_API = "api"
SOURCE_DEFAULT = "default"
SOURCE_JOURNAL = "journal"
#: the summary's ``inventory`` when the API was given host specs instead of an inventory
HOSTS_GIVEN = "<hosts>"


@dataclass(frozen=True, slots=True)
class Selection:
    """The selected hosts of an inventory, in firing order, and the shard they are."""

    inventory: Inventory
    hosts: tuple[HostSpec, ...]
    shard: str | None


@dataclass(frozen=True, slots=True)
class PreparedRun:
    """A run ready to go: everything :func:`fleet.api.execute` needs, nothing sent yet."""

    operation: Operation
    options: RunOptions
    selection: Selection
    plan: RunPlan
    journal: str | None
    #: ``<home>/runs/<run-id>/``: the journal (by default), summary, retry file and report
    folder: str | None
    #: the journal header's fields besides the operation and hosts
    meta: Mapping[str, Any]
    #: the summary's ``options``: ``{name: {"value", "source"}}``
    option_report: Mapping[str, Mapping[str, Any]]
    #: the summary's ``resume``: ``{"journal", "overrides"}``, or None
    resume: Mapping[str, Any] | None
    started_at: float


def open_journal(path: str, operation: Operation, stack: ExitStack, flag: str = "--resume",
                 what: str | None = None) -> JournalState:
    """Lock the journal at ``path`` (until ``stack`` closes), then read and check it.

    The lock comes first: no other fleet can append between the reading and the firing.
    """
    lock = stack.enter_context(RunLock(path, flag, create=False, what=what or f"fleet {operation.value} {flag}"))
    lock.drop_torn_tail()
    state = load_journal(path, flag)
    if state.operation != operation.value:
        raise InputError(f"{flag} {path}: that journal is of a '{state.operation}' run, not '{operation.value}'")
    return state


def recorded_options(state: JournalState) -> dict[str, Any]:
    """The run-shaping options the journal's latest header recorded."""
    latest = state.latest
    recorded: dict[str, Any] = dict(latest.get("options") or {})
    recorded.setdefault("limit", latest.get("limit"))  # journals from before options were recorded
    recorded.setdefault("shard", latest.get("shard"))
    return recorded


def replay(options: RunOptions, state: JournalState, explicit: frozenset[str]) -> tuple[RunOptions, dict[str, Any]]:
    """The journal's recorded run-shaping options over ``options``, except the ``explicit`` ones.

    Returns the options and the overrides ``{name: {"journal", "value"}}`` (explicit values that
    differ from the recorded ones). A recorded value is checked as if given (a tampered header
    is refused, naming the journal).
    """
    recorded = recorded_options(state)
    changes: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for name in RUN_SHAPING:
        if name not in recorded or name in NOT_REPLAYED:
            continue
        value = recorded[name]
        value = tuple(value) if isinstance(value, list) else value
        if name in explicit:
            if getattr(options, name) != value:
                overrides[name] = {"journal": value, "value": getattr(options, name)}
            continue
        changes[name] = value
    if "extra_vars" not in explicit and state.latest.get("extra_vars"):
        changes["extra_vars"] = tuple(state.latest["extra_vars"])
    try:
        return dataclasses.replace(options, **changes), overrides
    except (InputError, TypeError) as exc:
        raise InputError(f"--resume {state.path}: recorded {exc}") from None


def api_option_report(options: RunOptions, explicit: frozenset[str], replayed: frozenset[str] = frozenset()
                  ) -> dict[str, dict[str, Any]]:
    """The summary's ``options`` for an API run: the value, and ``api``, ``journal`` or ``default``."""
    report = {}
    for name in RUN_SHAPING:
        value = getattr(options, name)
        source = SOURCE_JOURNAL if name in replayed else SOURCE_API if name in explicit else SOURCE_DEFAULT
        report[name] = {"value": list(value) if isinstance(value, tuple) else value, "source": source}
    return report


def select_hosts(target: str | Sequence[str] | Sequence[HostSpec], options: RunOptions, *,
                 state: JournalState | None = None, keep_order: bool = False,
                 warn: Callable[[str], None] | None = None) -> Selection:
    """Load the inventory (paths) or take the host specs, then apply the limit, shard and order.

    On a resume (``state``) only the hosts that run selected are kept, in its own order when
    ``keep_order``.
    """
    try:
        inventory = _inventory(target, options)
    except InputError as exc:  # it may quote what it read: a script's stderr, a mistyped value
        raise masked(exc, environment_secrets(os.environ)) from None
    for warning in inventory.warnings:
        if warn is not None:
            warn(warning)
    # a resume replays a limit already checked when its run began
    hosts = select(inventory, options.limit, warn=warn, allow_unmatched=options.allow_unmatched or state is not None)
    shard_text = None
    if options.shard:
        index, total = parse_shard(options.shard)
        shard_text = f"{index}/{total}"
        hosts = shard(hosts, index - 1, total)
    if state is not None:
        universe = set(state.hosts)
        hosts = tuple(h for h in hosts if h.key in universe)  # a resume never widens the run
        if keep_order:
            rank = {key: i for i, key in enumerate(state.latest.get("hosts") or state.hosts)}
            hosts = tuple(sorted(hosts, key=lambda h: rank.get(h.key, len(rank))))
    if state is None or not keep_order:
        hosts = _order(hosts, options.order)
    check_tls_files(hosts, inventory.origins)
    return Selection(inventory, hosts, shard_text)


def plan_run(operation: Operation, selection: Selection, options: RunOptions, *,
             state: JournalState | None = None, environ: Mapping[str, str] | None = None,
             option_report: Mapping[str, Mapping[str, Any]] | None = None,
             overrides: Mapping[str, Any] | None = None, started_at: float | None = None) -> PreparedRun:
    """Resolve passwords, cut the batches and name the journal and folder: the run, ready to go."""
    started_at = time.time() if started_at is None else started_at
    hosts = selection.hosts
    passwords = resolve_passwords(hosts, os.environ if environ is None else environ) if hosts else {}
    try:
        batches = batch_sizes(list(options.serial), len(hosts) - options.canary) if options.serial else ()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    check_maskable(hosts, passwords)
    if options.retry_failed and operation is not Operation.START:
        raise InputError("retry_failed (--retry-failed) applies to start only")
    plan = RunPlan(
        operation=operation, hosts=hosts, passwords=passwords, timeouts=options.timeouts, limits=options.limits,
        poll_policy=PollPolicy(cap=options.poll_cap), batches=batches,
        max_fail_percentage=options.max_fail_percentage, canary=options.canary,
        prior=state.priors if state is not None else {}, refire_ambiguous=options.refire_ambiguous,
        retry_failed=options.retry_failed, prior_retries=state.retries if state is not None else {},
    )
    if options.resume:
        journal: str | None = options.resume
    elif options.no_journal:
        journal = None
    else:
        journal = options.journal or default_journal(started_at, os.getpid(), operation.value)
    inventory = selection.inventory
    report = dict(option_report) if option_report is not None else api_option_report(options, frozenset())
    sources = list(inventory.sources) if len(inventory.sources) > 1 else inventory.path
    meta = {"inventory": sources, "extra_vars": list(options.extra_vars), "limit": options.limit,
            "shard": selection.shard, "pid": os.getpid(),
            "options": {name: entry["value"] for name, entry in report.items()}}
    resume = {"journal": options.resume, "overrides": dict(overrides or {})} if options.resume else None
    return PreparedRun(operation, options, selection, plan, journal,
                       run_dir(journal, started_at, os.getpid(), operation.value), meta, report, resume, started_at)


def claim_journal(run: PreparedRun, stack: ExitStack) -> None:
    """Lock a new journal until ``stack`` closes; refuse one that already holds a run (resume it)."""
    if run.journal is None or run.options.resume:
        return
    lock = stack.enter_context(RunLock(run.journal, "--journal", create=True, what=f"fleet {run.operation.value}"))
    if lock.journal_size():
        raise InputError(f"--journal {run.journal}: already holds a run; continue it with "
                         f"--resume {run.journal}, or choose a new journal")


def parse_shard(text: str, origin: str = "--shard") -> tuple[int, int]:
    """``"2/4"`` → ``(2, 4)``; refuses anything else (1 ≤ I ≤ N)."""
    parts = [p.strip() for p in text.split("/")]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise InputError(f"{origin} {text!r}: expected I/N, e.g. 2/4")
    index, total = int(parts[0]), int(parts[1])
    if total < 1 or not 1 <= index <= total:
        raise InputError(f"{origin} {text!r}: I must be between 1 and N")
    return index, total


def _inventory(target: str | Sequence[str] | Sequence[HostSpec], options: RunOptions) -> Inventory:
    if isinstance(target, str):
        return load_inventory([target], extra_vars=options.extra_vars)
    items = list(target)
    if not items:
        raise InputError("no inventory: pass an inventory path (or several) or host specs")
    if all(isinstance(item, str) for item in items):
        return load_inventory([str(item) for item in items], extra_vars=options.extra_vars)
    if not all(isinstance(item, HostSpec) for item in items):
        raise InputError("expected inventory paths or HostSpec objects, not a mix")
    specs = [item for item in items if isinstance(item, HostSpec)]
    if len({h.key for h in specs}) != len(specs):
        raise InputError("a host spec is given twice (same name and port)")
    groups: dict[str, list[str]] = {"all": [h.name for h in specs], "ungrouped": []}
    for spec in specs:
        for group in spec.groups or ("ungrouped",):
            groups.setdefault(group, []).append(spec.name)
    return Inventory(HOSTS_GIVEN, tuple(specs), {g: tuple(names) for g, names in groups.items()})


def _order(hosts: tuple[HostSpec, ...], order: str) -> tuple[HostSpec, ...]:
    if order == "sorted":
        return tuple(sorted(hosts, key=lambda h: (h.name, h.port)))
    if order == "shuffle":
        shuffled = list(hosts)
        random.shuffle(shuffled)
        return tuple(shuffled)
    return hosts
