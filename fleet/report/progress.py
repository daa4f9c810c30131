"""Reporters that render or record the engine's events.

:class:`ProgressView` draws a one-line, in-place progress display on a terminal;
:class:`RecordingReporter` keeps every event in memory for tests of the engine.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fleet.models import HostResult, HostSpec, Outcome, Phase, Reporter
from fleet.report.recap import host_line

MIN_INTERVAL = 0.1
"""Seconds between two redraws (at most ~10 per second)."""
DEFAULT_COLUMNS = 80
ETA_SMOOTHING_S = 5.0
#: a host in flight is "slow" once past twice the usual time and at least this much over it
SLOW_MARGIN_S = 1.0
"""Time constant of the ETA's smoothing: a new estimate moves the shown one ~63 % of the way in 5 s."""
_SHORT = {"succeeded": "ok", "timed_out": "timeout", "unreachable": "unreach", "auth_failed": "auth",
          "precheck_failed": "precheck", "protocol_error": "proto", "interrupted": "intr", "ambiguous": "ambig"}

_RESET = "\x1b[0m"
_CLEAR_TO_EOL = "\x1b[K"
_GREEN, _RED, _YELLOW, _DIM = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[2m"


class TextStream(Protocol):
    """What a progress view writes to: ``sys.stderr`` or a fake in tests."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


class ProgressView(Reporter):
    """Counts per phase and outcome, hosts/s and an ETA, redrawn in place on one line.

    Draws nothing at all unless ``enabled`` (``--quiet`` turns it off) and ``stream`` is a
    TTY. Colour is used unless the ``NO_COLOR`` environment variable is set (non-empty) or
    ``color=False``. Redraws are throttled to one per ``min_interval`` seconds of ``clock``;
    the engine's events trigger them, and :meth:`tick` may be called periodically to keep the
    rate and ETA moving while hosts are slow. ``run_finished`` draws a last time and ends the
    line. A failing stream (closed terminal) silently switches the view off.

    ``lines`` 1 prints one line per finished host above the status line (``ok: [h] dag 4 3.1 s``),
    2 adds trace ids, polls and agent version; 0 prints none. The status line drops detail
    (elapsed, rate, then phase names, then per-outcome counts) until it fits the terminal.

    The ETA: ``d`` is the mean time hosts that ended with a DAG took from their first check to
    their end, measured by this view (resumed hosts excluded; all hosts when none fires a DAG);
    ``c`` the most hosts seen in flight at once. The hosts
    still in flight need about ``max(d - age)``, the queued ones ``queued * d / c`` more. The
    shown value counts down between estimates and moves towards each new one with a 5 s time
    constant, so one slow or fast host cannot make it jump.
    """

    def __init__(
        self,
        stream: TextStream,
        *,
        enabled: bool = True,
        color: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = MIN_INTERVAL,
        environ: Mapping[str, str] = os.environ,
        columns: int | None = None,
        lines: int = 0,
    ) -> None:
        self._stream = stream
        self.enabled = enabled and _isatty(stream)
        self.color = (not environ.get("NO_COLOR")) if color is None else color
        self._clock = clock
        self._min_interval = min_interval
        self._columns = columns
        self._operation = ""
        self._total = 0
        self._batch: int | None = None
        self._phases: dict[str, Phase] = {}
        self._outcomes: Counter[Outcome] = Counter()
        self._started = clock()
        self._last_draw: float | None = None
        self._finished = False
        self._lines = lines
        self._began: dict[str, float] = {}
        self._durations: list[float] = []
        self._dag_durations: list[float] = []
        self._peak_active = 0
        self._eta: tuple[float, float] | None = None  # (shown seconds, when)

    # Reporter events ---------------------------------------------------------------------

    def run_started(self, operation: str, hosts: int) -> None:
        self._operation, self._total = operation, hosts
        self._started = self._clock()
        self._changed()

    def batch_started(self, index: int, hosts: int) -> None:
        self._batch = index
        self._changed()

    def host_phase(self, host: HostSpec, phase: Phase) -> None:
        if not self.enabled:  # nothing is drawn: keep no per-host state (a few µs per event)
            return
        self._phases[host.key] = phase
        if phase is not Phase.QUEUED:
            self._began.setdefault(host.key, self._clock())
        self._peak_active = max(self._peak_active, len(self._began))  # finished hosts leave _began
        self._changed()

    def host_done(self, result: HostResult) -> None:
        if not self.enabled:
            return
        self._phases[result.host.key] = Phase.DONE
        self._outcomes[result.outcome] += 1
        began = self._began.pop(result.host.key, None)
        if began is not None:
            self._durations.append(max(0.0, self._clock() - began))
            if result.dag is not None:
                self._dag_durations.append(self._durations[-1])
        if self._lines and self.enabled and not self._finished:
            text = host_line(result, verbose=self._lines > 1)
            label, _, rest = text.partition(" ")
            colour = _colour(result.outcome)
            self.write_above((f"{colour}{label}{_RESET} {rest}" if self.color else text) + "\n")
        self._changed()

    def run_finished(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._draw()
        self._write("\n")

    def write_above(self, text: str) -> None:
        """Print ``text`` (whole lines, e.g. a log line) above the status line, then redraw it."""
        if not self.enabled or self._finished:
            self._stream.write(text)
            self._stream.flush()
            return
        self._write("\r" + _CLEAR_TO_EOL + text)
        self._draw()

    def tick(self) -> None:
        """Redraw if the throttle allows (elapsed time, rate and ETA change without events)."""
        self._changed()

    # Rendering ---------------------------------------------------------------------------

    def line(self) -> str:
        """The current status line, uncoloured and untruncated."""
        return "".join(text for text, _ in self._segments())

    def _changed(self) -> None:
        if not self.enabled or self._finished:
            return
        now = self._clock()
        if self._last_draw is None or now - self._last_draw >= self._min_interval:
            self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        self._last_draw = self._clock()
        self._write("\r" + self._render(self._width() - 1) + _CLEAR_TO_EOL)

    def _render(self, limit: int) -> str:
        layouts = [self._segments(), self._segments(compact=True), self._segments(compact=True, minimal=True)]
        segments = next((lay for lay in layouts if sum(len(t) for t, _ in lay) <= limit), layouts[-1])
        parts: list[str] = []
        used = 0
        for text, colour in segments:
            if used + len(text) > limit:
                text = text[: max(0, limit - used)]
            if not text:
                break
            used += len(text)
            parts.append(f"{colour}{text}{_RESET}" if self.color and colour else text)
        return "".join(parts)

    def _segments(self, *, compact: bool = False, minimal: bool = False) -> list[tuple[str, str]]:
        done = sum(self._outcomes.values())
        head = f"{done}/{self._total}" if minimal else f"{self._operation or 'fleet'} {done}/{self._total}"
        segments: list[tuple[str, str]] = [(head, "")]
        if self._batch is not None:
            segments.append((f" b{self._batch + 1}" if compact else f" batch {self._batch + 1}", _DIM))
        bad = sum(count for outcome, count in self._outcomes.items() if not outcome.ok)
        for outcome in Outcome:
            count = self._outcomes[outcome]
            if not count or (minimal and not outcome.ok):
                continue
            name = _SHORT.get(outcome.value, outcome.value) if compact else outcome.value
            segments.append((f" {name} {count}", _colour(outcome)))
        if minimal and bad:
            segments.append((f" not-ok {bad}", _RED))
        phases = Counter(self._phases.values())
        queued = max(0, self._total - len(self._phases)) + phases[Phase.QUEUED]
        active = [(Phase.QUEUED, queued)] + [(p, phases[p]) for p in (Phase.CHECKING, Phase.FIRING, Phase.POLLING)]
        if compact:
            running = sum(count for phase, count in active[1:])
            shown = " ".join(text for text in (f"run {running}" if running else "", f"q {queued}" if queued else "")
                             if text)
        else:
            shown = " ".join(f"{phase.value} {count}" for phase, count in active if count)
        if shown:
            segments.append((f" | {shown}", _DIM))
        now = self._clock()
        elapsed = max(0.0, now - self._started)
        if not compact:
            rate = done / elapsed if elapsed > 0 else 0.0
            segments.append((f" | {rate:.1f} hosts/s", ""))
        eta = self._eta_seconds(now, queued, phases[Phase.POLLING])
        if eta is not None and done < self._total:
            if eta < 1 and not queued:  # only hosts past the usual time are left: say so, not "0:00"
                slow = self._slow(now, phases[Phase.POLLING])
                if slow:
                    segments.append((f" | {slow} slow", _YELLOW))
            else:
                segments.append((f" ETA {_clock_text(eta)}" if not compact else f" | ETA {_clock_text(eta)}", ""))
        if not compact:
            segments.append((f" elapsed {_clock_text(elapsed)}", _DIM))
        return segments

    def _eta_seconds(self, now: float, queued: int, polling: int) -> float | None:
        """The smoothed estimate of the seconds left (see the class docstring).

        Based on hosts that ended with a DAG once one has; while DAGs are pending and none has
        ended, there is no estimate (hosts that failed fast say nothing about DAG times).
        """
        durations = self._dag_durations or ([] if polling else self._durations)
        if not durations:
            return None
        mean = sum(durations) / len(durations)
        ages = [now - began for began in self._began.values()]
        tail = max((mean - age for age in ages), default=0.0)
        raw = max(0.0, tail) + queued * mean / max(1, self._peak_active)
        if self._eta is None:
            self._eta = (raw, now)
            return raw
        shown, at = self._eta
        if now > at:
            predicted = max(0.0, shown - (now - at))
            weight = 1.0 - math.exp(-(now - at) / ETA_SMOOTHING_S)
            self._eta = (predicted + weight * (raw - predicted), now)
        return self._eta[0]

    def _slow(self, now: float, polling: int) -> int:
        """Hosts in flight well past the usual time (twice it, and :data:`SLOW_MARGIN_S` over it):
        hosts that have just begun are never slow, whatever the mean."""
        durations = self._dag_durations or ([] if polling else self._durations)
        if not durations:
            return 0
        mean = sum(durations) / len(durations)
        return sum(1 for began in self._began.values() if now - began > max(2 * mean, mean + SLOW_MARGIN_S))

    def _width(self) -> int:
        if self._columns is not None:
            return self._columns
        return shutil.get_terminal_size((DEFAULT_COLUMNS, 24)).columns

    def _write(self, text: str) -> None:
        if not self.enabled:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # closed or broken terminal: stop drawing, never fail the run
            self.enabled = False


class AboveProgress:
    """A text stream that writes above a live :class:`ProgressView` (for log lines on a TTY).

    Whole lines only: ``print`` writes a message and its newline in two calls, and the status
    line redrawn between them would cover the message; a part line waits for its newline.
    """

    def __init__(self, view: ProgressView, stream: TextStream) -> None:
        self._view = view
        self._stream = stream
        self._pending = ""

    def write(self, text: str, /) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self._view.write_above(lines + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return _isatty(self._stream)


def _colour(outcome: Outcome) -> str:
    return _GREEN if outcome.ok else _YELLOW if outcome is Outcome.SKIPPED else _RED


def _isatty(stream: TextStream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _clock_text(seconds: float) -> str:
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True, slots=True)
class Event:
    """One reporter call: its method name and arguments."""

    name: str
    args: tuple[Any, ...]


class RecordingReporter(Reporter):
    """Keeps every event in order, for asserting what the engine reported."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def run_started(self, operation: str, hosts: int) -> None:
        self.events.append(Event("run_started", (operation, hosts)))

    def host_phase(self, host: HostSpec, phase: Phase) -> None:
        self.events.append(Event("host_phase", (host, phase)))

    def host_done(self, result: HostResult) -> None:
        self.events.append(Event("host_done", (result,)))

    def batch_started(self, index: int, hosts: int) -> None:
        self.events.append(Event("batch_started", (index, hosts)))

    def run_finished(self) -> None:
        self.events.append(Event("run_finished", ()))

    @property
    def names(self) -> list[str]:
        """The method names called, in order."""
        return [event.name for event in self.events]

    @property
    def results(self) -> list[HostResult]:
        """The results passed to ``host_done``, in order."""
        return [event.args[0] for event in self.events if event.name == "host_done"]

    def phases(self, host: HostSpec | str) -> list[Phase]:
        """The phases ``host`` (a spec or its ``key``) went through, in order."""
        key = host if isinstance(host, str) else host.key
        return [event.args[1] for event in self.events
                if event.name == "host_phase" and event.args[0].key == key]
