"""Run a prepared run through the engine and keep its record in the run's folder.

The engine's results are sanitised once here (passwords masked, control characters escaped),
so the :class:`~fleet.api.RunResult`, the host events, the summary and the report all carry
the same clean text. Signal handlers are installed only when asked (the CLI asks): a library
must not take over its host process's SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from fleet.api.advice import partition, retry_text
from fleet.api.paths import REPORT_NAME, RETRY_NAME, SUMMARY_NAME
from fleet.api.prepare import PreparedRun
from fleet.api.result import RunResult
from fleet.client import HttpClient
from fleet.engine.containment import cause, is_fleet_wide
from fleet.engine.journal import Journal, NullJournal
from fleet.engine.run import Engine, RunReport
from fleet.models import ApiError, HostResult, HostSpec, Phase, Reporter
from fleet.report.files import write_atomic
from fleet.report.html import html_report
from fleet.report.sanitize import RUN_SANITIZER, Sanitizer
from fleet.report.summary import summary_json

log = structlog.get_logger("fleet.api")

HostCallback = Callable[[HostResult], object]
ConfirmBatch = Callable[[int, list[HostSpec]], Awaitable[bool]]
Notice = Callable[[str], object]


class _Events(Reporter):
    """Forwards the engine's events to the caller's reporter, and each sanitised result to ``on_host``."""

    def __init__(self, reporter: Reporter | None, on_host: HostCallback | None, sanitizer: Sanitizer) -> None:
        self._reporter = reporter or Reporter()
        self._on_host = on_host
        self._sanitizer = sanitizer

    def run_started(self, operation: str, hosts: int) -> None:
        self._reporter.run_started(operation, hosts)

    def host_phase(self, host: HostSpec, phase: Phase) -> None:
        self._reporter.host_phase(host, phase)

    def host_done(self, result: HostResult) -> None:
        self._reporter.host_done(result)
        if self._on_host is not None:
            self._on_host(clean_result(result, self._sanitizer))

    def batch_started(self, index: int, hosts: int) -> None:
        self._reporter.batch_started(index, hosts)

    def run_finished(self) -> None:
        self._reporter.run_finished()


def clean_result(result: HostResult, sanitizer: Sanitizer) -> HostResult:
    """``result`` with every agent string sanitised, through the summary's own form and back."""
    return HostResult.from_dict(sanitizer.clean(result.to_dict()), result.host)


async def execute(run: PreparedRun, *, reporter: Reporter | None = None, on_host: HostCallback | None = None,
                  confirm_batch: ConfirmBatch | None = None, handle_signals: bool = False,
                  notice: Notice | None = None, source: str | None = None) -> RunResult:
    """Run ``run`` to the end and return its result (its folder's files written, see :func:`keep_record`).

    A bug inside fleet does not raise: every host is still accounted for and the result's
    ``error`` says what broke. ``handle_signals``: the first SIGINT/SIGTERM stops firing and
    follows in-flight DAGs for the grace period, the second stops at once (``notice`` is told).
    """
    sanitizer = Sanitizer(secret.reveal() for secret in run.plan.passwords.values())
    token = RUN_SANITIZER.set(sanitizer)  # log lines of this run mask its passwords (mask_run_secrets)
    try:
        return await _execute(run, sanitizer, reporter=reporter, on_host=on_host, confirm_batch=confirm_batch,
                              handle_signals=handle_signals, notice=notice, source=source)
    finally:
        RUN_SANITIZER.reset(token)


