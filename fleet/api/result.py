""":class:`RunResult`: what a run did, typed; :meth:`RunResult.to_dict` is the CLI's summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.models import ExitCode, HostResult, Outcome
from fleet.report.summary import RunInfo, count_outcomes, summary_document, summary_exit_code


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run's account: the run's facts and one :class:`~fleet.models.HostResult` per host.

    Agent text in it is already sanitised (passwords masked, control characters escaped), as
    in every other output. ``to_dict()`` is exactly the ``fleet.summary/v1`` document the CLI
    writes for the same run (``fleet.report.summary_json`` renders it as the CLI does).
    """

    operation: str
    started_at: float
    finished_at: float
    inventory: str
    limit: str | None
    hosts: tuple[HostResult, ...]
    shard: str | None = None
    journal: str | None = None
    interrupted: bool = False
    #: a bug in fleet stopped the run (every host is still accounted for), else None
    error: str | None = None
    options: Mapping[str, Any] | None = None
    resume: Mapping[str, Any] | None = None
    #: why the runbook controls stopped the run early (canary, max fail percentage), if they did
    policy_stop: str | None = None
    #: the run's folder (``<home>/runs/<run-id>/``): journal, summary.json, retry, report.html
    folder: str | None = None

    @property
    def info(self) -> RunInfo:
        return RunInfo(operation=self.operation, started_at=self.started_at, finished_at=self.finished_at,
                       inventory=self.inventory, limit=self.limit, journal=self.journal, shard=self.shard,
                       interrupted=self.interrupted, error=self.error, options=self.options, resume=self.resume)

    def to_dict(self) -> dict[str, Any]:
        """The ``fleet.summary/v1`` document of this run."""
        return summary_document(self.info, self.hosts)

    @property
    def totals(self) -> dict[str, int]:
        """``{"hosts": N, "succeeded": …, "failed": …, …}``, every outcome, zeros included."""
        return count_outcomes(r.outcome.value for r in self.hosts)

    @property
    def ok(self) -> bool:
        """Every host succeeded (an empty selection too), and the run was neither interrupted nor broken."""
        return self.exit_code is ExitCode.OK

    def failed(self) -> tuple[HostResult, ...]:
        """The hosts that did not succeed, in run order."""
        return tuple(r for r in self.hosts if r.outcome is not Outcome.SUCCEEDED)

    @property
    def exit_code(self) -> ExitCode:
        """The CLI's exit status for this run: 0, 1 (bug), 2 (hosts failed), 3 (policy stop), 130."""
        code = summary_exit_code({"error": self.error, "interrupted": self.interrupted,
                                  "hosts": [{"outcome": r.outcome.value} for r in self.hosts]})
        if self.policy_stop and code is ExitCode.HOSTS_FAILED and any(r.outcome is Outcome.SKIPPED
                                                                      for r in self.hosts):
            return ExitCode.POLICY_STOP  # stopped early: some hosts were never fired
        return code
