"""The engine's pure parts: poll timing, the deadline scheduler, batches, outcomes, journal."""

from __future__ import annotations

import asyncio
import os
import random
import stat
from datetime import UTC
from pathlib import Path

import pytest

from fleet.engine import outcome as oc
from fleet.engine.follow import DagFollower
from fleet.engine.hostrun import HostRun
from fleet.engine.journal import Journal, read_journal
from fleet.engine.plan import Operation, RunPlan, batch_sizes
from fleet.engine.polling import PollPlanner, PollPolicy, retry_delay
from fleet.engine.priors import priors_from_events, result_from_journal
from fleet.engine.recovery import find_lost_dag
from fleet.engine.scheduler import DeadlineScheduler
from fleet.errors import ApiFailure, AuthRefused, ConnectError, ConnectionLost, NotFound, ProtocolError, RequestTimeout
from fleet.models import AgentInfo, ApiError, DagDetail, FailedTask, HostSpec, NodeDetail, Outcome, Reply, SubTaskDetail


def test_planner_looks_early_then_backs_off_to_the_cap() -> None:
    """The first look is quick; intervals grow with the DAG's age and never exceed the cap (no
    DAG held, so no scout cadence either)."""
    planner = PollPlanner(PollPolicy(first=0.5, minimum=0.4, cap=2.0, growth=0.25, jitter=0.0, hold=0.0))
    assert planner.first_delay() == 0.5
    assert planner.next_delay(1.0) == 0.4
    assert planner.next_delay(4.0) == 1.0
    assert planner.next_delay(100.0) == 2.0


def test_planner_skips_polls_before_the_learned_floor() -> None:
    """Once enough DAGs finished, no DAG is polled before the shortest typical duration."""
    planner = PollPlanner(PollPolicy(jitter=0.0, minimum=0.4, learn_after=4, floor_quantile=0.0, floor_margin=1.0))
    assert planner.floor == 0.0
    for d in (2.0, 2.5, 3.0, 3.5):
        planner.observe(d)
    assert planner.floor == 2.0
    assert planner.next_delay(0.5) == pytest.approx(1.5)
    assert planner.next_delay(2.5) == pytest.approx(0.625)
    assert planner.first_delay() == 2.0
    assert planner.defer(0.5) == pytest.approx(1.5) and planner.defer(1.95) == 0.0


def test_fast_failures_pull_the_first_look_back_down() -> None:
    """When DAGs start finishing quickly (e.g. failing at once), the floor and first look follow."""
    planner = PollPlanner(PollPolicy(first=0.5, jitter=0.0, learn_after=4, floor_quantile=0.0))
    for d in (3.0, 3.1, 3.2, 3.3):
        planner.observe(d)
    assert planner.first_delay() == 3.0
    planner.observe(0.6)
    assert planner.first_delay() == pytest.approx(0.6)


def test_planner_jitter_stays_within_bounds() -> None:
    """Jitter spreads polls by at most ±jitter around the interval."""
    planner = PollPlanner(PollPolicy(jitter=0.1, cap=1.0, minimum=1.0), random.Random(1))
    delays = [planner.next_delay(10.0) for _ in range(200)]
    assert min(delays) >= 0.9 and max(delays) <= 1.1 and len(set(delays)) > 100


def test_scouts_look_early_while_the_rest_are_held() -> None:
    """While no duration is learnt, the first `scouts` DAGs look at `first` and every `first` until
    `hold`; the others are held until `hold` (re-checking every `recheck` without a request);
    learning releases them and ends the scouts' quick cadence."""
    policy = PollPolicy(first=0.5, minimum=0.85, hold=1.7, recheck=0.3, scouts=2, learn_after=2, jitter=0.0,
                        floor_quantile=0.0)
    planner = PollPlanner(policy)
    assert [planner.admit() for _ in range(4)] == [False, False, True, True]
    assert planner.defer(0.5, held=False) == 0.0
    assert planner.next_delay(1.0) == pytest.approx(0.5) and planner.next_delay(1.8) == pytest.approx(0.85)
    assert planner.defer(0.5, held=True) == pytest.approx(0.3)
    assert planner.defer(1.6, held=True) == pytest.approx(0.1)
    assert planner.defer(1.7, held=True) == 0.0
    planner.observe(0.6)
    planner.observe(0.7)
    assert planner.learned and planner.defer(0.9, held=True) == 0.0
    assert planner.next_delay(1.0) == pytest.approx(0.85)
    assert planner.admit() is False