async def _execute(run: PreparedRun, sanitizer: Sanitizer, *, reporter: Reporter | None, on_host: HostCallback | None,
                   confirm_batch: ConfirmBatch | None, handle_signals: bool, notice: Notice | None,
                   source: str | None) -> RunResult:
    say = notice or (lambda text: log.warning("run.signal", notice=text))
    journal: Journal = Journal(run.journal, clean=sanitizer.clean) if run.journal else NullJournal()
    meta = dict(run.meta, **({"source": source} if source else {}))
    events = _Events(reporter, on_host, sanitizer)
    async with HttpClient(run.plan.limits, run.plan.timeouts) as http, journal:
        engine = Engine(run.plan, http, reporter=events, journal=journal, confirm_batch=confirm_batch,
                        journal_meta=meta)
        loop = asyncio.get_running_loop()
        seen = 0

        def on_signal(signum: int) -> None:
            nonlocal seen
            seen += 1
            if seen == 1:
                say(f"{signal.Signals(signum).name}: firing stopped; following in-flight DAGs for "
                    f"{run.plan.timeouts.grace:g} s (signal again to stop now)")
                engine.stop_firing()
            else:
                say("stopping now")
                engine.abort()

        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, on_signal, sig)
        crash = None
        try:
            report = await engine.run()
        except Exception as exc:  # a bug in fleet: still account for every host
            log.exception("run.crashed")
            leaf = _first_leaf(exc)
            report, crash = RunReport(engine.snapshot(), interrupted=True), f"{type(leaf).__name__}: {leaf}"
        finally:
            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
    return _result(run, report, crash, sanitizer)


def _result(run: PreparedRun, report: RunReport, crash: str | None, sanitizer: Sanitizer) -> RunResult:
    selection = run.selection
    return RunResult(
        operation=run.operation.value, started_at=run.started_at, finished_at=time.time(),
        inventory=selection.inventory.path, limit=run.options.limit, shard=selection.shard, journal=run.journal,
        interrupted=report.interrupted, error=sanitizer.clean(crash) if crash else None,
        options=run.option_report, resume=run.resume, policy_stop=report.policy_stop, folder=run.folder,
        hosts=tuple(_recorded(r, sanitizer) for r in report.results),
    )


def _recorded(result: HostResult, sanitizer: Sanitizer) -> HostResult:
    """``result`` sanitised; if one host's values break that, the host keeps its outcome and the
    cause in its error, and loses only the details (the run's result and files still come out)."""
    try:
        return clean_result(result, sanitizer)
    except Exception as exc:
        if is_fleet_wide(exc):
            raise
        log.error("host.record_error", host=result.host.name, error=type(exc).__name__)
        log.debug("host.record_error.traceback", host=result.host.name, exc_info=exc)
        message = f"fleet could not record this host's details ({cause(exc)}); the traceback is in the debug log"
        return HostResult(result.host, result.outcome, error=ApiError(None, None, None, sanitizer.clean(message)),
                          fired_at=result.fired_at)


def keep_record(result: RunResult, doc: dict[str, Any] | None = None, *, resumable: bool = True) -> list[str]:
    """Write the run's folder: ``summary.json``, ``retry`` and ``report.html``; returns the problems.

    Each file is written atomically; one that cannot be written is named in the returned list
    (``"summary.json: cannot write: …"``) and the others are still written.
    """
    if result.folder is None:
        return []
    doc = result.to_dict() if doc is None else doc
    problems = []
    renderers: tuple[tuple[str, Callable[[], str]], ...] = (
        (SUMMARY_NAME, lambda: summary_json(doc)),
        (RETRY_NAME, lambda: retry_text(partition(doc, resumable=resumable and result.journal is not None))),
        (REPORT_NAME, lambda: html_report(doc)))
    for name, render in renderers:
        path = os.path.join(result.folder, name)
        try:
            os.makedirs(result.folder, exist_ok=True)
            write_atomic(path, render())
        except OSError as exc:
            problems.append(f"{path}: cannot write: {exc.strerror}")
        except Exception as exc:  # a bug rendering one file: the others are still written
            if is_fleet_wide(exc):
                raise
            problems.append(render_problem(path, exc))
    return problems


def render_problem(path: str, exc: Exception) -> str:
    """The one line saying ``path`` could not be rendered (the traceback goes to the debug log)."""
    log.debug("output.render_error", path=path, exc_info=exc)
    return f"{path}: cannot render it: internal error in fleet ({cause(exc)}); the traceback is in the debug log"


def _first_leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (nested) TaskGroup exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
