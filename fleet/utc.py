"""Timestamps: the summary's own (UTC, millisecond precision, ``2026-11-27T13:10:12.345Z``, both
ways) and the agents' RFC 3339 times read into seconds (:func:`rfc3339_seconds`), for the client
and the reports alike."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})", re.ASCII
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: An RFC 3339 time is no longer than this (nanoseconds and an offset included).
MAX_RFC3339_CHARS = 64


def rfc3339_seconds(value: object) -> float | None:
    """Unix seconds of an RFC 3339 time (``2025-03-20T15:20:02.190100104+08:00``), else None.

    None for anything no clock can hold: not a string, over 64 characters, not a calendar date,
    an offset beyond ±23:59 (``+99:00``), or an instant outside years 1-9999 in UTC. Times
    before 1970 (Go's zero time, the epoch) are readable and negative.
    """
    if not isinstance(value, str) or len(value) > MAX_RFC3339_CHARS:
        return None
    return _seconds(value)


#: A DAG's times repeat poll after poll (its creation time stands as ``end_time`` until it ends).
@lru_cache(maxsize=4096)
def _seconds(text: str) -> float | None:
    m = _RFC3339.fullmatch(text)
    if not m:
        return None
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    hours, minutes = (0, 0) if tz in ("Z", "z") else (int(tz[1:3]), int(tz[4:6]))
    if hours > 23 or minutes > 59:
        return None
    zone = timezone((-1 if tz[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes))
    try:
        moment = datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    whole = (moment - _EPOCH) // timedelta(seconds=1)
    return whole + (int(frac.ljust(9, "0")) / 1e9 if frac else 0.0)


def utc_text(unix_s: float | None) -> str | None:
    """``1795785012.345`` -> ``"2026-11-27T13:10:12.345Z"``, the summary's timestamp form."""
    if unix_s is None:
        return None
    seconds, ms = divmod(round(unix_s * 1000), 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def utc_seconds(text: str | None) -> float | None:
    """The inverse of :func:`utc_text` (``ValueError`` on any other form)."""
    if text is None:
        return None
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC timestamp: {text!r}"[:200])
    moment = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    whole = int(moment.replace(microsecond=0).timestamp())
    return (whole * 1000 + moment.microsecond // 1000) / 1000
