"""The TTY progress view and the recording reporter."""

from __future__ import annotations

import io

from fleet.models import ApiError, DagDetail, HostResult, HostSpec, Outcome, Phase
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


def busy_view(columns: int) -> tuple[ProgressView, FakeTty, FakeClock]:
    stream = FakeTty()
    clock = FakeClock()
    progress = ProgressView(stream, clock=clock, columns=columns, color=False, environ={}, lines=1)
    progress.run_started("obproxy.start", 1000)
    progress.batch_started(0, 500)
    hosts = [HostSpec(name=f"proxy-{i:04d}", address="10.0.0.1") for i in range(1000)]
    for host in hosts[:300]:
        progress.host_phase(host, Phase.POLLING)
    clock.now += 3
    dag = DagDetail("21", 1, "Start obproxy", "SUCCEED")
    for index, outcome in enumerate([Outcome.SUCCEEDED] * 90 + list(Outcome)):
        progress.host_done(HostResult(hosts[index], outcome, dag=dag))
    return progress, stream, clock


def test_status_line_keeps_counts_and_eta_at_80_and_120_columns() -> None:
    """At 80 and 120 columns the drawn line fits and still shows done/total, the ok and not-ok counts
    and the ETA; it drops elapsed time and rate first, not the ETA."""
    for columns in (80, 120):
        progress, stream, clock = busy_view(columns)
        clock.now += 1
        progress.tick()
        drawn = stream.getvalue().split("\r")[-1].removesuffix("\x1b[K")
        assert len(drawn) <= columns - 1, drawn
        assert f"{90 + len(Outcome)}/1000" in drawn and "ok 91" in drawn and "ETA " in drawn, drawn
        assert "\n" not in drawn


def test_eta_comes_from_dag_durations_and_does_not_jump() -> None:
    """With 10 hosts in flight and DAGs of ~10 s, the ETA for 100 queued hosts is ~100 s; a burst of
    fast failures (no DAG) does not change the estimate, and it counts down smoothly between events."""
    stream, clock = FakeTty(), FakeClock()
    progress = ProgressView(stream, clock=clock, columns=200, color=False, environ={})
    hosts = [HostSpec(name=f"h{i}", address="10.0.0.1") for i in range(120)]
    progress.run_started("obproxy.start", 120)
    for host in hosts[:10]:
        progress.host_phase(host, Phase.POLLING)
    clock.now += 10
    dag = DagDetail("21", 1, "Start obproxy", "SUCCEED")
    progress.host_done(HostResult(hosts[0], Outcome.SUCCEEDED, dag=dag))
    etas = []

    def eta() -> float:
        text = progress.line().split("ETA ")[1].split()[0]
        minutes, seconds = text.split(":")
        return int(minutes) * 60 + int(seconds)

    etas.append(eta())
    for host in hosts[10:20]:  # ten hosts fail fast, before any DAG
        progress.host_phase(host, Phase.CHECKING)
        clock.now += 0.01
        progress.host_done(HostResult(host, Outcome.UNREACHABLE))
        etas.append(eta())
    assert 90 <= etas[0] <= 120
    assert max(etas) - min(etas) <= 2, etas
    clock.now += 5
    assert etas[-1] - 10 <= eta() <= etas[-1] - 3  # counts down, moving towards the new estimate


def test_one_line_per_finished_host_above_the_status_line() -> None:
    """With lines=1 each finished host gets an 'ok:'/'failed:' line (ending in a newline) printed
    above the status line, which is redrawn after it; lines=0 prints none."""
    progress, stream, _ = view(color=False, lines=1)
    progress.run_started("obproxy.start", 2)
    progress.host_done(HostResult(HOSTS[0], Outcome.SUCCEEDED, dag=DagDetail("21", 4, "Start obproxy", "SUCCEED"),
                                  duration_ms=3100))
    progress.host_done(HostResult(HOSTS[1], Outcome.UNREACHABLE, error=ApiError(None, None, None, "refused")))
    out = stream.getvalue()
    assert "\r\x1b[Kok: [h0] dag 4 3.1 s\n\robproxy.start 1/2" in out
    assert "\r\x1b[Kunreachable: [h1] refused 0.0 s\n\robproxy.start 2/2" in out
    quiet, quiet_stream, _ = view(color=False)
    quiet.run_started("obproxy.start", 1)
    quiet.host_done(HostResult(HOSTS[0], Outcome.SUCCEEDED))
    assert "ok:" not in quiet_stream.getvalue()


def test_hosts_in_flight_are_counted_once_when_a_rollout_widens() -> None:
    """A canary host that finished does not lower the in-flight count the ETA divides by: after a
    batch of 1, twenty hosts in flight count as twenty."""
    stream, clock = FakeTty(), FakeClock()
    progress = ProgressView(stream, clock=clock, columns=120, color=False, environ={}, lines=0)
    progress.run_started("obproxy.start", 21)
    hosts = [HostSpec(name=f"proxy-{i:02d}", address="10.0.0.1") for i in range(21)]
    progress.host_phase(hosts[0], Phase.POLLING)
    clock.now += 2
    progress.host_done(HostResult(hosts[0], Outcome.SUCCEEDED, dag=DagDetail("41", 1, "Start obproxy", "SUCCEED")))
    for host in hosts[1:]:
        progress.host_phase(host, Phase.POLLING)
    assert progress._peak_active == 20


def test_hosts_just_begun_are_never_slow() -> None:
    """A check whose first host ended at once says no "N slow" for the hosts that began with it
    (0.0 s in); hosts still going well past the usual time (twice it, and a second over) are slow."""
    hosts = [HostSpec(name=f"c{i}", address=f"10.0.1.{i}") for i in range(20)]
    progress, _stream, clock = view(color=False)
    progress.run_started("obproxy.check", 20)
    for host in hosts:
        progress.host_phase(host, Phase.CHECKING)
    progress.host_done(HostResult(hosts[0], Outcome.SUCCEEDED))
    assert "slow" not in progress.line() and "ETA" not in progress.line()
    clock.now += 0.5
    assert "slow" not in progress.line()
    clock.now += 1.0
    assert progress.line().endswith("| 19 slow elapsed 0:02")
