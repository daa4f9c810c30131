"""``fleet start|stop|check``: from options to a finished run, its summary and reports."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import structlog

from fleet.cli.advice import advice_lines, partition, retry_text
from fleet.cli.config import SOURCE_ENV, SOURCE_JOURNAL, option_report
from fleet.cli.logs import configure_logging
from fleet.cli.outputs import prepare_output, write_output
from fleet.cli.paths import RETRY_NAME, default_journal, latest_retry_path, run_dir
from fleet.cli.resume import open_resume, resumed_hosts
from fleet.client import HttpClient
from fleet.engine.journal import Journal, NullJournal
from fleet.engine.plan import Operation, RunPlan, batch_sizes
from fleet.engine.polling import PollPolicy
from fleet.engine.priors import JournalState
from fleet.engine.run import Engine, RunReport
from fleet.engine.runlock import RunLock
from fleet.errors import InputError
from fleet.fdlimit import raise_open_files_limit
from fleet.inventory import check_tls_files, load_inventory, resolve_passwords, select, shard
from fleet.inventory.credentials import check_maskable
from fleet.models import HostSpec, Limits, Timeouts
from fleet.report import (
    ProgressView,
    RunInfo,
    junit_xml,
    summary_document,
    summary_exit_code,
    summary_json,
)
from fleet.report.progress import AboveProgress
from fleet.report.recap import recap
from fleet.report.sanitize import Sanitizer

EXIT_BUG = 1
EXIT_POLICY_STOP = 3
OPERATIONS = {"start": Operation.START, "stop": Operation.STOP, "check": Operation.CHECK}


def run_operation(args: argparse.Namespace) -> int:
    """Run ``fleet start|stop|check``; the journal's lock is held from before it is read to the end."""
    with ExitStack() as stack:
        return _run_locked(args, stack)


def _run_locked(args: argparse.Namespace, stack: ExitStack) -> int:
    operation = OPERATIONS[args.command]
    started_at = time.time()
    resume = getattr(args, "resume", None)
    state: JournalState | None = None
    overrides: dict[str, Any] = {}
    if resume:
        state, overrides = open_resume(args, operation, stack)
    if not args.inventory:
        raise InputError("no inventory: pass -i/--inventory (or set inventory: in fleet.yaml)")
    inventory = load_inventory(args.inventory, extra_vars=getattr(args, "extra_vars", None) or ())
    for warning in inventory.warnings:
        _warn(warning)
    hosts = select(inventory, args.limit, warn=_warn)
    shard_text, shard_origin = (args.shard, "--shard") if state is not None else _shard_text(args.shard, os.environ)
    if shard_text:
        index, total = _parse_shard(shard_text, shard_origin)
        shard_text = f"{index}/{total}"
        hosts = shard(hosts, index - 1, total)
        if args.shard is None:  # from CI's variables: recorded as the run's shard all the same
            args.shard, args.option_sources["shard"] = shard_text, SOURCE_ENV
    if state is not None:
        keep_order = args.option_sources.get("order") == SOURCE_JOURNAL
        hosts = resumed_hosts(hosts, state, keep_order=keep_order)
        if not keep_order:
            hosts = _order(hosts, args.order)
    else:
        hosts = _order(hosts, args.order)
    check_tls_files(hosts, inventory.origins)
    if args.list_hosts:
        for host in hosts:
            print(host.name)
        return 0
    passwords = resolve_passwords(hosts, os.environ) if hosts else {}
    progress_on = not args.quiet and sys.stderr.isatty()
    level = args.log_level or ("warning" if progress_on or args.quiet else "info")
    fmt = {"json": True, "console": False}.get(args.log_format or "auto")
    host_lines = 1 + (getattr(args, "verbose", 0) or 0) if progress_on else 0
    progress = ProgressView(sys.stderr, enabled=progress_on, lines=host_lines)
    # On a TTY, log lines are printed above the live status line instead of through it.
    log_stream = AboveProgress(progress, sys.stderr) if progress_on else sys.stderr
    redactor = configure_logging(level=level, json_lines=fmt, stream=log_stream)
    redactor.add_secrets(passwords.values())
    serial = getattr(args, "serial", None)
    try:
        batches = batch_sizes(serial, len(hosts) - (getattr(args, "canary", 0) or 0)) if serial else ()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if getattr(args, "step", False) and not sys.stdin.isatty():
        raise InputError("--step asks before each batch and needs a terminal on stdin"
                         + (" (the journal recorded --step; pass --no-step to resume without it)"
                            if args.option_sources.get("step") == SOURCE_JOURNAL else ""))
    check_maskable(hosts, passwords)
    plan = RunPlan(
        operation=operation,
        hosts=hosts,
        passwords=passwords,
        timeouts=Timeouts(connect=args.connect_timeout, request=args.request_timeout, dag=args.timeout,
                          auth_lifetime=args.auth_lifetime, grace=getattr(args, "grace", 30.0) or 0.0),
        limits=Limits(forks=args.forks, polls_in_flight=args.polls_in_flight,
                      keepalive=max(6.0, args.poll_cap + 4), transport=args.transport),
        poll_policy=PollPolicy(cap=args.poll_cap),
        batches=batches,
        max_fail_percentage=getattr(args, "max_fail_percentage", None),
        canary=getattr(args, "canary", 0) or 0,
        prior=state.priors if state is not None else {},
        refire_ambiguous=bool(getattr(args, "refire_ambiguous", False)),
        retry_failed=getattr(args, "retry_failed", 0) or 0,
        prior_retries=state.retries if state is not None else {},
    )
    journal_path = _journal_path(args, operation, started_at)
    folder = run_dir(journal_path, started_at, os.getpid(), operation.value)
    run_retry = os.path.join(folder, RETRY_NAME)
    retry_path = args.retry_file or latest_retry_path(inventory.path, args.command, shard_text)
    for flag, target in (("--output", args.output), ("--junit", args.junit), ("--retry-file", retry_path),
                         ("--journal", journal_path), ("--retry-file", run_retry)):
        if target:
            prepare_output(flag, target)
    if journal_path and not resume:
        lock = stack.enter_context(RunLock(journal_path, "--journal", create=True, what=f"fleet {args.command}"))
        if lock.journal_size():
            raise InputError(f"--journal {journal_path}: already holds a run; continue it with "
                             f"--resume {journal_path}, or choose a new journal")
    options = option_report(args)
    sources = list(inventory.sources) if len(inventory.sources) > 1 else inventory.path
    meta = {"inventory": sources, "extra_vars": list(getattr(args, "extra_vars", None) or ()),
            "limit": args.limit, "shard": shard_text, "pid": os.getpid(),
            "options": {name: entry["value"] for name, entry in options.items()}}
    # one kept-alive connection per host, plus files and slack
    raise_open_files_limit(len(hosts) + 1024)
    step = getattr(args, "step", False)
    sanitizer = redactor.sanitizer
    report, crash = asyncio.run(_execute(plan, journal_path, progress, meta, step, args.command, sanitizer))
    info = RunInfo(
        operation=operation.value, started_at=started_at, finished_at=time.time(), inventory=inventory.path,
        limit=args.limit, journal=journal_path, shard=shard_text, interrupted=report.interrupted,
        error=crash, options=options,
        resume={"journal": str(resume), "overrides": overrides} if resume else None,
    )
    doc = sanitizer.clean(summary_document(info, report.results))
    written = _write_outputs(args, doc, retry_path, run_retry, journal_path)
    code = summary_exit_code(doc)
    if not written and code == 0:
        code = EXIT_BUG
    if report.policy_stop and code == 2 and doc["totals"]["skipped"]:
        code = EXIT_POLICY_STOP  # stopped early: some hosts were never fired
    return code