def test_a_held_dag_of_two_to_four_seconds_costs_under_one_poll_per_second() -> None:
    """Before anything is learnt, a held DAG of 2-4 s is looked at under once per second of its
    life, and seen within `minimum` of its end (the scouts pay the quick looks)."""
    policy = PollPolicy(jitter=0.0)
    for duration in (2.0, 2.5, 3.0, 3.5, 4.0):
        planner = PollPlanner(policy)
        for _ in range(policy.scouts):
            planner.admit()
        held = planner.admit()
        age, polls = planner.first_delay(), 0
        while True:
            wait = planner.defer(age, held)
            if wait:
                age += wait
                continue
            polls += 1
            if age >= duration:
                break
            age += planner.next_delay(age)
        assert held and polls / age <= 1.0 and age - duration <= policy.minimum


def test_retry_delay_grows_and_is_capped() -> None:
    """Poll retries back off exponentially with jitter, up to the cap."""
    rng = random.Random(0)
    assert 0.25 <= retry_delay(1, rng=rng) <= 0.5
    assert 4.0 <= retry_delay(10, rng=rng) <= 8.0


async def test_scheduler_runs_items_in_due_order_within_the_limit() -> None:
    """Items run when due, earliest first, never more than `limit` at once; a step may reschedule."""
    sched: DeadlineScheduler[str] = DeadlineScheduler(limit=2)
    loop = asyncio.get_running_loop()
    now = loop.time()
    order: list[str] = []
    running = 0
    peak = 0
    again = {"a": 1}

    async def step(item: str) -> float | None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        order.append(item)
        await asyncio.sleep(0.01)
        running -= 1
        if again.get(item):
            again[item] -= 1
            return loop.time() + 0.05
        return None

    sched = DeadlineScheduler(limit=2, clock=loop.time)
    for name, delay in [("c", 0.03), ("a", 0.0), ("b", 0.01), ("d", 0.03), ("e", 0.03)]:
        sched.add(now + delay, name)
    sched.close()
    await asyncio.wait_for(sched.run(step), 5)
    assert order[:2] == ["a", "b"] and order[-1] == "a" and sorted(order) == ["a", "a", "b", "c", "d", "e"]
    assert peak <= 2


async def test_scheduler_stop_cancels_running_steps_and_drops_waiting_items() -> None:
    """stop() cancels the running step and run() returns; items still waiting never start."""
    loop = asyncio.get_running_loop()
    sched: DeadlineScheduler[int] = DeadlineScheduler(limit=1, clock=loop.time)
    started: list[int] = []
    cancelled: list[int] = []

    async def step(item: int) -> float | None:
        started.append(item)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        return None

    for i in range(3):
        sched.add(loop.time(), i)
    runner = asyncio.create_task(sched.run(step))
    await asyncio.sleep(0.05)
    sched.stop()
    await asyncio.wait_for(runner, 2)
    assert started == [0] and cancelled == [0]


def test_batch_sizes_follow_ansible_serial() -> None:
    """N, P% and lists whose last element repeats, as Ansible's serial."""
    assert batch_sizes(["2"], 5) == (2, 2, 1)
    assert batch_sizes(["1", "5", "20%"], 30) == (1, 5, 6, 6, 6, 6)
    assert batch_sizes(["50%"], 3) == (1, 1, 1)
    assert batch_sizes(None, 10) == ()
    with pytest.raises(ValueError, match="must be a positive integer"):
        batch_sizes(["0"], 3)
    with pytest.raises(ValueError, match="must be in"):
        batch_sizes(["150%"], 3)


