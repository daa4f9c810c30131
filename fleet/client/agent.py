"""An async client for one obshell agent, on the run's shared :class:`HttpClient`.

It speaks auth v2 with the agent password (``X-OCS-Agent-Header``), sends fleet's own
``X-OBSHELL-Trace-ID`` on every request, records every ``traceId`` the agent returns, and
learns the agent's clock offset from the envelope so the header's ``ts`` follows the agent's
clock rather than ours. It never re-sends a request after an answer was lost: the only retry
is after ``Header.DecryptFailed``, which the agent raises before acting.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from fleet.client.http import HttpClient
from fleet.errors import ApiFailure, AuthRefused, OperatorRefused, ProtocolError
from fleet.models import AgentInfo, ApiError, DagDetail, HostSpec, Reply, Secret
from fleet.protocol import api, bounds, crypto, wire
from fleet.protocol.clock import clock_offset
from fleet.protocol.dags import REQUEST_OPERATORS

_NO_PASSWORD = ApiError(status=None, code=None, err_code=None, message="no agent password configured for this host")


def new_trace_id() -> str:
    """16 lowercase hex characters, the shape obshell gives its own trace ids."""
    return os.urandom(8).hex()


class AgentClient:
    """One agent. Cheap to create; holds the cached public key, clock offset and returned trace ids."""

    def __init__(
        self,
        http: HttpClient,
        host: HostSpec,
        password: Secret | None = None,
        *,
        auth_lifetime: int = 60,
        clock: Callable[[], float] = time.time,
        trace_ids: Callable[[], str] = new_trace_id,
    ) -> None:
        self._http = http
        self.host = host
        self._password = password
        self._lifetime = auth_lifetime
        self._clock = clock
        self._new_trace_id = trace_ids
        self._public_key: rsa.RSAPublicKey | None = None
        #: Agent clock minus ours, in seconds, from the latest answer carrying a timestamp.
        self.clock_offset: float | None = None
        #: The traceIds the agent returned, in order (errors included): the first ones and the latest.
        self._trace_ids = bounds.KeptTraceIds()
        #: The trace id fleet sent with the latest request.
        self.last_sent_trace_id: str | None = None

    @property
    def returned_trace_ids(self) -> list[str]:
        """The traceIds the agent returned, in order: the first ones and the latest (bounded)."""
        return self._trace_ids.as_list()

    @property
    def trace_ids_dropped(self) -> int:
        """How many returned traceIds were not kept (between the first ones and the latest)."""
        return self._trace_ids.dropped

    # -- unauthenticated --------------------------------------------------------------

    async def info(self) -> Reply[AgentInfo]:
        env = await self._call("GET", api.INFO)
        return Reply(wire.parse_agent_info(env.data), env.trace_id, env.timestamp, env.status)

    async def public_key(self, *, refresh: bool = False) -> rsa.RSAPublicKey:
        if self._public_key is None or refresh:
            env = await self._call("GET", api.SECRET)
            try:
                self._public_key = crypto.load_public_key(wire.parse_public_key(env.data))
            except crypto.CryptoError as exc:
                raise ProtocolError(f"{api.SECRET}: {exc}", env.trace_id) from None
        return self._public_key

    # -- authenticated ----------------------------------------------------------------

    async def start_obproxy(self, *, trace_id: str | None = None) -> Reply[DagDetail]:
        """POST /api/v1/obproxy/start. Not idempotent: the caller must never call it twice blindly."""
        env = await self._call_auth("POST", api.OBPROXY_START, trace_id=trace_id)
        return Reply(wire.parse_dag(env.data), env.trace_id, env.timestamp, env.status)

    async def stop_obproxy(self, *, trace_id: str | None = None) -> Reply[DagDetail]:
        env = await self._call_auth("POST", api.OBPROXY_STOP, trace_id=trace_id)
        return Reply(wire.parse_dag(env.data), env.trace_id, env.timestamp, env.status)

    async def get_dag(self, generic_id: str, *, details: bool = False) -> Reply[DagDetail]:
        env = await self._call_auth("GET", api.with_details(api.dag_path(generic_id), details))
        return Reply(wire.parse_dag(env.data), env.trace_id, env.timestamp, env.status)

    async def operate_dag(self, generic_id: str, operator: str, *, trace_id: str | None = None) -> Reply[None]:
        """POST /api/v1/task/dag/{id}: RETRY, ROLLBACK, CANCEL or PASS an existing DAG. Not idempotent."""
        if operator not in REQUEST_OPERATORS:
            raise ValueError(f"unknown DAG operator {operator!r}")
        try:
            env = await self._call_auth("POST", api.dag_path(generic_id), body={api.OPERATOR_FIELD: operator},
                                        trace_id=trace_id)
        except ApiFailure as exc:
            # 4.2.6 refuses an operator with a 500 ("Known error: …"): a refusal, not a server failure
            if type(exc) is ApiFailure and wire.is_operator_refusal(exc.error):
                raise OperatorRefused(exc.error, exc.trace_id) from None
            raise
        return Reply(None, env.trace_id, env.timestamp, env.status)

    async def unfinished_dags(self) -> Reply[tuple[DagDetail, ...]]:
        env = await self._call_auth("GET", api.with_details(api.UNFINISHED_DAGS, False))
        return Reply(wire.parse_dag_list(env.data), env.trace_id, env.timestamp, env.status)

    async def agent_dags(self) -> Reply[tuple[DagDetail, ...]]:
        env = await self._call_auth("GET", api.with_details(api.AGENT_DAGS, False))
        return Reply(wire.parse_dag_list(env.data), env.trace_id, env.timestamp, env.status)

    # -- plumbing ---------------------------------------------------------------------

    async def _call_auth(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, trace_id: str | None = None
    ) -> wire.Envelope:
        if self._password is None:
            raise AuthRefused(_NO_PASSWORD, None)
        key = await self.public_key()
        try:
            return await self._call(method, path, body=body, key=key, trace_id=trace_id)
        except ApiFailure as exc:
            if not wire.is_decrypt_failure(exc.error):
                raise
        # The agent's key changed (upgrade, restart): refetch once and retry once. The agent
        # refused before acting, so the retry cannot double anything.
        key = await self.public_key(refresh=True)
        return await self._call(method, path, body=body, key=key, trace_id=trace_id)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        key: rsa.RSAPublicKey | None = None,
        trace_id: str | None = None,
    ) -> wire.Envelope:
        sent_trace = trace_id or self._new_trace_id()
        self.last_sent_trace_id = sent_trace
        headers = {api.TRACE_HEADER: sent_trace, "Accept": "application/json"}
        payload: bytes | None = None
        if key is not None:
            assert self._password is not None
            session = crypto.SessionKey.generate()
            if body is not None:
                payload = crypto.encrypt_body(json.dumps(body).encode("utf-8"), session)
                headers["Content-Type"] = "application/json"
            offset = self.clock_offset or 0.0
            expires = int(self._clock() + offset) + self._lifetime
            doc = crypto.header_json(self._password.reveal(), expires, path, session)
            headers[api.AGENT_HEADER] = crypto.encrypt_header(doc, key)
        elif body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        sent_at = self._clock()
        raw = await self._http.send(
            method, self.host.base_url + path, headers=headers, body=payload,
            scheme=self.host.scheme, tls=self.host.tls,
        )
        received_at = self._clock()
        env = wire.parse_envelope(raw.status, raw.body)
        if env.trace_id:
            self._trace_ids.append(env.trace_id)
        measured = clock_offset(env.timestamp, sent_at, received_at)
        if measured is not None:
            self.clock_offset = measured
        if not env.successful:
            raise wire.failure_for(env)
        return env

