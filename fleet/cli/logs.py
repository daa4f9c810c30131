"""structlog, configured once, from the CLI: JSON lines when stderr is not a TTY, console when it is.

Beneath the live progress view (a TTY with a line per host), a log line reads like the host
lines around it — ``warning: [proxy-07] fire.answer_lost error='…'`` — through
:class:`HostLineRenderer`, not in the console renderer's columns with timestamps and ``dag=None``.

A redaction processor runs last before rendering: it masks values of secret-looking keys and
any known password in any string value (through :class:`fleet.report.sanitize.Sanitizer`, the
same step every other output takes), so a password that slips into an exception text or an
agent's message still never reaches the log; and it escapes control and bidi characters, so an
agent's text cannot drive the terminal. Tracebacks (``exc_info``) are rendered into text first,
so they are redacted too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Protocol, TextIO, cast

import structlog

from fleet.protocol.api import SECRET_HEADERS
from fleet.report.sanitize import Sanitizer, mask_run_secrets, terminal_safe

#: Log keys whose values are masked whole: secret-looking words and obshell's auth headers.
SECRET_KEYS = frozenset({"password", "passwd", "auth", "secret", "token", *(h.lower() for h in SECRET_HEADERS)})
MASK = "********"


class Redactor:
    """Mask secret-looking keys and every known secret inside string values; escape control characters."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        #: secrets outside a run (``fleet status --poll`` adds its passwords); a run's own come
        #: through :func:`~fleet.report.sanitize.mask_run_secrets`
        self.sanitizer = Sanitizer(secrets)

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict = mask_run_secrets(logger, method, event_dict)  # the run in progress's passwords
        for key, value in list(event_dict.items()):
            if key.lower() in SECRET_KEYS:
                event_dict[key] = MASK
            elif isinstance(value, str):
                event_dict[key] = terminal_safe(self.sanitizer.mask(value), keep_newlines=key == "exception")
            elif isinstance(value, BaseException):
                event_dict[key] = terminal_safe(self.sanitizer.mask(f"{type(value).__name__}: {value}"))
            elif isinstance(value, (list, tuple, dict)):
                event_dict[key] = self.sanitizer.clean(value)
        return event_dict


#: the event_dict keys a host line shows in its own place, or not at all
_PLACED = ("timestamp", "level", "event", "host", "port", "exception")
_LABEL_COLOURS = {"debug": "\x1b[2m", "info": "", "warning": "\x1b[33m", "error": "\x1b[31m",
                  "critical": "\x1b[31m"}
_RESET = "\x1b[0m"


class HostLineRenderer:
    """Render a log event as ``<level>: [<host>] <event> key=value …``, like the host lines.

    Keys with no value (``dag=None``) are left out, the port only when it is not obshell's
    default; a traceback (``exception``) follows on its own lines.
    """

    def __init__(self, *, colors: bool = False, default_port: int = 2886) -> None:
        self.colors = colors
        self.default_port = default_port

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        level = str(event_dict.get("level") or method)
        label = f"{_LABEL_COLOURS.get(level, '')}{level}:{_RESET}" if self.colors and _LABEL_COLOURS.get(level) \
            else f"{level}:"
        parts = [label]
        host, port = event_dict.get("host"), event_dict.get("port")
        if host is not None:
            parts.append(f"[{host}]" if port in (None, self.default_port) else f"[{host}:{port}]")
        parts.append(str(event_dict.get("event", "")))
        parts.extend(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"
                     for key, value in event_dict.items() if key not in _PLACED and value is not None)
        text = " ".join(parts)
        exception = event_dict.get("exception")
        return f"{text}\n{exception}" if exception else text


class LogStream(Protocol):
    """Where log lines go: a text stream (stderr, or one that writes above the progress line)."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


def configure_logging(*, level: str = "info", stream: LogStream | None = None, redactor: Redactor | None = None,
                      json_lines: bool | None = None, host_lines: bool = False) -> Redactor:
    """Configure structlog for the process; returns the redactor so secrets can be registered.

    ``host_lines``: console lines rendered like the progress view's host lines (see the module doc).
    """
    stream = stream or sys.stderr
    redactor = redactor or Redactor()
    if json_lines is None:
        json_lines = not stream.isatty()
    colors = stream.isatty() and not _no_color()
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json_lines
        else HostLineRenderer(colors=colors) if host_lines
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    structlog.configure(
        # No merge_contextvars: the engine passes a host's context with each call (a bound
        # contextvar per host step costs ~8x the per-call dict; see README, Performance).
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
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
