"""The engine: preflight and fire through a bounded pool, poll every DAG through one scheduler.

Per-host failure is data: each host ends with a :class:`~fleet.models.HostResult`; only bugs
and cancellation propagate. A start is sent at most once per host per run; it is re-sent only
when the request provably never left (the client's error says ``never_sent``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from fleet.client import AgentClient, HttpClient
from fleet.client.agent import new_trace_id
from fleet.engine import dagsend, lookout
from fleet.engine import outcome as oc
from fleet.engine.containment import contained
from fleet.engine.follow import DagFollower
from fleet.engine.hostrun import HostRun
from fleet.engine.journal import Journal, NullJournal, result_record
from fleet.engine.plan import Operation, RunPlan
from fleet.engine.polling import PollPlanner, retry_delay
from fleet.engine.priors import result_from_journal
from fleet.engine.recovery import foreign_dag
from fleet.engine.rollout import policy_stop, split_batches
from fleet.engine.scheduler import DeadlineScheduler
from fleet.errors import AgentError, AuthRefused, DagLookupFailed, NotFound
from fleet.models import ApiError, DagDetail, FailedTask, HostResult, HostSpec, Outcome, Phase, Reply, Reporter
from fleet.protocol.dags import START_OBPROXY, STOP_OBPROXY
from fleet.protocol.ids import odp_generic_id, parse_odp_generic_id

T = TypeVar("T")
log = structlog.get_logger("fleet.engine")

DAG_NAMES = {Operation.START: START_OBPROXY, Operation.STOP: STOP_OBPROXY}


@dataclass(frozen=True, slots=True)
class RunReport:
    results: tuple[HostResult, ...]
    interrupted: bool = False
    #: why the runbook controls stopped the run early (canary, max fail percentage), if they did
    policy_stop: str | None = None


class Engine:
    def __init__(
        self,
        plan: RunPlan,
        http: HttpClient,
        *,
        reporter: Reporter | None = None,
        journal: Journal | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        confirm_batch: Callable[[int, list[HostSpec]], Awaitable[bool]] | None = None,
        journal_meta: dict[str, Any] | None = None,
    ) -> None:
        self.plan = plan
        self._http = http
        self._reporter = reporter or Reporter()
        self._journal = journal or NullJournal()
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._confirm_batch = confirm_batch
        self._journal_meta = journal_meta or {}
        self._planner = PollPlanner(plan.poll_policy, self._rng)
        self._follower = DagFollower(plan, self._planner, self._finish, clock, self._rng)
        if plan.retry_failed:
            self._follower.retry = dagsend.InPlaceRetry(self)
        self._scheduler: DeadlineScheduler[HostRun] = DeadlineScheduler(plan.limits.polls_in_flight, clock)
        self._runs = [HostRun(h) for h in plan.hosts]
        self._stopping = False
        self._aborted = False
        self._interrupted = False
        self._policy_stop: str | None = None
        self._fire_task: asyncio.Task[None] | None = None
        self._batch_left = 0
        self._batch_done = asyncio.Event()
        #: (address, port, pid, start time) → the host of this run that fires at that agent
        self.agents: dict[tuple[str, int, int, int], HostRun] = {}
        #: the name of the DAG this run's operation creates ("" for ``fleet dag`` and check)
        self.dag_name = DAG_NAMES.get(plan.operation, "")

    # -- control (signal handlers call these) -----------------------------------------

    def stop_firing(self, grace: float | None = None) -> None:
        """First interrupt: fire nothing more; let in-flight DAGs finish for ``grace`` seconds."""
        if self._stopping:
            return
        self._stopping = True
        self._interrupted = True
        grace = self.plan.timeouts.grace if grace is None else grace
        log.warning("run.stopping", grace_s=grace)
        self._batch_done.set()  # stop waiting for the batch; the poller follows what is in flight
        asyncio.get_running_loop().call_later(grace, self.abort)

    def abort(self) -> None:
        """Second interrupt, or the grace period ran out: stop now; unfinished hosts are interrupted."""
        if self._aborted:
            return
        self._aborted = self._stopping = self._interrupted = True
        log.warning("run.aborting")
        self._scheduler.stop()
        if self._fire_task is not None:
            self._fire_task.cancel()

    # -- the run ------------------------------------------------------------------------

    async def run(self) -> RunReport:
        self._reporter.run_started(self.plan.operation.value, len(self._runs))
        await self._journal.record(
            "run", operation=self.plan.operation.value, hosts=[r.host.key for r in self._runs],
            **self._journal_meta,
        )
        for run in self._runs:
            await self._settle_from_journal(run)
        async with asyncio.TaskGroup() as tg:
            poll_task = tg.create_task(self._scheduler.run(self._step))
            # Batches are cut from every host, settled ones included, so a resume replays the
            # rollout's batches and policy checks exactly; only the unsettled hosts are fired.
            self._fire_task = tg.create_task(self._fire_batches(self._runs))
            try:
                await asyncio.wait({self._fire_task})
            finally:
                self._scheduler.close()
            await asyncio.wait({poll_task})
        now = self._clock()
        for run in sorted(self._runs, key=lambda r: r.same_agent_as is not None):
            if run.result is None:
                await self._conclude_unfinished(run, now)
        await self._journal.record("end", interrupted=self._interrupted, policy_stop=self._policy_stop)
        self._reporter.run_finished()
        return RunReport(tuple(r.result for r in self._runs if r.result is not None),
                         self._interrupted, self._policy_stop)

    async def _settle_from_journal(self, run: HostRun) -> bool:
        prior = self.plan.prior.get(run.host.key)
        if prior is None:
            return False
        run.resumed = True
        run.prior_trace_ids = prior.trace_ids
        if prior.finished is not None:
            run.result = result_from_journal(run.host, prior.finished)
            self._reporter.host_done(run.result)
            return True
        return False

    async def _fire_batches(self, runs: list[HostRun]) -> None:
        batches = split_batches(self.plan, runs)
        for index, batch in enumerate(batches):
            if self._stopping:
                return
            pending = [r for r in batch if r.result is None]
            if pending and self._confirm_batch is not None and not await self._confirm_batch(
                    index, [r.host for r in pending]):
                self._policy_stop = f"the operator declined batch {index + 1}"
                self._stopping = True
                return
            if len(batches) > 1 and pending:
                self._reporter.batch_started(index, len(pending))
            self._batch_left = 0
            queue = iter(pending)
            workers = min(self.plan.limits.forks, len(pending))
            async with asyncio.TaskGroup() as tg:
                for _ in range(workers):
                    tg.create_task(self._worker(queue))
            while self._batch_left and not self._stopping:
                self._batch_done.clear()
                await self._batch_done.wait()
            if self._stopping or index == len(batches) - 1:
                return
            self._policy_stop = policy_stop(self.plan, index, batch)
            if self._policy_stop:
                log.error("run.policy_stop", reason=self._policy_stop)
                self._stopping = True
                return

    async def _worker(self, queue: Iterator[HostRun]) -> None:
        for run in queue:
            if self._stopping:
                return
            self._batch_left += 1
            await contained(run, self._process, self._finish)

    async def _step(self, run: HostRun) -> float | None:
        """One look at ``run``'s DAG, inside the host's containment boundary."""
        return await contained(run, self._follower.step, self._finish)

    # -- one host: preflight, then fire ------------------------------------------------------

    async def _process(self, run: HostRun) -> None:
        host = run.host
        run.began = self._clock()
        self._reporter.host_phase(host, Phase.CHECKING)
        client = AgentClient(self._http, host, self.plan.passwords.get(host.key),
                             auth_lifetime=self.plan.timeouts.auth_lifetime, clock=self._wall)
        run.client = client
        try:
            run.info = (await client.info()).data
        except AgentError as exc:
            await self._finish(run, oc.outcome_for_error(exc), exc.as_api_error())
            return
        problem = oc.precheck_problem(run.info)
        if problem:
            await self._finish(run, Outcome.PRECHECK_FAILED, oc.note(problem))
            return
        if self.plan.operation is Operation.CHECK:
            await self._verify_credentials(run)
            return
        if self.plan.operation.dag_operator:
            await dagsend.operate_existing(self, run)
            return
        if not lookout.claim_agent(self, run, run.info):
            return
        prior = self.plan.prior.get(host.key)
        if prior is not None and prior.dag:
            parsed = parse_odp_generic_id(prior.dag)
            run.known_dag_id = prior.dag_number or (parsed[2] if parsed else 0)
        if prior is not None and (prior.fired or prior.dag):
            await lookout.recover_prior(self, run, prior.dag, prior.fired_at, known_sent=prior.answer_lost)
            return
        if await lookout.adopt_running(self, run):
            return
        await self._fire(run)

    async def _verify_credentials(self, run: HostRun) -> None:
        """An authenticated read with no side effect: look up ODP DAG 0, which never exists.

        The agent checks the agent password before looking, so 404 Task.NotFound proves the
        credentials; 401 refuses them.
        """
        assert run.client is not None and run.info is not None
        try:
            probe = odp_generic_id(run.info.ip, run.info.port, 0)
        except ValueError:
            probe = None
        try:
            if probe is None:
                await run.client.unfinished_dags()
            else:
                await run.client.get_dag(probe)
        except (NotFound, DagLookupFailed):  # either way the agent checked the password first
            pass
        except AgentError as exc:
            await self._finish(run, oc.outcome_for_error(exc), exc.as_api_error())
            return
        await self._finish(run, Outcome.SUCCEEDED)

    async def _fire(self, run: HostRun) -> None:
        client = run.client
        assert client is not None
        trace_id = await self._begin_send(run)
        if trace_id is None:
            return
        send = client.start_obproxy if self.plan.operation is Operation.START else client.stop_obproxy
        answer = await self._send(run, lambda: send(trace_id=trace_id))
        if answer is None:
            return
        if isinstance(answer, AgentError):
            outcome = oc.outcome_for_error(answer, fired=True)
            if outcome is Outcome.AMBIGUOUS:
                log.warning("fire.answer_lost", **run.log_context(), error=answer.message)
                await lookout.recover_prior(self, run, None, run.fired_at, known_sent=True, cause=answer.message)
                return
            if outcome is Outcome.REJECTED and oc.server_error(answer):
                # A 5xx says the agent failed, not that it did nothing: settle it from its DAGs.
                log.warning("fire.server_error", **run.log_context(), error=answer.message)
                await lookout.recover_prior(self, run, None, run.fired_at, known_sent=True, cause=answer.message,
                                            refused=self._explain(run, answer))
                return
            await self._finish(run, outcome, self._explain(run, answer))
            return
        reply = answer
        run.start_trace_id = reply.trace_id
        assert run.info is not None
        wrong = foreign_dag(reply.data, run.info.ip, run.info.port)
        if wrong is not None:  # not the answer to this start: find the DAG the start created
            log.warning("fire.answer_inconsistent", **run.log_context(), error=wrong)
            await lookout.recover_prior(self, run, None, run.fired_at, known_sent=True,
                                        cause=f"the start's answer does not add up ({wrong})")
            return
        await self._accept_dag(run, reply.data, reply.trace_id)

    async def _begin_send(self, run: HostRun, **journaled: Any) -> str | None:
        """Get ready to send a request that acts: the agent's key (a failure ends the host), then
        the ``fired`` record, durable before anything leaves; the trace id to send, or None when
        the host ended or firing has stopped. ``journaled``: more fields for the record."""
        assert run.client is not None
        try:
            await run.client.public_key()
        except AgentError as exc:
            await self._finish(run, oc.outcome_for_error(exc), exc.as_api_error())
            return None
        if self._stopping:
            return None
        trace_id = new_trace_id()
        run.fire_trace_id = trace_id
        await self._journal.record("fired", host=run.host.key, trace_id=trace_id, **journaled)
        run.fired, run.fired_at = True, self._wall()
        self._reporter.host_phase(run.host, Phase.FIRING)
        return trace_id

    async def _send(self, run: HostRun, send: Callable[[], Awaitable[Reply[T]]]) -> Reply[T] | AgentError | None:
        """Send a request that acts (a start, stop or DAG operator) at most once.

        It is sent again only while the client's error says it never left (``never_sent``), up
        to ``connect_retries`` times; after that the host is ``unreachable`` and None comes back.
        Any other failure is returned for the caller to settle: it may have reached the agent.
        """
        attempt = 0
        while True:
            try:
                return await send()
            except AgentError as exc:
                if not exc.never_sent:
                    return exc
                attempt += 1
                if attempt > self.plan.connect_retries:
                    run.fired = False
                    await self._finish(run, Outcome.UNREACHABLE, exc.as_api_error(), note="never sent")
                    return None
                await asyncio.sleep(retry_delay(attempt, rng=self._rng))

    async def _accept_dag(self, run: HostRun, dag: DagDetail, trace_id: str | None) -> None:
        """Follow ``dag`` from now on: journal its id, then hand it to the poll scheduler."""
        run.dag = dag
        run.dag_started = self._clock()
        run.deadline = run.dag_started + self.plan.timeouts.dag
        await self._journal.record("answered", host=run.host.key, dag=dag.id, dag_id=dag.dag_id,
                                   trace_id=trace_id, state=dag.state,
                                   adopted=run.adopted.to_dict() if run.adopted is not None else None)
        log.info("dag.accepted", **run.log_context(), state=dag.state)
        self._reporter.host_phase(run.host, Phase.POLLING)
        run.held = self._planner.admit()
        self._scheduler.add(run.dag_started + self._planner.first_delay(), run)

    def _explain(self, run: HostRun, exc: AgentError) -> ApiError:
        error = exc.as_api_error()
        if isinstance(exc, AuthRefused) and (error.err_code or "").endswith("Expired"):
            offset = run.client.clock_offset if run.client else None
            skew = f"{offset:+.1f} s" if offset is not None else "unknown"
            return ApiError(error.status, error.code, error.err_code,
                            f"{error.message} (agent clock offset {skew}, beyond the auth lifetime)")
        return error

    # -- endings --------------------------------------------------------------------------

    def _unfinished_outcome(self, run: HostRun) -> tuple[Outcome, ApiError]:
        owner = run.same_agent_as
        if owner is not None and owner.result is not None:
            run.dag = owner.result.dag
            return owner.result.outcome, oc.note(
                f"the same agent as host {owner.host.name} (by its /api/v1/info): it gets one start, under "
                f"{owner.host.name}; this is that host's outcome")
        if run.dag is not None:
            return Outcome.INTERRUPTED, oc.note(
                f"run interrupted while DAG {run.dag.id} was {run.dag.state}; resume to follow it")
        if run.fired and run.answer_lost:  # ambiguous, so that a resume still never re-fires it
            return Outcome.AMBIGUOUS, oc.note(
                "run interrupted while looking for the DAG of a start whose answer was lost; resume settles it")
        if run.fired:
            return Outcome.INTERRUPTED, oc.note(
                "run interrupted after the request was sent, before its answer; resume settles it")
        prior = self.plan.prior.get(run.host.key)
        if prior is not None and prior.fired:
            return Outcome.INTERRUPTED, oc.note(
                "an earlier run of this journal sent the request and it is not settled yet; resume settles it")
        why = self._policy_stop or "run interrupted before this host was fired"
        return Outcome.SKIPPED, oc.note(f"not fired: {why}")

    async def _conclude_unfinished(self, run: HostRun, now: float) -> None:
        outcome, error = self._unfinished_outcome(run)
        await self._finish(run, outcome, error, now=now)

    def snapshot(self) -> tuple[HostResult, ...]:
        """Every host's result as things stand (after a crash of fleet itself): unfinished ones interrupted."""
        now = self._clock()
        results = []
        for run in self._runs:
            if run.result is None:
                outcome, error = self._unfinished_outcome(run)
                run.conclude(outcome, now=now, error=error)
            assert run.result is not None
            results.append(run.result)
        return tuple(results)

    async def _finish(self, run: HostRun, outcome: Outcome, error: ApiError | None = None,
                      failed: tuple[FailedTask, ...] = (), *, note: str | None = None,
                      now: float | None = None) -> None:
        if run.result is not None:
            return
        result = run.conclude(outcome, now=self._clock() if now is None else now, error=error,
                              failed_tasks=failed)
        log.info("host.finished", **run.log_context(), outcome=outcome.value,
                 err_code=error.err_code if error else None)
        await self._journal.record("finished", host=run.host.key, result=result_record(result, note))
        self._reporter.host_done(result)
        if run.same_agent_as is None:
            self._release(run)

    def _release(self, run: HostRun) -> None:
        """``run`` no longer holds its batch open."""
        if run.began is not None and self._batch_left > 0:
            self._batch_left -= 1
            if self._batch_left == 0:
                self._batch_done.set()
