"""What passes between the simulator's server and one agent: the request, the answer, the refusal.

:class:`SimRequest` is what the server hands an agent; :class:`Answer` is an envelope plus what
the server must do with it (:class:`Action`); :class:`Refusal` is an error an agent's check
returns before the agent acts. No I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from fleet.protocol.api import SHOW_DETAILS
from fleet.simulator.keys import KeyPair

#: Go's ``strconv.ParseBool``, which obshell's query binding uses.
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


@dataclass(slots=True)
class SimRequest:
    """What the server hands the agent: the raw request target, headers (case-insensitive) and body."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def query(self, name: str) -> str | None:
        for pair in self.target.partition("?")[2].split("&"):
            key, _, value = pair.partition("=")
            if key == name:
                return value
        return None

    def show_details(self) -> bool | None:
        """``show_details`` as obshell binds it: true when absent, None when not a Go boolean."""
        value = self.query(SHOW_DETAILS)
        if value is None:
            return True
        return _GO_BOOLS.get(value)


class Action(StrEnum):
    """How the server delivers an :class:`Answer`."""

    ANSWER = "answer"  # the envelope, as JSON
    HANG = "hang"  # never answer; abort when the simulator stops
    GARBAGE = "garbage"  # an HTML error page
    TRUNCATED = "truncated"  # a JSON prefix, then the connection closes
    OVERSIZE = "oversize"  # 10 MiB of JSON
    DROP = "drop"  # act, then abort the connection without an answer
    DEAD = "dead"  # the agent died: stop listening and abort
    PLAIN = "plain"  # Go's plain-text 404 outside /api/v1 and /rpc/v1
    RAW = "raw"  # ``body`` as sent (hostile answers)


@dataclass(slots=True)
class Answer:
    """The agent's reply. ``action`` tells the server how to deliver it."""

    status: int
    doc: dict[str, Any] | None = None
    action: Action = Action.ANSWER
    delay: float = 0.0
    #: the body as sent, for ``raw`` answers (hostile ones)
    body: bytes | None = None


class Refusal(NamedTuple):
    """An error answer decided before the agent acts; ``auth`` ones are counted per errCode."""

    status: int
    err_code: str
    message: str
    code: int | None = None
    auth: bool = False


class Env:
    """What agents share: the seeded RNG and fresh keys for rotation. Passed in, so tests control it."""

    __slots__ = ("fresh_key", "rng")

    def __init__(self, rng: random.Random, fresh_key: Callable[[int], KeyPair]) -> None:
        self.rng = rng
        self.fresh_key = fresh_key
