"""``fleet start|stop|check``: the command line over :mod:`fleet.api`.

What is the CLI's own: options from the command line, ``FLEET_*`` and ``fleet.yaml`` (with
where each came from), the shard from CI's variables, ``--list-hosts``, the progress view and
logging, the ``--step`` prompt, signal handling, the output files (``-o``, ``--junit``,
``--retry-file``), the recap and the advice. Everything else — hosts, plan, journal, engine,
the run's folder — is the API's, so a run from Python and a run from the shell are one run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any, TypeVar

import structlog

from fleet.api import PreparedRun, RunOptions, RunResult, claim_journal, execute, keep_record, plan_run, select_hosts
from fleet.api.advice import advice_lines, partition, retry_text
from fleet.api.paths import RETRY_NAME, SUMMARY_NAME, latest_retry_path, runs_dir
from fleet.api.prepare import parse_shard
from fleet.cli.config import SOURCE_ENV, SOURCE_JOURNAL, option_report
from fleet.cli.logs import configure_logging
from fleet.cli.outputs import prepare_output, write_output
from fleet.cli.resume import open_resume
from fleet.engine.containment import cause, is_fleet_wide
from fleet.engine.plan import Operation
from fleet.errors import InputError
from fleet.fdlimit import raise_open_files_limit
from fleet.models import ExitCode, HostSpec
from fleet.report import ProgressView, junit_xml, summary_json
from fleet.report.progress import AboveProgress
from fleet.report.recap import recap

log = structlog.get_logger("fleet.cli")
T = TypeVar("T")

OPERATIONS = {"start": Operation.START, "stop": Operation.STOP, "check": Operation.CHECK}
_FIELDS = tuple(f.name for f in dataclasses.fields(RunOptions))


def run_options(args: argparse.Namespace) -> RunOptions:
    """The resolved command-line options as the API's :class:`RunOptions` (checked again there)."""
    values = {name: getattr(args, name) for name in _FIELDS if getattr(args, name, None) is not None}
    values["extra_vars"] = tuple(getattr(args, "extra_vars", None) or ())
    return RunOptions(**values)


def run_operation(args: argparse.Namespace) -> int:
    """Run ``fleet start|stop|check``; the journal's lock is held from before it is read to the end."""
    with ExitStack() as stack:
        return _run_locked(args, stack)


def _run_locked(args: argparse.Namespace, stack: ExitStack) -> int:
    operation = OPERATIONS[args.command]
    started_at = time.time()
    state, overrides = open_resume(args, operation, stack) if getattr(args, "resume", None) else (None, {})
    if not args.inventory:
        raise InputError("no inventory: pass -i/--inventory (or set inventory: in fleet.yaml)")
    if state is None:
        shard_text, origin = _shard_text(args.shard, os.environ)
        if shard_text:
            index, total = parse_shard(shard_text, origin)
            if args.shard is None:  # from CI's variables: recorded as the run's shard all the same
                args.option_sources["shard"] = SOURCE_ENV
            args.shard = f"{index}/{total}"
    options = run_options(args)
    keep_order = args.option_sources.get("order") == SOURCE_JOURNAL
    selection = select_hosts(args.inventory, options, state=state, keep_order=keep_order, warn=_warn)
    if args.list_hosts:
        for host in selection.hosts:
            print(host.name)
        return 0
    run = plan_run(operation, selection, options, state=state, option_report=option_report(args),
                   overrides=overrides, started_at=started_at)
    progress = _progress(args)
    if options.step and not sys.stdin.isatty():
        raise InputError("--step asks before each batch and needs a terminal on stdin"
                         + (" (the journal recorded --step; pass --no-step to resume without it)"
                            if args.option_sources.get("step") == SOURCE_JOURNAL else ""))
    retry_path = args.retry_file or latest_retry_path(selection.inventory.path, args.command, selection.shard)
    run_retry = os.path.join(run.folder, RETRY_NAME) if run.folder else None
    for flag, target in (("--output", args.output), ("--junit", args.junit), ("--retry-file", retry_path),
                         ("--journal", run.journal), ("--retry-file", run_retry)):
        if target:
            prepare_output(flag, target)
    claim_journal(run, stack)
    raise_open_files_limit(len(selection.hosts) + 1024)  # one kept-alive connection per host, plus slack
    result = asyncio.run(run_with_progress(run, progress, args.command, quiet=bool(args.quiet)))
    return finish(args, result, retry_path, run_retry)


def _progress(args: argparse.Namespace) -> ProgressView:
    """The terminal's progress view and the logging beneath it (warnings only while it draws)."""
    progress_on = not args.quiet and sys.stderr.isatty()
    level = args.log_level or ("warning" if progress_on or args.quiet else "info")
    fmt = {"json": True, "console": False}.get(args.log_format or "auto")
    host_lines = 1 + (getattr(args, "verbose", 0) or 0) if progress_on else 0
    progress = ProgressView(sys.stderr, enabled=progress_on, lines=host_lines)
    # On a TTY, log lines are printed above the live status line instead of through it.
    configure_logging(level=level, json_lines=fmt, stream=AboveProgress(progress, sys.stderr) if progress_on
                      else sys.stderr, host_lines=bool(host_lines))
    return progress


