"""Agent clock arithmetic: parse obshell's RFC 3339 timestamps (nanosecond precision)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})", re.ASCII
)
#: RFC 3339 offsets run from -23:59 to +23:59.
_MAX_OFFSET = timedelta(hours=23, minutes=59)


def parse_timestamp(text: str) -> float | None:
    """Unix seconds of an RFC 3339 timestamp such as ``2025-03-20T15:20:02.190100104+08:00``.

    Returns None for anything else (including Go's zero time and offsets beyond ±23:59), so a
    missing or odd timestamp only costs the clock-offset measurement, never the request.
    """
    m = _RFC3339.fullmatch(text.strip()) if text and len(text) <= 64 else None
    if not m:
        return None
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    if int(year) < 1971:
        return None
    if tz in ("Z", "z"):
        tzinfo = UTC
    else:
        sign = 1 if tz[0] == "+" else -1
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        if offset > _MAX_OFFSET or int(tz[4:6]) > 59:
            return None
        tzinfo = timezone(sign * offset)
    try:
        dt = datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), tzinfo=tzinfo)
    except (ValueError, OverflowError):
        return None
    fraction = int(frac.ljust(9, "0")) / 1e9 if frac else 0.0
    return dt.timestamp() + fraction


def clock_offset(agent_timestamp: str | None, sent_at: float, received_at: float) -> float | None:
    """Agent clock minus local clock, in seconds, taking the request's midpoint as "now"."""
    agent_now = parse_timestamp(agent_timestamp or "")
    if agent_now is None:
        return None
    return agent_now - (sent_at + received_at) / 2
