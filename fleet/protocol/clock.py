"""Agent clock arithmetic: obshell's RFC 3339 timestamps (nanosecond precision), read and written.

The client reads them (:func:`parse_agent_time`, :func:`clock_offset`); the simulator writes them
(:func:`format_agent_time`) as Go's ``time.RFC3339Nano`` does. Both go through :func:`parse_offset`.

An agent's time is untrusted input: :func:`parse_agent_time` answers None for anything it cannot
read (it only costs the clock-offset measurement). fleet's own summary times are another format
with another contract (``fleet.report.summary.parse_timestamp`` refuses what is not its own).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from fleet.utc import rfc3339_seconds

_OFFSET = re.compile(r"[+-](\d{2}):(\d{2})", re.ASCII)
#: RFC 3339 offsets run from -23:59 to +23:59.
_MAX_OFFSET = timedelta(hours=23, minutes=59)
#: Times before 1971 (Go's zero time, the epoch a RETRY leaves) say nothing of the agent's clock.
_FIRST_READ = 365 * 86400
#: Go's zero ``time.Time`` as obshell writes it (a time never set).
ZERO_TIME = "0001-01-01T00:00:00Z"


@lru_cache(maxsize=64)
def parse_offset(text: str) -> timezone | None:
    """The time zone of an RFC 3339 offset (``Z``, ``z`` or ``±HH:MM`` within ±23:59), else None."""
    if text in ("Z", "z"):
        return UTC
    m = _OFFSET.fullmatch(text)
    if not m:
        return None
    hours, minutes = int(m.group(1)), int(m.group(2))
    offset = timedelta(hours=hours, minutes=minutes)
    if minutes > 59 or offset > _MAX_OFFSET:
        return None
    return timezone(offset if text[0] == "+" else -offset)


def readable_agent_time(value: object) -> str | None:
    """``value`` if it is an RFC 3339 time any clock can hold (:func:`fleet.utc.rfc3339_seconds`), else None.

    Go's zero time and the 1970 epoch that RETRY, ROLLBACK and CANCEL leave behind are readable;
    ``+99:00``, year 0, a year-9999 time whose UTC falls past 9999, numbers, NaN and nested
    values are not: the time is unknown.
    """
    return value if isinstance(value, str) and rfc3339_seconds(value) is not None else None


def parse_agent_time(text: str) -> float | None:
    """Unix seconds of an RFC 3339 timestamp such as ``2025-03-20T15:20:02.190100104+08:00``.

    Returns None for anything else (including Go's zero time and offsets beyond ±23:59), so a
    missing or odd timestamp only costs the clock-offset measurement, never the request.
    """
    seconds = rfc3339_seconds(text.strip()) if text else None
    if seconds is None or seconds < _FIRST_READ:
        return None
    return seconds


def format_agent_time(unix: float, offset: str) -> str:
    """Go's RFC3339Nano (trailing zeros of the fraction trimmed) in the UTC ``offset`` (``Z``: UTC).

    Raises ``ValueError`` for an offset :func:`parse_offset` does not accept.
    """
    tz = parse_offset(offset)
    if tz is None:
        raise ValueError(f"not an RFC 3339 UTC offset: {offset!r}")
    secs, frac = divmod(round(unix * 1e9), 1_000_000_000)
    moment = datetime.fromtimestamp(secs, tz)
    digits = f"{frac:09d}".rstrip("0")
    suffix = "Z" if tz is UTC else moment.strftime("%z")
    if suffix != "Z":
        suffix = suffix[:3] + ":" + suffix[3:]
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}{'.' + digits if digits else ''}{suffix}"


def clock_offset(agent_timestamp: str | None, sent_at: float, received_at: float) -> float | None:
    """Agent clock minus local clock, in seconds, taking the request's midpoint as "now"."""
    agent_now = parse_agent_time(agent_timestamp or "")
    if agent_now is None:
        return None
    return agent_now - (sent_at + received_at) / 2