async def _execute(plan: RunPlan, journal_path: str | None, progress: ProgressView,
                   meta: dict[str, Any], step: bool, command: str,
                   sanitizer: Sanitizer | None = None) -> tuple[RunReport, str | None]:
    log = structlog.get_logger("fleet")
    clean = sanitizer.clean if sanitizer is not None else None
    journal: Journal = Journal(journal_path, clean=clean) if journal_path else NullJournal()
    confirm = _BatchPrompt(progress) if step else None
    async with HttpClient(plan.limits, plan.timeouts) as http, journal:
        engine = Engine(plan, http, reporter=progress, journal=journal, confirm_batch=confirm, journal_meta=meta)
        loop = asyncio.get_running_loop()
        signals_seen = 0

        def on_signal(signum: int) -> None:
            nonlocal signals_seen
            signals_seen += 1
            if signals_seen == 1:
                print(f"\nfleet: {signal.Signals(signum).name}: firing stopped; following in-flight DAGs for "
                      f"{plan.timeouts.grace:g} s (signal again to stop now)", file=sys.stderr)
                engine.stop_firing()
            else:
                print("\nfleet: stopping now", file=sys.stderr)
                engine.abort()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            async with asyncio.TaskGroup() as tg:
                ticker = tg.create_task(_tick(progress))
                try:
                    report = await engine.run()
                finally:
                    ticker.cancel()
            return report, None
        except Exception as exc:  # a bug in fleet: still account for every host
            log.exception("run.crashed")
            leaf = _first_leaf(exc)
            return RunReport(engine.snapshot(), interrupted=True), f"{type(leaf).__name__}: {leaf}"
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if journal_path:
                print(f"fleet: journal {journal_path} (resume with: fleet {command} --resume {journal_path})"
                      if plan.operation.fires else f"fleet: journal {journal_path}", file=sys.stderr)


def _first_leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (nested) TaskGroup exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def _tick(progress: ProgressView) -> None:
    if not progress.enabled:
        return
    while True:
        await asyncio.sleep(0.5)
        progress.tick()


