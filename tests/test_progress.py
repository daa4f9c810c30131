"""The TTY progress view and the recording reporter."""

from __future__ import annotations

import io

from fleet.models import HostResult, HostSpec, Outcome, Phase
from fleet.report import ProgressView, RecordingReporter


class FakeTty(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


HOSTS = [HostSpec(name=f"h{i}", address=f"10.0.0.{i}") for i in range(4)]


def view(stream: io.StringIO | None = None, **options: object) -> tuple[ProgressView, io.StringIO, FakeClock]:
    stream = FakeTty() if stream is None else stream
    clock = FakeClock()
    return ProgressView(stream, clock=clock, columns=200, environ={}, **options), stream, clock  # type: ignore[arg-type]


def test_draws_counts_rate_and_eta_in_place_on_a_tty() -> None:
    """On a TTY the view redraws one line with counts per phase and outcome, hosts/s and ETA."""
    progress, stream, clock = view(color=False)
    progress.run_started("obproxy.start", 4)
    progress.host_phase(HOSTS[0], Phase.POLLING)
    clock.now += 1
    progress.host_done(HostResult(HOSTS[0], Outcome.SUCCEEDED))
    clock.now += 1
    progress.host_done(HostResult(HOSTS[1], Outcome.FAILED))
    out = stream.getvalue()
    assert out.startswith("\r") and "\n" not in out
    last = out.split("\r")[-1]
    assert "obproxy.start 2/4" in last and "succeeded 1" in last and "failed 1" in last
    assert "queued 2" in last and "1.0 hosts/s" in last and "ETA 0:02" in last
    assert "\x1b[3" not in out  # no colour


def test_redraws_are_throttled_and_the_finish_always_draws() -> None:
    """Events closer than 0.1 s apart do not redraw; run_finished draws once more and ends the line."""
    progress, stream, clock = view()
    progress.run_started("obproxy.start", 4)
    for host in HOSTS:
        progress.host_phase(host, Phase.FIRING)
        clock.now += 0.01
    assert stream.getvalue().count("\r") == 1
    clock.now += 0.2
    progress.tick()
    assert stream.getvalue().count("\r") == 2
    for host in HOSTS:
        progress.host_done(HostResult(host, Outcome.SUCCEEDED))
    progress.run_finished()
    progress.run_finished()
    out = stream.getvalue()
    assert out.count("\r") == 3 and out.endswith("\n") and out.count("\n") == 1
    assert "4/4" in out.split("\r")[-1]
    progress.host_done(HostResult(HOSTS[0], Outcome.SUCCEEDED))
    assert stream.getvalue() == out  # nothing after the end


def test_colour_unless_no_color() -> None:
    """Outcome counts are coloured on a TTY, and plain when NO_COLOR is set."""
    coloured, stream, _ = view()
    coloured.run_started("check", 1)
    coloured.host_done(HostResult(HOSTS[0], Outcome.FAILED))
    coloured.run_finished()
    assert "\x1b[31m failed 1" in stream.getvalue()
    plain_stream = FakeTty()
    plain = ProgressView(plain_stream, environ={"NO_COLOR": "1"}, columns=200)
    plain.run_started("check", 1)
    plain.run_finished()
    assert plain_stream.getvalue() and "\x1b[3" not in plain_stream.getvalue()


def test_nothing_on_a_non_tty_or_when_disabled() -> None:
    """A stream that is not a TTY, or enabled=False (--quiet), gets no output at all."""
    for progress, stream, _ in (view(io.StringIO()), view(enabled=False)):
        progress.run_started("obproxy.start", 2)
        progress.host_phase(HOSTS[0], Phase.CHECKING)
        progress.host_done(HostResult(HOSTS[0], Outcome.SUCCEEDED))
        progress.tick()
        progress.run_finished()
        assert stream.getvalue() == ""


def test_line_is_cut_to_the_terminal_width() -> None:
    """The drawn line never exceeds the terminal's columns, so it cannot wrap."""
    stream = FakeTty()
    progress = ProgressView(stream, columns=30, color=False)
    progress.run_started("obproxy.start", 1000)
    progress.run_finished()
    drawn = stream.getvalue().split("\r")[-1].removesuffix("\n").removesuffix("\x1b[K")
    assert 0 < len(drawn) <= 29
    assert len(progress.line()) > 30


def test_a_broken_stream_switches_the_view_off() -> None:
    """A write error (terminal gone) disables the view instead of failing the run."""

    class Broken(FakeTty):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    progress = ProgressView(Broken(), columns=80)
    progress.run_started("obproxy.start", 1)
    assert progress.enabled is False
    progress.run_finished()


def test_recording_reporter_keeps_events_in_order() -> None:
    """RecordingReporter records every call; helpers give names, results and a host's phases."""
    recorder = RecordingReporter()
    recorder.run_started("obproxy.start", 2)
    recorder.batch_started(0, 2)
    recorder.host_phase(HOSTS[0], Phase.CHECKING)
    recorder.host_phase(HOSTS[1], Phase.CHECKING)
    recorder.host_phase(HOSTS[0], Phase.POLLING)
    done = HostResult(HOSTS[0], Outcome.SUCCEEDED)
    recorder.host_done(done)
    recorder.run_finished()
    assert recorder.names == ["run_started", "batch_started", "host_phase", "host_phase", "host_phase",
                              "host_done", "run_finished"]
    assert recorder.results == [done]
    assert recorder.phases(HOSTS[0]) == [Phase.CHECKING, Phase.POLLING]
    assert recorder.phases(HOSTS[1].key) == [Phase.CHECKING]