def _info(**kw: object) -> AgentInfo:
    base = dict(ip="127.0.0.1", port=2886, version="4.3.2.0-1", is_obproxy_agent=True, security=True,
                supported_auth=("v2",))
    base.update(kw)
    return AgentInfo(**base)  # type: ignore[arg-type]


def test_precheck_refuses_old_non_odp_and_passwordless_agents() -> None:
    """Version < 4.2.6, isObproxyAgent false or security false are each a precheck failure."""
    assert oc.precheck_problem(_info()) is None
    assert "4.2.6" in (oc.precheck_problem(_info(version="4.2.5.0")) or "")
    assert "ODP" in (oc.precheck_problem(_info(is_obproxy_agent=False)) or "")
    assert "password" in (oc.precheck_problem(_info(security=False)) or "")
    assert oc.precheck_problem(_info(version="4.2.6.0-100")) is None
    assert oc.precheck_problem(_info(version="garbage")) is not None


def test_errors_map_to_outcomes() -> None:
    """Connect failures are unreachable; a lost start answer is ambiguous; 401 is auth_failed."""
    err = ApiError(401, 10008, "Security.Authentication.IncorrectAgentPassword", "no")
    assert oc.outcome_for_error(ConnectError("x"), fired=True) is Outcome.UNREACHABLE
    assert oc.outcome_for_error(RequestTimeout("x")) is Outcome.UNREACHABLE
    assert oc.outcome_for_error(RequestTimeout("x"), fired=True) is Outcome.AMBIGUOUS
    assert oc.outcome_for_error(ConnectionLost("x"), fired=True) is Outcome.AMBIGUOUS
    assert oc.outcome_for_error(ProtocolError("x", status=200), fired=True) is Outcome.AMBIGUOUS
    assert oc.outcome_for_error(ProtocolError("x", status=502), fired=True) is Outcome.AMBIGUOUS
    assert oc.outcome_for_error(ProtocolError("x", status=500)) is Outcome.PROTOCOL_ERROR
    assert oc.outcome_for_error(AuthRefused(err), fired=True) is Outcome.AUTH_FAILED
    assert oc.outcome_for_error(NotFound(ApiError(404, None, "Common.NotFound", "")), fired=True) is Outcome.REJECTED
    assert oc.outcome_for_error(ApiFailure(ApiError(500, None, "Common.Unexpected", ""))) is Outcome.PRECHECK_FAILED
    assert oc.is_transient_poll_error(ApiFailure(ApiError(500, None, "Common.Unexpected", "")))
    assert not oc.is_transient_poll_error(AuthRefused(err))


def _dag(state: str, operator: str = "RUN", nodes: tuple[NodeDetail, ...] = ()) -> DagDetail:
    return DagDetail(id="4" + "0" * 16 + "1", dag_id=1, name="Start obproxy", state=state, operator=operator,
                     start_time="2026-11-27T10:00:05Z", nodes=nodes)


def test_dag_outcomes_and_failed_tasks() -> None:
    """SUCCEED is success unless rolled back; failed sub-tasks carry their logs."""
    assert oc.dag_outcome(_dag("SUCCEED")) is Outcome.SUCCEEDED
    assert oc.dag_outcome(_dag("SUCCEED", "ROLLBACK")) is Outcome.FAILED
    assert oc.dag_outcome(_dag("FAILED", "CANCEL")) is Outcome.FAILED
    node = NodeDetail("n", "Start obproxy", "FAILED", sub_tasks=(
        SubTaskDetail("t", "Start obproxy", "FAILED", execute_agent="127.0.0.1:2886", task_logs=("boom",)),))
    tasks, dropped = oc.failed_tasks(_dag("FAILED", nodes=(node,)))
    assert tasks[0].task_logs == ("boom",) and tasks[0].execute_agent == "127.0.0.1:2886" and dropped == 0
    assert "cancelled" in oc.dag_failure_message(_dag("FAILED", "CANCEL"))


