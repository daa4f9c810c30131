"""``fleet.start`` / ``fleet.stop`` / ``fleet.check``: a whole run in one call, and their sync twins.

Each takes an inventory (a path, several paths, or :class:`~fleet.models.HostSpec` objects), the
CLI's options as keyword arguments (checked as :class:`~fleet.api.RunOptions`), and returns a
:class:`~fleet.api.RunResult`. The run keeps its record as the CLI's does: a journal, and a
folder ``<home>/runs/<run-id>/`` with ``summary.json``, ``retry`` and ``report.html``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Unpack

import structlog

from fleet.api.execute import ConfirmBatch, HostCallback, execute, keep_record
from fleet.api.options import RunArgs, RunOptions
from fleet.api.prepare import api_option_report, claim_journal, open_journal, plan_run, replay, select_hosts
from fleet.api.result import RunResult
from fleet.engine.plan import Operation
from fleet.errors import InputError
from fleet.models import HostSpec, Reporter
from fleet.report.sanitize import mask_run_secrets

Target = str | Sequence[str] | Sequence[HostSpec]


async def run(operation: Operation | str, inventory: Target | None = None, *, on_host: HostCallback | None = None,
              reporter: Reporter | None = None, confirm_batch: ConfirmBatch | None = None,
              environ: Mapping[str, str] | None = None, handle_signals: bool = False,
              **options: Unpack[RunArgs]) -> RunResult:
    """Run ``operation`` (``"obproxy.start"``, ``"obproxy.stop"``, ``"check"``) on ``inventory``.

    ``on_host`` is called with each host's result as it ends (sanitised, like the summary);
    ``reporter`` gets every engine event (:class:`~fleet.models.Reporter`). ``confirm_batch``
    answers ``step=True`` before each batch. Passwords come from ``environ`` (default
    ``os.environ``) as the inventory says. ``resume=JOURNAL`` continues that run with the options
    it recorded, except those passed here; ``inventory`` may then be left out.
    Raises :class:`~fleet.errors.InputError` on bad input, before anything is sent.
    """
    _route_logs_to_logging()
    op = Operation(operation)
    if op.dag_operator:
        raise InputError(f"{op.value}: act on a past run's DAGs with `fleet dag`")
    opts = RunOptions(**options)
    explicit = frozenset(options)
    if opts.step and confirm_batch is None:
        raise InputError("step=True asks before each batch: pass confirm_batch")
    with ExitStack() as stack:
        state = None
        replayed: frozenset[str] = frozenset()
        overrides: dict[str, object] = {}
        if opts.resume:
            state = open_journal(opts.resume, op, stack)
            before = opts
            opts, overrides = replay(opts, state, explicit)
            replayed = frozenset(n for n in RunOptions.__dataclass_fields__
                                 if getattr(opts, n) != getattr(before, n))
            if inventory is None:
                recorded = state.latest.get("inventory")
                inventory = recorded if isinstance(recorded, str | list) else None
        if inventory is None:
            raise InputError("no inventory: pass an inventory path (or several) or host specs")
        selection = select_hosts(inventory, opts, state=state, keep_order="order" not in explicit)
        prepared = plan_run(op, selection, opts, state=state, environ=environ,
                            option_report=api_option_report(opts, explicit, replayed), overrides=overrides)
        claim_journal(prepared, stack)
        result = await execute(prepared, reporter=reporter, on_host=on_host, confirm_batch=confirm_batch,
                               handle_signals=handle_signals)
    await asyncio.to_thread(keep_record, result)
    return result


def _route_logs_to_logging() -> None:
    """Unless the application configured structlog, send fleet's events to :mod:`logging`.

    structlog's own default prints every event to stdout; through ``logging`` they follow the
    application's setup (loggers ``fleet.engine``, ``fleet.client`` …; without one, warnings
    and worse on stderr). An application that configured structlog keeps its configuration.
    """
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, mask_run_secrets, structlog.processors.format_exc_info,
                    structlog.processors.KeyValueRenderer(key_order=["event"], drop_missing=True)],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


async def start(inventory: Target | None = None, *, on_host: HostCallback | None = None,
                reporter: Reporter | None = None, confirm_batch: ConfirmBatch | None = None,
                environ: Mapping[str, str] | None = None, handle_signals: bool = False,
                **options: Unpack[RunArgs]) -> RunResult:
    """Start ODP on the selected hosts and follow each DAG (``fleet start``); see :func:`run`."""
    return await run(Operation.START, inventory, on_host=on_host, reporter=reporter, confirm_batch=confirm_batch,
                     environ=environ, handle_signals=handle_signals, **options)


async def stop(inventory: Target | None = None, *, on_host: HostCallback | None = None,
               reporter: Reporter | None = None, confirm_batch: ConfirmBatch | None = None,
               environ: Mapping[str, str] | None = None, handle_signals: bool = False,
               **options: Unpack[RunArgs]) -> RunResult:
    """Stop ODP on the selected hosts and follow each DAG (``fleet stop``); see :func:`run`."""
    return await run(Operation.STOP, inventory, on_host=on_host, reporter=reporter, confirm_batch=confirm_batch,
                     environ=environ, handle_signals=handle_signals, **options)


async def check(inventory: Target | None = None, *, on_host: HostCallback | None = None,
                reporter: Reporter | None = None, environ: Mapping[str, str] | None = None,
                handle_signals: bool = False, **options: Unpack[RunArgs]) -> RunResult:
    """Preflight only: reachability, version, ODP agent, credentials (``fleet check``); see :func:`run`."""
    return await run(Operation.CHECK, inventory, on_host=on_host, reporter=reporter, environ=environ,
                     handle_signals=handle_signals, **options)


def start_sync(inventory: Target | None = None, *, on_host: HostCallback | None = None,
               environ: Mapping[str, str] | None = None, handle_signals: bool = False,
               **options: Unpack[RunArgs]) -> RunResult:
    """:func:`start` for code without an event loop (a script, an Airflow task)."""
    return asyncio.run(start(inventory, on_host=on_host, environ=environ, handle_signals=handle_signals,
                             **options))


def stop_sync(inventory: Target | None = None, *, on_host: HostCallback | None = None,
              environ: Mapping[str, str] | None = None, handle_signals: bool = False,
              **options: Unpack[RunArgs]) -> RunResult:
    """:func:`stop` for code without an event loop."""
    return asyncio.run(stop(inventory, on_host=on_host, environ=environ, handle_signals=handle_signals, **options))


def check_sync(inventory: Target | None = None, *, on_host: HostCallback | None = None,
               environ: Mapping[str, str] | None = None, handle_signals: bool = False,
               **options: Unpack[RunArgs]) -> RunResult:
    """:func:`check` for code without an event loop."""
    return asyncio.run(check(inventory, on_host=on_host, environ=environ, handle_signals=handle_signals,
                             **options))
