"""The summary's timestamps: UTC, millisecond precision, ``2026-11-27T13:10:12.345Z``, both ways."""

from __future__ import annotations

from datetime import UTC, datetime


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