def test_failed_tasks_and_trace_ids_are_kept_bounded_first_ones_and_latest() -> None:
    """40 failed sub-tasks keep 32 (the first ones and the latest) and count 8 dropped; 1,000 traceIds
    returned to one client keep 32 with 968 counted, and the first one is never dropped."""
    from fleet.protocol.bounds import MAX_TRACE_IDS, KeptTraceIds

    subs = tuple(SubTaskDetail(str(i), f"t{i}", "FAILED") for i in range(40))
    tasks, dropped = oc.failed_tasks(_dag("FAILED", nodes=(NodeDetail("n", "n", "FAILED", sub_tasks=subs),)))
    assert len(tasks) == 32 and dropped == 8 and tasks[0].task == "t0" and tasks[-1].task == "t39"
    kept = KeptTraceIds()
    for i in range(1000):
        kept.append(f"id{i}")
    ids = kept.as_list()
    assert len(ids) == MAX_TRACE_IDS and kept.dropped == 1000 - MAX_TRACE_IDS
    assert ids[0] == "id0" and ids[-1] == "id999"


def test_find_lost_dag_takes_the_newest_matching_start_after_the_send() -> None:
    """Only ODP DAGs of the right name created at/after the send (agent clock) qualify."""
    from datetime import datetime

    sent = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC).timestamp()
    old = DagDetail(id="4" + "0" * 16 + "1", dag_id=1, name="Start obproxy", state="SUCCEED",
                    start_time="2026-11-27T09:00:00Z")
    new = DagDetail(id="4" + "0" * 16 + "2", dag_id=2, name="Start obproxy", state="RUNNING",
                    start_time="2026-11-27T10:00:01.5+00:00")
    stop = DagDetail(id="4" + "0" * 16 + "3", dag_id=3, name="Stop obproxy", state="RUNNING",
                     start_time="2026-11-27T10:00:02Z")
    assert find_lost_dag([old, new, stop], "Start obproxy", sent) == new
    assert find_lost_dag([old, stop], "Start obproxy", sent) is None


async def test_journal_is_private_durable_and_survives_a_torn_line(tmp_path: Path) -> None:
    """The journal is 0600 JSON Lines; a torn last line is left out when read back."""
    path = tmp_path / "runs" / "j.jsonl"
    async with Journal(str(path)) as journal:
        await asyncio.gather(*(journal.record("fired", host=f"h{i}:2886", trace_id=f"{i:016x}") for i in range(50)))
        await journal.record("finished", durable=False, host="h0:2886", result={"outcome": "succeeded"})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "ab") as fh:  # noqa: ASYNC230  a few bytes while nothing else runs on the loop
        fh.write(b'{"ev": "fired", "host": "torn')
    lines = read_journal(str(path))
    assert len(lines) == 51 and b'"ev":"finished"' in lines[-1][1] and lines[-1][0] == 51