async def run_with_progress(run: PreparedRun, progress: ProgressView, command: str,
                            source: str | None = None, *, quiet: bool = False) -> RunResult:
    """The API's :func:`~fleet.api.execute` with the progress view ticking and signals handled.

    The journal's line (where to resume) is printed unless ``quiet`` and the run was clean.
    """
    confirm = _BatchPrompt(progress) if run.options.step else None
    async with asyncio.TaskGroup() as tg:
        ticker = tg.create_task(_tick(progress))
        try:
            result = await execute(run, reporter=progress, confirm_batch=confirm, handle_signals=True,
                                   notice=lambda text: print(f"\nfleet: {text}", file=sys.stderr), source=source)
        finally:
            ticker.cancel()
    if run.journal and (not quiet or not result.ok):
        print(f"fleet: journal {run.journal} (resume with: fleet {command} --resume {run.journal})"
              if run.operation.fires else f"fleet: journal {run.journal}", file=sys.stderr)
    return result


def finish(args: argparse.Namespace, result: RunResult, retry_path: str, run_retry: str | None,
           command: str | None = None) -> int:
    """Keep the run's record, write the requested files, print the recap; the exit status."""
    doc = result.to_dict()
    problems = keep_record(result, doc, resumable=result.journal is not None and
                           (OPERATIONS.get(args.command) or Operation(result.operation)).fires)
    for problem in problems:
        print(f"fleet: error: {problem}", file=sys.stderr)
    written = _write_outputs(args, doc, retry_path, run_retry, result, command=command)
    code = result.exit_code
    return ExitCode.BUG if (not written or problems) and code is ExitCode.OK else code


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
                   result: RunResult, *, command: str | None = None) -> bool:
    """Write the summary, JUnit and retry files; ``False`` (after saying why) if one failed.

    Without ``-o`` the summary goes to stdout, unless stdout is a terminal: then it is only in
    the run's folder, whose path is printed (a person reads the recap, not 200 lines of JSON).
    When a file cannot be written the summary goes to stdout, so the account of what happened
    on each host is never lost. The retry files hold only hosts safe to fire again.
    """
    text = summary_json(doc)
    operation = OPERATIONS.get(args.command) or Operation(result.operation)
    advice = _rendered("retry advice", lambda: partition(doc, resumable=result.journal is not None and
                                                               operation.fires))
    kept = os.path.join(result.folder, SUMMARY_NAME) if result.folder else None
    written = True
    targets: list[tuple[str, str | None, Callable[[], str | bytes]]] = [
        ("--output", args.output, lambda: text),
        ("--junit", args.junit, lambda: junit_xml(doc)),
        ("--retry-file", retry, lambda: retry_text(advice) if advice is not None else ""),
    ]
    for flag, path, render in targets:
        if flag == "--output" and not path:
            if sys.stdout.isatty() and kept and os.path.exists(kept):
                continue  # said below, after the recap
            sys.stdout.write(text)
            sys.stdout.flush()
            continue
        if not path:
            continue
        data = _rendered(f"{flag} {path}", render)
        if data is None or (flag == "--retry-file" and advice is None):
            written = False
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
        shown = _rendered("the recap", lambda: recap(doc, width))
        if shown is not None:
            print(shown, file=sys.stderr)
        named = kept if kept and os.path.exists(kept) else args.output  # what fleet dag reads without a journal
        for line in advice_lines(advice, retry if args.retry_file or not run_retry else run_retry, result.journal,
                                 command or args.command, summary=named) if advice is not None else ():
            print(line, file=sys.stderr)
    if result.folder and not args.quiet:
        in_runs = os.path.dirname(os.path.normpath(result.folder)) == os.path.normpath(runs_dir())
        shown = os.path.basename(result.folder) if in_runs else result.folder  # what `fleet show` finds
        print(f"fleet: run {result.folder} (summary {kept}; fleet show {shown})", file=sys.stderr)
    elif result.folder and not args.output and sys.stdout.isatty() and not result.ok:
        print(f"fleet: summary {kept}", file=sys.stderr)  # -q after a clean run prints nothing
    return written


def _rendered(what: str, render: Callable[[], T]) -> T | None:
    """``render()``; a bug there is one error line (traceback in the debug log) and None, so every
    other output of the run is still written."""
    try:
        return render()
    except Exception as exc:
        if is_fleet_wide(exc):
            raise
        log.debug("output.render_error", what=what, exc_info=exc)
        print(f"fleet: error: {what}: cannot render it: internal error in fleet ({cause(exc)}); "
              "the traceback is in the debug log", file=sys.stderr)
        return None


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