class _BatchPrompt:
    """``--step``: ask on the terminal before each batch; the progress line is paused meanwhile."""

    def __init__(self, progress: ProgressView) -> None:
        self._progress = progress

    async def __call__(self, index: int, hosts: list[HostSpec]) -> bool:
        names = ", ".join(h.name for h in hosts[:5]) + (" …" if len(hosts) > 5 else "")
        prompt = f"fleet: fire batch {index + 1} ({len(hosts)} hosts: {names})? [y/N] "
        drawing = self._progress.enabled
        self._progress.enabled = False  # a redraw (\r) would wipe the question
        try:
            answer = await asyncio.to_thread(_ask, ("\n" if drawing else "") + prompt)
        finally:
            self._progress.enabled = drawing
        return answer.strip().lower() in {"y", "yes"}


def _ask(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline()


def _write_outputs(args: argparse.Namespace, doc: dict[str, Any], retry: str, run_retry: str | None,
                   journal: str | None, *, command: str | None = None) -> bool:
    """Write the summary, JUnit and retry files; ``False`` (after saying why) if one failed.

    When the summary file cannot be written the summary goes to stdout instead, so the
    account of what happened on each host is never lost. The retry files hold only hosts safe
    to fire again (:mod:`fleet.cli.advice`).
    """
    text = summary_json(doc)
    operation = OPERATIONS.get(args.command)
    advice = partition(doc, resumable=journal is not None and (operation is None or operation.fires))
    retry_list = retry_text(advice)
    written = True
    targets: list[tuple[str, str | None, str | bytes]] = [
        ("--output", args.output, text),
        ("--junit", args.junit, junit_xml(doc) if args.junit else b""),
        ("--retry-file", retry, retry_list),
        ("--retry-file", run_retry, retry_list),
    ]
    for flag, path, data in targets:
        if flag == "--output" and not path:
            sys.stdout.write(text)
            sys.stdout.flush()
            continue
        if not path:
            continue
        try:
            write_output(path, data)
        except OSError as exc:
            written = False
            print(f"fleet: error: {flag} {path}: cannot write: {exc.strerror}", file=sys.stderr)
            if flag == "--output":
                sys.stdout.write(text)
                sys.stdout.flush()
    if not args.quiet:
        width = shutil.get_terminal_size((100, 24)).columns if sys.stderr.isatty() else None
        print(recap(doc, width), file=sys.stderr)
        for line in advice_lines(advice, retry if args.retry_file or not run_retry else run_retry, journal,
                                 command or args.command):
            print(line, file=sys.stderr)
    return written


def _journal_path(args: argparse.Namespace, operation: Operation, started_at: float) -> str | None:
    if getattr(args, "resume", None):
        return str(args.resume)
    if getattr(args, "no_journal", False):
        return None
    if getattr(args, "journal", None):
        return str(args.journal)
    return default_journal(started_at, os.getpid(), operation.value)


def _warn(message: str) -> None:
    print(f"fleet: warning: {message}", file=sys.stderr)


def _shard_text(explicit: str | None, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """``--shard``, else GitLab's parallel jobs (1-based), else a Kubernetes Indexed Job (0-based)."""
    if explicit:
        return explicit, "--shard"
    if environ.get("CI_NODE_INDEX") and environ.get("CI_NODE_TOTAL"):
        return f"{environ['CI_NODE_INDEX']}/{environ['CI_NODE_TOTAL']}", "CI_NODE_INDEX/CI_NODE_TOTAL"
    index = environ.get("JOB_COMPLETION_INDEX", "").strip()
    if index:
        total = environ.get("FLEET_SHARDS", "").strip()
        if not total:
            raise InputError("JOB_COMPLETION_INDEX is set but FLEET_SHARDS is not: set FLEET_SHARDS to the "
                             "Job's completions (or pass --shard I/N), or every pod would fire every host")
        if not index.isdigit():
            raise InputError(f"JOB_COMPLETION_INDEX {index!r}: expected a number from 0")
        return f"{int(index) + 1}/{total}", "JOB_COMPLETION_INDEX+1/FLEET_SHARDS"
    return None, ""


def _parse_shard(text: str, origin: str = "--shard") -> tuple[int, int]:
    parts = [p.strip() for p in text.split("/")]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise InputError(f"{origin} {text!r}: expected I/N, e.g. 2/4")
    index, total = int(parts[0]), int(parts[1])
    if total < 1 or not 1 <= index <= total:
        raise InputError(f"{origin} {text!r}: I must be between 1 and N")
    return index, total


def _order(hosts: tuple[HostSpec, ...], order: str) -> tuple[HostSpec, ...]:
    if order == "sorted":
        return tuple(sorted(hosts, key=lambda h: (h.name, h.port)))
    if order == "shuffle":
        shuffled = list(hosts)
        random.shuffle(shuffled)
        return tuple(shuffled)
    return hosts
