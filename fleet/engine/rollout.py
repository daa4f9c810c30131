"""A rollout's batches and its stop rules (``--canary``, ``--serial``, ``--max-fail-percentage``).

Pure: the engine cuts its hosts into batches here and asks, after each batch, whether the run
must stop firing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from fleet.engine.hostrun import HostRun
from fleet.engine.plan import RunPlan

T = TypeVar("T")


def split_batches(plan: RunPlan, runs: Sequence[T]) -> list[list[T]]:
    """Canary first (if any), then the ``--serial`` batches; whatever remains is one last batch."""
    sizes = ([plan.canary] if plan.canary else []) + list(plan.batches)
    batches, start = [], 0
    for size in sizes:
        batches.append(list(runs[start : start + size]))
        start += size
    batches.append(list(runs[start:]))
    return [b for b in batches if b]


def policy_stop(plan: RunPlan, index: int, batch: Sequence[HostRun]) -> str | None:
    """Why the rollout stops after batch ``index`` (a failed canary, too many failures), or None."""
    failed = sum(1 for r in batch if r.result is not None and not r.result.outcome.ok)
    if plan.canary and index == 0 and failed:
        return f"canary batch failed on {failed} of {len(batch)} hosts; nothing more fired"
    pct = plan.max_fail_percentage
    if pct is not None and batch and failed * 100 / len(batch) > pct:
        return f"{failed} of {len(batch)} hosts failed in batch {index + 1}, over --max-fail-percentage {pct:g}"
    return None
