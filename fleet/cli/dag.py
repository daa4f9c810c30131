"""``fleet dag retry|rollback|cancel|pass RUN``: act on the DAGs a past run recorded.

RUN is that run's journal or summary (a merged shard summary too). Hosts are chosen by how
they ended (see :func:`fleet.engine.pastrun.default_selection`) or by ``--limit``; each gets
its recorded DAG's operator once, through the same engine, journal, summary and reports as
``fleet start``. The default journal is derived from RUN and the operator, so running the same
command again resumes it: an operator already sent is followed, never sent a second time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from fleet.api import PreparedRun, Selection
from fleet.api.paths import JOURNAL_NAME, retry_dir, run_dir, runs_dir
from fleet.cli.operate import _progress, finish, run_options, run_with_progress
from fleet.cli.outputs import prepare_output
from fleet.engine.pastrun import PastRun, default_selection, load_past_run
from fleet.engine.plan import Operation, PriorState, RunPlan, batch_sizes
from fleet.engine.polling import PollPolicy
from fleet.engine.priors import load_journal
from fleet.engine.runlock import RunLock
from fleet.errors import InputError
from fleet.fdlimit import raise_open_files_limit
from fleet.inventory import load_inventory, resolve_passwords, select
from fleet.inventory.credentials import check_maskable
from fleet.models import HostSpec

OPERATORS = ("retry", "rollback", "cancel", "pass")
EPILOG = """which hosts, without --limit:
  retry, rollback   hosts whose DAG failed
  cancel            hosts whose DAG timed out, or was still running when the run was interrupted
  pass              none: name the hosts with --limit

examples:
  fleet dag retry .fleet/runs/20261127T031000Z-123-obproxy.start/journal.jsonl
  fleet dag cancel summary.json --junit cancel.xml
  fleet dag pass summary.json --limit hz-proxy-07

Running the same command again resumes it (its run folder is <home>/runs/<RUN>.<digest>.dag-<op>/):
no DAG gets a second operator. To retry again after a retry failed, act on the retry's own
journal or summary. exit codes: 0 every operation succeeded, 2 some did not, 5 bad input."""


def add_parser(sub: Any, add_run_options: Callable[..., None]) -> None:
    p = sub.add_parser("dag", help="retry, roll back, cancel or pass the DAGs a past run recorded",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("operator", choices=OPERATORS, help="obshell's DAG operator")
    p.add_argument("run", metavar="RUN", help="the past run: its journal, or its (merged) summary JSON")
    add_run_options(p, fires=True, selects=False)


def run_dag(args: argparse.Namespace) -> int:
    """Run ``fleet dag OP RUN``; its journal's lock is held from before it is read to the end."""
    with ExitStack() as stack:
        return _run_locked(args, stack)


def _run_locked(args: argparse.Namespace, stack: ExitStack) -> int:
    operation = Operation("dag." + args.operator)
    operator = operation.dag_operator
    assert operator is not None
    started_at = time.time()
    past = load_past_run(args.run)
    inventory_path = args.inventory or past.inventory
    if not inventory_path:
        raise InputError(f"{args.run} names no inventory: pass -i/--inventory")
    inventory = load_inventory(inventory_path)
    limited = select(inventory, args.limit, allow_unmatched=bool(args.allow_unmatched)) if args.limit else None
    hosts, targets = _choose(args, past, inventory.hosts, limited)
    if args.list_hosts:
        for host in hosts:
            print(host.name)
        return 0
    journal_path = _journal_path(args, operation, past.digest)
    priors: Mapping[str, PriorState] = {}
    if journal_path:
        # Held to the end: a second `fleet dag` on the same run waits for nothing and sends nothing.
        lock = stack.enter_context(RunLock(journal_path, "--journal", create=True, what=f"fleet dag {args.operator}"))
        if lock.journal_size():
            state = load_journal(journal_path, "--journal")
            if state.operation != operation.value:
                raise InputError(f"--journal {journal_path}: that journal is of a '{state.operation}' run, "
                                 f"not '{operation.value}'")
            priors = state.priors
    options = run_options(args)
    passwords = resolve_passwords(hosts, os.environ) if hosts else {}
    check_maskable(hosts, passwords)
    progress = _progress(args)
    try:
        batches = batch_sizes(list(options.serial), len(hosts) - options.canary) if options.serial else ()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    plan = RunPlan(
        operation=operation, hosts=hosts, passwords=passwords, timeouts=options.timeouts, limits=options.limits,
        poll_policy=PollPolicy(cap=options.poll_cap), batches=batches,
        max_fail_percentage=options.max_fail_percentage, canary=options.canary, prior=priors, targets=targets,
    )
    retry_path = args.retry_file or os.path.join(retry_dir(), f"{Path(inventory.path).stem}.dag-{args.operator}.retry")
    folder = run_dir(journal_path, started_at, os.getpid(), operation.value)
    for flag, target in (("--output", args.output), ("--junit", args.junit), ("--retry-file", retry_path),
                         ("--journal", journal_path)):
        if target:
            prepare_output(flag, target)
    if args.step and not sys.stdin.isatty():
        raise InputError("--step asks before each batch and needs a terminal on stdin")
    meta = {"inventory": inventory.path, "limit": args.limit, "shard": None}
    run = PreparedRun(operation, options, Selection(inventory, hosts, None), plan, journal_path, folder, meta, {},
                      None, started_at)
    raise_open_files_limit(len(hosts) + 1024)
    command = f"dag {args.operator} {args.run}"
    result = asyncio.run(run_with_progress(run, progress, command, source=args.run, quiet=bool(args.quiet)))
    return finish(args, result, retry_path, None, command=command)


def _choose(args: argparse.Namespace, past: PastRun, inventory_hosts: tuple[HostSpec, ...],
            limited: tuple[HostSpec, ...] | None) -> tuple[tuple[HostSpec, ...], dict[str, str]]:
    """The hosts to act on (inventory order) and each one's DAG id."""
    operator = Operation("dag." + args.operator).dag_operator or ""
    if limited is None and operator == "PASS":
        raise InputError("fleet dag pass acts only on hosts you name: pass --limit (e.g. --limit hz-proxy-07)")
    recorded = {r.key: r for r in past.hosts if r.dag}
    if limited is not None:
        chosen = {h.key for h in limited if h.key in recorded}
    else:
        chosen = {k for k, r in recorded.items() if default_selection(operator, r)}
    by_key = {h.key: h for h in inventory_hosts}
    missing = sorted(chosen - set(by_key))
    if missing:
        raise InputError(f"{args.run}: hosts not in the inventory: {', '.join(missing[:5])}"
                         + (" …" if len(missing) > 5 else ""))
    hosts = tuple(h for h in inventory_hosts if h.key in chosen)
    return hosts, {h.key: str(recorded[h.key].dag) for h in hosts}


def _journal_path(args: argparse.Namespace, operation: Operation, digest: str) -> str | None:
    if args.resume:
        return str(args.resume)
    if args.no_journal:
        return None
    if args.journal:
        return str(args.journal)
    stem = Path(args.run).name.removesuffix(".jsonl").removesuffix(".json")
    if stem in ("journal", "summary"):  # a run folder's own file: name the run by its folder
        stem = Path(args.run).resolve().parent.name
    name = f"{stem}.{digest}.{operation.value.replace('.', '-')}"
    earlier = os.path.join(runs_dir(), name + ".jsonl")  # where fleet kept these journals before run folders
    if os.path.exists(earlier):
        return earlier
    return os.path.join(runs_dir(), name, JOURNAL_NAME)
