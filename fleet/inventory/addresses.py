"""Agent addresses: what fleet will connect to, validated at load and normalised for identity.

An address is an IPv4 address, an IPv6 address (brackets allowed around it) or a DNS name
(letters, internationalised ones too, digits, ``-`` and ``_`` in dot-separated labels of at most
63 characters, at most 253 in all). Anything a URL would read differently — userinfo (``ops:x@10.0.0.1``), a path, query
or fragment (``10.0.0.1/x#``), a port (``10.0.0.1:2886``; set ``obshell_port``), a zone
(``fe80::1%eth0``), spaces — is refused. Nothing is resolved: DNS is never queried at load.

:func:`agent_identity` normalises an address so that two spellings of one agent compare equal:
IPv6 in its compressed lower-case form, IPv4-mapped IPv6 as IPv4, DNS names lower-cased
without a trailing dot.
"""

from __future__ import annotations

import ipaddress
import re

MAX_NAME = 253
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"^{_OCTET}(?:\.{_OCTET}){{3}}$")  # canonical IPv4: the common case, checked fast
_IPV4_CHARS = frozenset("0123456789.")
_LABEL = re.compile(r"^\w(?:[\w-]{0,61}\w)?$")


class AddressError(ValueError):
    """Raised by :func:`check_address` with the reason; callers add ``file:line``."""


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def check_address(address: str) -> str:
    """``address`` without IPv6 brackets, if it is one address fleet can connect to."""
    if _DOTTED_QUAD.match(address):
        return address
    text = address
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    shown = repr(address[:80])
    if not text:
        raise AddressError("is empty")
    for ch, what in (("@", "user information"), ("/", "a path"), ("#", "a fragment"), ("?", "a query"),
                     ("%", "a zone or escape"), ("\\", "a backslash")):
        if ch in text:
            raise AddressError(f"must be a bare address, not {shown} (it contains {what})")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise AddressError(f"must be one address, not {shown} (it contains whitespace or a control character)")
    if ":" in text:
        if _ip(text) is None:
            raise AddressError(f"must be an IPv4/IPv6 address or a DNS name without a port, not {shown} "
                               "(set obshell_port for the agent's port)")
        return text
    if set(text) <= _IPV4_CHARS and _ip(text) is not None:
        return text
    name = text[:-1] if text.endswith(".") else text
    if len(name) > MAX_NAME or not all(_LABEL.match(label) for label in name.split(".")):
        raise AddressError(f"must be an IPv4/IPv6 address or a DNS name, not {shown}")
    if all(label.isdigit() for label in name.split(".")):
        raise AddressError(f"is not a valid IPv4 address: {shown}")
    return text


def agent_identity(address: str, port: int) -> tuple[str, int]:
    """``(normalised address, port)``: equal for every spelling of one agent."""
    if _DOTTED_QUAD.match(address):
        return address, port
    ip = _ip(address) if ":" in address or set(address) <= _IPV4_CHARS else None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip is not None:
        return ip.compressed, port
    return address.lower().rstrip("."), port
