"""What ``GET /api/v1/info`` tells about an agent: how to read its version, which releases
changed the API, and the identities an agent can have.
"""

from __future__ import annotations

from enum import StrEnum

#: Releases that changed what fleet may send or will get back.
ODP_ROUTES_SINCE = (4, 2, 6)  # /api/v1/obproxy/* and X-OCS-Agent-Header exist
ERR_CODES_SINCE = (4, 3, 1)  # errors carry errCode; start no longer refuses a non-ODP agent
#: The auth scheme fleet speaks (``supportedAuth``).
AUTH_V2 = "v2"
_MAX_VERSION_CHARS = 128
_MAX_COMPONENT_DIGITS = 9


class Identity(StrEnum):
    """An agent's place in its cluster (``identity``); a FOLLOWER forwards ordinary routes."""

    SINGLE = "SINGLE"
    MASTER = "MASTER"
    FOLLOWER = "FOLLOWER"
    CLUSTER_AGENT = "CLUSTER AGENT"
    UNIDENTIFIED = "UNIDENTIFIED"


def version_tuple(version: str) -> tuple[int, ...]:
    """``"4.2.6.0-100000012025"`` → ``(4, 2, 6, 0)``, to compare with the release tuples above.

    obshell's own rule (``lib/pkg/version.go`` ``CompareVersion``): the version is what comes
    before the first ``-`` (the rest is the release number), its components split on ``.``
    and compared as integers, a longer version being the greater when one is a prefix of the
    other — as Python compares tuples. Hardened against hostile text where Go's ``Atoi`` would
    read an odd component as 0: a component that is not 1 to 9 ASCII digits (``"²"`` is a digit
    to ``str.isdigit`` but not to obshell) ends the tuple, and only the first 128 characters
    are read. So ``""`` and ``"x"`` are ``()``, a version fleet does not understand.
    """
    parts: list[int] = []
    for piece in version[:_MAX_VERSION_CHARS].split("-", 1)[0].split("."):
        if not (piece.isascii() and piece.isdigit()) or len(piece) > _MAX_COMPONENT_DIGITS:
            break
        parts.append(int(piece))
    return tuple(parts)
