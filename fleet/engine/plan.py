"""What a run is asked to do: the operation, the hosts, and the runbook controls."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from fleet.engine.polling import PollPolicy
from fleet.models import HostSpec, Limits, Secret, Timeouts


class Operation(enum.StrEnum):
    START = "obproxy.start"
    STOP = "obproxy.stop"
    CHECK = "check"
    DAG_RETRY = "dag.retry"
    DAG_ROLLBACK = "dag.rollback"
    DAG_CANCEL = "dag.cancel"
    DAG_PASS = "dag.pass"

    @property
    def dag_operator(self) -> str | None:
        """obshell's operator (RETRY, ROLLBACK, CANCEL, PASS) when this acts on an existing DAG."""
        return self.value.removeprefix("dag.").upper() if self.value.startswith("dag.") else None

    @property
    def fires(self) -> bool:
        """Whether the operation sends a non-idempotent request that creates a DAG."""
        return self is not Operation.CHECK


@dataclass(frozen=True, slots=True)
class PriorState:
    """What a journal says about a host from an earlier, interrupted run."""

    finished: dict[str, object] | None = None
    fired: bool = False
    fired_at: float | None = None
    #: the generic id of the DAG its request created, when the journal recorded it
    dag: str | None = None
    #: the integer dag id of that DAG (obshell's ``dag_id``), as journaled with its answer
    dag_number: int | None = None
    trace_ids: tuple[str, ...] = ()
    #: the request is known to have been sent and its answer lost (not merely journaled before a crash)
    answer_lost: bool = False
    #: the DAG's state as last journaled (its answer, or the host's last recorded end)
    dag_state: str | None = None
    #: the host's last recorded end, settled or not (``finished`` holds only a settled one)
    last_result: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class RunPlan:
    operation: Operation
    hosts: tuple[HostSpec, ...]
    passwords: Mapping[str, Secret] = field(default_factory=dict)
    timeouts: Timeouts = Timeouts()
    limits: Limits = Limits()
    poll_policy: PollPolicy = PollPolicy()
    #: sizes of rolling batches in order (``--serial``); empty = one batch of every host
    batches: tuple[int, ...] = ()
    max_fail_percentage: float | None = None
    canary: int = 0
    #: host.key → what an earlier run of this journal did (``--resume``)
    prior: Mapping[str, PriorState] = field(default_factory=dict)
    refire_ambiguous: bool = False
    #: how many times a start refused at connect time (never sent) is tried again
    connect_retries: int = 2
    #: ``fleet dag …``: host.key → the generic id of the DAG a past run recorded for it
    targets: Mapping[str, str] = field(default_factory=dict)
    #: ``--retry-failed N``: RETRY a failed start DAG in place up to N times
    retry_failed: int = 0
    #: host.key → RETRYs an earlier run of this journal already sent in place (``--resume``)
    prior_retries: Mapping[str, int] = field(default_factory=dict)


def batch_sizes(serial: list[str] | None, total: int) -> tuple[int, ...]:
    """Expand Ansible ``serial`` (``N``, ``P%`` or a list whose last element repeats) into sizes."""
    if not serial:
        return ()
    steps: list[int] = []
    for item in serial:
        text = item.strip()
        if text.endswith("%"):
            value = float(text[:-1])
            if not 0 < value <= 100:
                raise ValueError(f"--serial percentage {text!r} must be in (0, 100]")
            steps.append(max(1, int(total * value / 100)))
        else:
            if not text.isdigit() or int(text) < 1:
                raise ValueError(f"--serial element {text!r} must be a positive integer or a percentage")
            steps.append(int(text))
    sizes: list[int] = []
    remaining = total
    index = 0
    while remaining > 0:
        size = min(steps[min(index, len(steps) - 1)], remaining)
        sizes.append(size)
        remaining -= size
        index += 1
    return tuple(sizes)
