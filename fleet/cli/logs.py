"""structlog, configured once, from the CLI: JSON lines when stderr is not a TTY, console when it is.

A redaction processor runs last before rendering: it masks values of secret-looking keys and
any occurrence of a known password in any string value, so a password that slips into an
exception text or a message still never reaches the log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Protocol, TextIO, cast

import structlog

from fleet.models import Secret

SECRET_KEYS = frozenset({"password", "passwd", "auth", "secret", "token", "x-ocs-agent-header", "x-ocs-header"})
MASK = "********"


class Redactor:
    """Mask secret-looking keys and every known secret value inside string values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def add_secrets(self, secrets: Iterable[Secret]) -> None:
        """Mask every one of ``secrets`` (each distinct password once)."""
        for value in {secret.reveal() for secret in secrets}:
            self.add(value)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            if key.lower() in SECRET_KEYS:
                event_dict[key] = MASK
            elif isinstance(value, str) and self._secrets:
                event_dict[key] = self.scrub(value)
            elif isinstance(value, BaseException):
                event_dict[key] = self.scrub(f"{type(value).__name__}: {value}")
        return event_dict


class LogStream(Protocol):
    """Where log lines go: a text stream (stderr, or one that writes above the progress line)."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


def configure_logging(*, level: str = "info", stream: LogStream | None = None, redactor: Redactor | None = None,
                      json_lines: bool | None = None) -> Redactor:
    """Configure structlog for the process; returns the redactor so secrets can be registered."""
    stream = stream or sys.stderr
    redactor = redactor or Redactor()
    if json_lines is None:
        json_lines = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=stream.isatty() and not _no_color())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        # PrintLogger only calls write() and flush(), which every LogStream has.
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, stream)),
        cache_logger_on_first_use=True,
    )
    return redactor


def _no_color() -> bool:
    import os

    return "NO_COLOR" in os.environ
