"""Open-file limits: a fleet run holds one kept-alive connection per host, and the simulator a
listening socket plus a connection per agent, so both raise RLIMIT_NOFILE before they start."""

from __future__ import annotations

import resource

#: The Linux default ceiling for a process (``/proc/sys/fs/nr_open``).
_NR_OPEN_DEFAULT = 1_048_576


def raise_open_files_limit(wanted: int) -> int:
    """Raise the soft limit to at least ``wanted`` if the hard limit (or, as root, a raised hard
    limit) allows; returns the soft limit in force afterwards. Never fails."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted or soft == resource.RLIM_INFINITY:
        return soft
    ceiling = _nr_open()
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:  # privileged processes may raise the hard limit itself
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, ceiling), min(wanted, ceiling)))
            return min(wanted, ceiling)
        except (ValueError, OSError):
            pass
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(wanted, soft))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def _nr_open() -> int:
    try:
        with open("/proc/sys/fs/nr_open", encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return _NR_OPEN_DEFAULT
