"""How a simulated agent checks a request's credentials, in obshell's order. Pure.

obshell ``api/common/middleware.go`` and ``secure/auth.go``: header decrypt (and body decrypt)
→ a header is present → ODP routes need the agent header → ``uri`` → the agent password is
initialised → ``ts`` parses → expiry → password. Ordinary routes go through the cluster check
(``VerifyObRouters``) first: a FOLLOWER forwards them to its master.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from fleet.protocol import api, crypto
from fleet.protocol.agentinfo import ODP_ROUTES_SINCE, Identity, version_tuple
from fleet.protocol.errcodes import DECRYPT_FAILED_CODE, UNAUTHORIZED_CODE, UNAUTHORIZED_PREFIX, ErrCode
from fleet.protocol.ids import is_odp_dag_id
from fleet.simulator.exchange import Refusal, SimRequest
from fleet.simulator.keys import KeyPair
from fleet.simulator.routing import DAG_ROUTES, ODP_ROUTES, dag_id_of
from fleet.simulator.settings import AgentSettings

_TS = re.compile(r"[+-]?\d+")
#: What a FOLLOWER answers when it forwards the agent header to its master.
FORWARD_HEADER_MISSING = "Header not found when auto-forwarding request to master"
_HEADER_FIELDS = ("auth", "ts", "uri", "keys")


@dataclass(frozen=True, slots=True)
class Credentials:
    """The decrypted auth header (None when the request carried none), and whether it was the agent's."""

    header: dict[str, str] | None
    by_agent: bool


def read_credentials(req: SimRequest, version: str, key: KeyPair) -> Credentials | Refusal:
    """Decrypt the auth header and, with it, the body (``req.body`` becomes the plain body).

    Agents older than 4.2.6 do not know ``X-OCS-Agent-Header`` and ignore it. A refusal here
    comes before the agent reads the trace id, so it is answered with an empty ``traceId``.
    """
    agent_raw = req.headers.get(api.AGENT_HEADER) if version_tuple(version) >= ODP_ROUTES_SINCE else None
    raw = agent_raw if agent_raw is not None else req.headers.get(api.OB_HEADER)
    if raw is None:
        return Credentials(None, False)
    try:
        header = _decode_header(raw, key)
    except crypto.CryptoError as exc:
        return Refusal(401, ErrCode.AUTH_HEADER_DECRYPT_FAILED, f"Decrypt http header failed: {exc}",
                       DECRYPT_FAILED_CODE, auth=True)
    if req.body:
        try:
            req.body = crypto.decrypt_body(req.body, crypto.SessionKey.from_wire(header["keys"]))
        except crypto.CryptoError as exc:
            return Refusal(401, ErrCode.COMMON_UNAUTHORIZED, f"{UNAUTHORIZED_PREFIX}{exc}", UNAUTHORIZED_CODE,
                           auth=True)
    return Credentials(header, agent_raw is not None)


def verify(req: SimRequest, route: str, creds: Credentials, settings: AgentSettings, now: float) -> Refusal | None:
    """Why the agent refuses this request on ``route``, or None when the credentials pass."""
    s = settings
    header, by_agent = creds.header, creds.by_agent
    if header is None:
        return _refusal(400, ErrCode.REQUEST_HEADER_NOT_FOUND,
                        f"{api.AGENT_HEADER} or {api.OB_HEADER} not found in http request header", None)
    if route in ODP_ROUTES and not by_agent:
        return _refusal(400, ErrCode.REQUEST_HEADER_NOT_FOUND, f"{api.AGENT_HEADER} not found in http request header",
                        None)
    if header["uri"] != req.target:
        return _refusal(401, ErrCode.AUTH_HEADER_URI_MISMATCH, "URI mismatch")
    odp_task = route in DAG_ROUTES and is_odp_dag_id(dag_id_of(req.path))
    if route in ODP_ROUTES or odp_task:
        if not by_agent:
            return _refusal(401, ErrCode.AUTH_WITH_AGENT_PASSWORD,
                            f"{UNAUTHORIZED_PREFIX}Should use agent_password to verify: "
                            "this route only support agent password")
        return _check_password(header, s.password, s.agent_password_set, s.clock_skew, now, agent=True)
    # VerifyObRouters: a FOLLOWER accepts only a token; anything else is auto-forwarded to
    # its master, and the forward needs X-OCS-Header: with the agent header the follower
    # answers 500 Request.Forward.Header.NotExist before any password check.
    if s.identity == Identity.FOLLOWER and by_agent:
        return Refusal(500, ErrCode.REQUEST_FORWARD_HEADER_NOT_EXIST, FORWARD_HEADER_MISSING)
    # SINGLE/MASTER agents without an agent password let anything through.
    if not s.agent_password_set and s.identity in (Identity.SINGLE, Identity.MASTER):
        return None
    if by_agent:
        return _check_password(header, s.password, s.agent_password_set, s.clock_skew, now, agent=True)
    return _check_password(header, s.ob_password, True, s.clock_skew, now, agent=False)


def _check_password(header: dict[str, str], password: str, initialised: bool, clock_skew: float, now: float,
                    *, agent: bool) -> Refusal | None:
    if not initialised:
        return _refusal(401, ErrCode.AUTH_AGENT_PASSWORD_NOT_INITIALIZED,
                        f"{UNAUTHORIZED_PREFIX}Agent password is not initialized")
    auth = header["auth"]
    if auth != "":
        ts = header["ts"]
        if not _TS.fullmatch(ts):
            return _refusal(401, ErrCode.AUTH_TIMESTAMP_INVALID,
                            f"{UNAUTHORIZED_PREFIX}Invalid timestamp: {ts}, err: invalid syntax")
        if int(now + clock_skew) > int(ts):
            return _refusal(401, ErrCode.AUTH_EXPIRED, f"{UNAUTHORIZED_PREFIX}Authentication expired")
    if auth != password:
        if agent:
            return _refusal(401, ErrCode.AUTH_INCORRECT_AGENT_PASSWORD,
                            f"{UNAUTHORIZED_PREFIX}Agent password is incorrect")
        return _refusal(401, ErrCode.AUTH_INCORRECT_OCEANBASE_PASSWORD,
                        f"{UNAUTHORIZED_PREFIX}OceanBase password is incorrect")
    return None


def _refusal(status: int, err_code: ErrCode, message: str, code: int | None = UNAUTHORIZED_CODE) -> Refusal:
    """An auth refusal (counted per errCode in the state file)."""
    return Refusal(status, err_code, message, code, auth=True)


def _decode_header(raw: str, key: KeyPair) -> dict[str, str]:
    """Decrypt and type-check the auth header as Go's json.Unmarshal into HttpHeader would."""
    doc: dict[str, Any] = crypto.decrypt_header(raw, key.private)
    fields = dict.fromkeys(_HEADER_FIELDS, "")
    for name, value in doc.items():
        lowered = name.lower()
        if lowered in fields:
            if not isinstance(value, str):
                raise crypto.CryptoError(f"json: cannot unmarshal {type(value).__name__} into field {lowered}")
            fields[lowered] = value
    if fields["keys"]:
        try:
            base64.b64decode(fields["keys"], validate=True)
        except (binascii.Error, ValueError):
            raise crypto.CryptoError("illegal base64 data in keys") from None
    return fields
