"""Host keys as Ansible reads them: ``name[:port]`` with ``[begin:end:step]`` ranges.

:func:`parse_address` and :func:`expand_host_key` follow ansible-core's
``ansible.parsing.utils.addresses.parse_address`` and
``ansible.plugins.inventory.expand_hostname_range`` so that fleet and Ansible read one
inventory into the same host names:

* ``obproxy[01:20].hz`` — numeric, zero-padded when ``begin`` has a leading zero (then
  ``begin`` and ``end`` must have the same width); ``[1:10:2]`` has a stride; an empty
  ``begin`` means 0;
* ``db-[a:f].x`` — alphabetic, over ``a…zA…Z``;
* several ranges in one key multiply, the first one varying slowest;
* a trailing ``:NN`` (or ``[addr]:NN``) is Ansible's ssh port and is dropped by the loader.

Where Ansible silently expands a range to nothing (``[5:1]``, a negative stride) fleet refuses
it, and one key may expand to at most :data:`MAX_RANGE_HOSTS` names.
"""

from __future__ import annotations

import re
import string

MAX_RANGE_HOSTS = 100_000


class RangeError(ValueError):
    """Raised by :func:`expand_host_key` with a reason; the loader adds ``file:line``."""


_NUMERIC_RANGE = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_HEX_RANGE = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_V6 = rf"(?:[0-9a-f]{{1,4}}|{_HEX_RANGE})"
_V4 = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUMERIC_RANGE})"
_LABEL = rf"(?:[\w]|{_ALNUM_RANGE})(?:[\w_-]|{_ALNUM_RANGE})*(?<![_-])"

_BRACKETED_HOSTPORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_IPV4 = re.compile(rf"^(?:{_V4}\.){{3}}{_V4}$", re.I)
_IPV6 = re.compile(
    rf"""^(
        (?:{_V6}:){{7}}{_V6}
        |(?:{_V6}:){{1,6}}:
        |(?:{_V6}:)(?::{_V6}){{1,6}}
        |(?:{_V6}:){{2}}(?::{_V6}){{1,5}}
        |(?:{_V6}:){{3}}(?::{_V6}){{1,4}}
        |(?:{_V6}:){{4}}(?::{_V6}){{1,3}}
        |(?:{_V6}:){{5}}(?::{_V6}){{1,2}}
        |(?:{_V6}:){{6}}(?::{_V6})
        |:(?::{_V6}){{1,6}}
        |{_V6}?::
        |(?:0:){{6}}(?:{_V6}\.){{3}}{_V6}
        |::(?:ffff:)?(?:{_V6}\.){{3}}{_V6}
        |(?:0:){{5}}ffff:(?:{_V6}\.){{3}}{_V6}
    )$""",
    re.X | re.I,
)
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.I)


def parse_address(address: str) -> tuple[str, int | None] | None:
    """Split ``host[:port]`` like Ansible; ``None`` when ``address`` is no host identifier.

    Ranges are allowed inside the host part. An IPv6 address takes a port only in brackets.
    """
    port: int | None = None
    for pattern in (_BRACKETED_HOSTPORT, _HOSTPORT):
        m = pattern.match(address)
        if m:
            address, port = m.group(1), int(m.group(2))
    for pattern in (_IPV4, _IPV6, _HOSTNAME):
        if pattern.match(address):
            return address, port
    return None


def _sequence(spec: str) -> list[str]:
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise RangeError("a host range must be [begin:end] or [begin:end:step]")
    beg, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise RangeError("a host range needs an end value")
    width = 0
    if beg[0] == "0" and len(beg) > 1:
        width = len(beg)
        if len(end) != width:
            raise RangeError("a zero-padded host range needs begin and end of equal width")
    try:
        step = int(step_text)
    except ValueError:
        raise RangeError(f"host range step {step_text!r} is not a number") from None
    if step <= 0:
        raise RangeError("a host range step must be at least 1")
    letters = string.ascii_letters
    if beg in letters and end in letters:
        i_beg, i_end = letters.index(beg), letters.index(end)
        if i_beg > i_end:
            raise RangeError("a host range must have begin <= end")
        return list(letters[i_beg:i_end + 1:step])
    try:
        numbers = range(int(beg), int(end) + 1, step)
        count = len(numbers)
    except (ValueError, OverflowError):
        raise RangeError(f"host range [{spec}] needs numbers or single letters") from None
    if count == 0:
        raise RangeError("a host range must have begin <= end")
    if count > MAX_RANGE_HOSTS:
        raise RangeError(f"host range [{spec}] has {count} values; at most {MAX_RANGE_HOSTS} are allowed")
    return [str(n).zfill(width) for n in numbers]


def expand_host_key(key: str) -> tuple[list[str], int | None]:
    """The host names and the optional (ssh) port that one inventory host key stands for."""
    parsed = parse_address(key)
    pattern, port = parsed if parsed is not None else (key, None)
    if "[" not in pattern:
        return [pattern], port
    parts: list[tuple[str, list[str]]] = []
    rest = pattern
    total = 1
    while "[" in rest:
        pieces = rest.replace("[", "|", 1).replace("]", "|", 1).split("|")
        if len(pieces) != 3:
            raise RangeError("a host range needs one '[' and one ']' and no '|'")
        head, spec, rest = pieces
        values = _sequence(spec)
        total *= len(values)
        if total > MAX_RANGE_HOSTS:
            raise RangeError(f"host key expands to more than {MAX_RANGE_HOSTS} hosts")
        parts.append((head, values))
    names = [""]
    for head, values in parts:
        names = [f"{prefix}{head}{value}" for prefix in names for value in values]
    return [name + rest for name in names], port

