"""One agent's envelopes: success, and errors in the style of its release (errCode from 4.3.1,
numeric codes before). Pure: the time is passed in.
"""

from __future__ import annotations

from typing import Any

from fleet.protocol.clock import format_agent_time
from fleet.protocol.errcodes import (
    LEGACY,
    LEGACY_DECRYPT_FAILED_MESSAGE,
    LEGACY_KNOWN_CODE,
    LEGACY_KNOWN_PREFIX,
    LEGACY_UNAUTHORIZED_PREFIX,
    LEGACY_UNEXPECTED_CODE,
    UNAUTHORIZED_CODE,
    UNAUTHORIZED_PREFIX,
    ErrCode,
)
from fleet.protocol.wire import envelope_document, error_document
from fleet.simulator.exchange import Answer
from fleet.simulator.settings import AgentSettings


def agent_time(settings: AgentSettings, unix: float) -> str:
    """Real time ``unix`` as this agent writes it: its clock skew and its UTC offset."""
    return format_agent_time(unix + settings.clock_skew, settings.utc_offset)


def ok(settings: AgentSettings, data: Any, trace: str, now: float) -> Answer:
    """200 with ``data`` (left out when None)."""
    return Answer(200, envelope_document(200, trace, agent_time(settings, now), data))


def error(settings: AgentSettings, status: int, err_code: str, code: int | None, message: str, trace: str,
          now: float) -> Answer:
    """An error envelope; a 4.2.x-style agent answers its numeric code and status instead."""
    if settings.legacy_errors:
        legacy_code, legacy_status = LEGACY.get(
            err_code, (UNAUTHORIZED_CODE, 401) if status == 401 else (LEGACY_UNEXPECTED_CODE, status))
        if err_code == ErrCode.AUTH_HEADER_DECRYPT_FAILED:
            legacy_code, message = UNAUTHORIZED_CODE, LEGACY_DECRYPT_FAILED_MESSAGE
        elif status == 401 or err_code == ErrCode.REQUEST_HEADER_NOT_FOUND:
            legacy_status = 401
            legacy_code = code if code is not None else UNAUTHORIZED_CODE
            if legacy_code == UNAUTHORIZED_CODE:
                message = LEGACY_UNAUTHORIZED_PREFIX + message.removeprefix(UNAUTHORIZED_PREFIX)
        elif legacy_code == LEGACY_KNOWN_CODE:  # 4.2.6 refuses a DAG operator as a "known" error
            message = LEGACY_KNOWN_PREFIX + message
        status = legacy_status
        err = error_document(None, legacy_code, message)
    else:
        err = error_document(err_code, code, message)
    return Answer(status, envelope_document(status, trace, agent_time(settings, now), error=err))
