"""One sanitising step for everything fleet writes: secrets masked, terminals and XML kept safe.

Pure functions over text and JSON-like documents, no I/O. Every output goes through here: the
summary, the journal's records, JUnit, the failure table, ``fleet status`` and the log lines.

**Secrets** of :data:`SUBSTRING_CHARS` characters or more are masked wherever they occur: a
string that long inside an output came from an echo. Shorter ones are masked where they occur
as a whole token, a maximal run of characters that are letters, digits or characters of the
secret itself. So an agent that echoes the password (``"wrong password <pw>."``,
``"user:<pw>@host"``) has it masked, while a short secret that happens to be a substring of an
unrelated value is left alone rather than masked in place, which would reveal it (with the
password ``0.1``, ``127.70.0.1`` stays as it is; ``127.70.********`` would tell the reader the
password). Passwords too short to mask even this way are refused before anything is sent
(:func:`fleet.inventory.credentials.check_maskable`).

**Terminals**: C0 and C1 control characters, DEL and the bidirectional formatting characters
(U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C) are shown as ``\\x1b`` / ``\\u202e``
escapes, so an agent's text cannot clear the screen, set the title, forge lines or reorder
what is displayed. In JSON text they become ``\\uXXXX`` escapes (the JSON stays equivalent).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, MutableMapping
from contextvars import ContextVar
from typing import Any

MASK = "********"
#: Secrets at least this long are masked as substrings too; shorter ones only as whole tokens.
SUBSTRING_CHARS = 12
#: Characters a terminal must never receive raw from an agent.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_TERMINAL = re.compile(f"[{_UNSAFE}\\n\\t]")
_TERMINAL_KEEP_LINES = re.compile(f"[{_UNSAFE}]")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: In JSON text the C0 controls are already escaped by the encoder; the rest are not.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def terminal_safe(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control and bidi characters escaped (newlines and tabs too, unless kept)."""
    pattern = _TERMINAL_KEEP_LINES if keep_newlines else _TERMINAL
    return pattern.sub(_escape, text)


def printable(text: str) -> str:
    """One line of harmless text from an untrusted string: whitespace runs collapse to one space,
    control, bidi and other format characters show as ``\\xNN``/``\\uNNNN`` escapes.

    What the failure table, the recap and the per-host lines print of an agent string.
    """
    out = []
    for char in " ".join(str(text).split()):
        category = unicodedata.category(char)
        if char in _BIDI or category in ("Cc", "Cs", "Co", "Cn") or (category == "Cf" and char != "\u200d"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def json_text_safe(text: str) -> str:
    """Encoded JSON text with DEL, C1, bidi and line-separator characters as ``\\uXXXX`` escapes."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class Sanitizer:
    """Masks known secrets as whole tokens in text and in JSON-like documents."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Mask ``secret`` from now on (empty and known secrets are ignored)."""
        if not secret or any(known == secret for known, _ in self._patterns):
            return
        if len(secret) >= SUBSTRING_CHARS:
            pattern = re.compile(re.escape(secret))
        else:
            own = "".join(sorted({re.escape(c) for c in secret if not c.isalnum()}))
            token = "[^\\W_]" if not own else f"(?:[^\\W_]|[{own}])"
            # a sentence may end right after it: "wrong password <pw>." is a whole token too
            end = f"(?:(?!{token})|(?=[.,;:!?]+(?:[\\s\"')\\]}}]|$)))"
            pattern = re.compile(f"(?<!{token}){re.escape(secret)}{end}")
        self._patterns.append((secret, pattern))
        self._patterns.sort(key=lambda item: len(item[0]), reverse=True)

    @property
    def active(self) -> bool:
        return bool(self._patterns)

    def mask(self, text: str) -> str:
        """``text`` with every whole-token occurrence of a known secret replaced by ``********``."""
        for secret, pattern in self._patterns:
            if secret in text:
                text = pattern.sub(MASK, text)
        return text

    def clean(self, doc: Any) -> Any:
        """``doc`` (JSON-like) with secrets masked in every string (keys included): a copy when
        something was masked, ``doc`` itself when no string in it holds a secret.

        The check is one C-speed ``json.dumps`` and a substring search per secret instead of a
        Python call per node: JSON escapes each character on its own, so a secret inside any
        string shows, escaped the same way, in the dump.
        """
        if not self._patterns:
            return doc
        if not isinstance(doc, str):
            try:
                text = json.dumps(doc)
            except (TypeError, ValueError):
                text = None
            if text is not None and not any(json.dumps(secret)[1:-1] in text for secret, _ in self._patterns):
                return doc
        return self._clean(doc)

    def _clean(self, doc: Any) -> Any:
        if isinstance(doc, str):
            return self.mask(doc)
        if isinstance(doc, dict):
            return {self.mask(k) if isinstance(k, str) else k: self._clean(v) for k, v in doc.items()}
        if isinstance(doc, (list, tuple)):
            return [self._clean(v) for v in doc]
        return doc


#: The sanitiser of the run in progress (set by :func:`fleet.api.execute` for its task tree), so
#: whatever renders log lines masks that run's secrets without being handed them.
RUN_SANITIZER: ContextVar[Sanitizer | None] = ContextVar("fleet_run_sanitizer", default=None)


def mask_run_secrets(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask the current run's secrets in every value of the event.

    Add it to an application's own structlog chain (before the renderer) when embedding fleet:
    an agent that echoes the password in an error message must not get it into the logs.
    """
    sanitizer = RUN_SANITIZER.get()
    if sanitizer is None:
        return event_dict
    for key, value in list(event_dict.items()):
        if isinstance(value, str | list | tuple | dict):
            event_dict[key] = sanitizer.clean(value)
        elif isinstance(value, BaseException):
            event_dict[key] = sanitizer.mask(f"{type(value).__name__}: {value}")
    return event_dict