def test_priors_distinguish_finished_fired_and_unsettled_hosts() -> None:
    """Resume knows finished hosts, fired hosts with and without a DAG id, and unsettled outcomes;
    a timed_out host (its DAG may still run) is followed again, not reported as finished."""
    events = [
        {"ev": "run", "at": 0.5, "operation": "obproxy.start", "hosts": ["a:1", "b:1", "c:1", "d:1", "e:1"]},
        {"ev": "fired", "host": "a:1", "trace_id": "t1", "at": 1.0},
        {"ev": "answered", "host": "a:1", "dag": "4123", "trace_id": "x1", "at": 1.1},
        {"ev": "finished", "host": "a:1", "result": {"outcome": "succeeded", "trace_ids": ["x1"]}, "at": 1.2},
        {"ev": "fired", "host": "b:1", "trace_id": "t2", "at": 2.0},
        {"ev": "answered", "host": "b:1", "dag": "4124", "trace_id": "x2", "at": 2.1},
        {"ev": "fired", "host": "c:1", "trace_id": "t3", "at": 3.0},
        {"ev": "finished", "host": "d:1", "result": {"outcome": "skipped"}, "at": 3.1},
        {"ev": "fired", "host": "e:1", "trace_id": "t4", "at": 4.0},
        {"ev": "finished", "host": "e:1", "at": 4.1,
         "result": {"outcome": "timed_out", "dag": {"id": "4125", "dag_id": 7, "state": "RUNNING"}}},
    ]
    journal = priors_from_events(events)
    op, priors = journal.operation, journal.priors
    assert op == "obproxy.start"
    assert priors["a:1"].finished is not None
    assert priors["b:1"].fired and priors["b:1"].dag == "4124" and priors["b:1"].finished is None
    assert priors["c:1"].fired and priors["c:1"].dag is None
    assert priors["d:1"].finished is None and not priors["d:1"].fired
    assert priors["e:1"].finished is None and priors["e:1"].fired and priors["e:1"].dag == "4125"
    assert priors["e:1"].dag_number == 7  # the integer dag id travels with it
    result = result_from_journal(HostSpec("a", "a", 1), priors["a:1"].finished or {})
    assert result.resumed and result.outcome is Outcome.SUCCEEDED and result.trace_ids == ("x1",)


class _Dags:
    """Answers get_dag with a DAG that is RUNNING until ``ends`` on the test's clock."""

    def __init__(self, clock: list[float], ends: float) -> None:
        self.clock, self.ends = clock, ends
        self.looks: list[float] = []

    async def get_dag(self, dag_id: str, details: bool = False) -> Reply[DagDetail]:
        self.looks.append(self.clock[0])
        state = "SUCCEED" if self.clock[0] >= self.ends else "RUNNING"
        return Reply(DagDetail(id=dag_id, dag_id=1, name="Start obproxy", state=state), "t")


async def test_the_follower_holds_a_held_dag_without_a_request_and_looks_at_hold() -> None:
    """A held DAG's steps before `hold` send nothing and come back at most `recheck` later; its
    first request goes at `hold`; a scout's goes at `first`; both see the DAG end (clock passed in)."""
    policy = PollPolicy(jitter=0.0, scouts=1)
    clock = [0.0]
    plan = RunPlan(Operation.START, (HostSpec("a", "a", 1), HostSpec("b", "b", 1)), poll_policy=policy)
    planner = PollPlanner(policy)
    finished: list[tuple[str, Outcome]] = []

    async def finish(run: HostRun, outcome: Outcome, error: ApiError | None, failed: tuple[FailedTask, ...]) -> None:
        finished.append((run.host.name, outcome))

    follower = DagFollower(plan, planner, finish, clock=lambda: clock[0])
    looks = {}
    for host in plan.hosts:
        run = HostRun(host, dag=DagDetail(id="4", dag_id=1, name="Start obproxy", state="RUNNING"),
                      dag_started=0.0, deadline=60.0)
        run.held = planner.admit()
        client = _Dags(clock, ends=2.0)
        run.client = client  # type: ignore[assignment]
        due: float | None = planner.first_delay()
        while due is not None:
            clock[0] = due
            due = await follower.step(run)
        looks[host.name] = client.looks
    assert looks["a"][0] == pytest.approx(0.5) and looks["b"][0] == pytest.approx(1.7)
    assert len(looks["b"]) < len(looks["a"]) and finished == [("a", Outcome.SUCCEEDED), ("b", Outcome.SUCCEEDED)]
    assert looks["b"][-1] - 2.0 <= policy.minimum
