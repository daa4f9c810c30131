"""fleet's pure decisions about obshell's real behaviour, tested directly: which answers mean a
changed key, which ``Task.NotFound`` answers say anything about a DAG, who holds the ODP
maintenance lock, which refusals of a DAG operator are the agent's, and the default timeout."""

from __future__ import annotations

import pytest

from fleet.config import DEFAULT_DAG_TIMEOUT, HEALTH_CHECK_INTERVAL_S, HEALTH_CHECK_TRIES, Timeouts
from fleet.models import ApiError
from fleet.protocol import wire


@pytest.mark.parametrize(("error", "changed_key"), [
    (ApiError(401, 1, "Security.Authentication.Header.DecryptFailed", "Decrypt http header failed"), True),
    (ApiError(401, 10008, None, "Verification failed: header decrypt failed"), True),  # 4.2.x, 4.3.0
    (ApiError(401, 10008, None, "verification failed: Header decrypt failed: crypto/rsa"), True),
    (ApiError(401, 1, None, "Decrypt http header failed"), True),
    (ApiError(401, 10008, None, "Verification failed: agent password is incorrect"), False),
    (ApiError(401, 10008, None, "Verification failed: header not found"), False),
    (ApiError(401, 10008, "Security.Authentication.IncorrectAgentPassword", "Unauthorized: wrong"), False),
    (ApiError(500, 10008, None, "Verification failed: header decrypt failed"), False),  # not a 401
])
def test_a_changed_key_is_told_from_a_wrong_password_on_every_release(error: ApiError, changed_key: bool) -> None:
    """DecryptFailed (4.3.1+) and 4.2.x/4.3.0's 401 code 10008 "Verification failed: header decrypt
    failed" mean the agent's key changed (refetch /secret, retry once); other 10008 messages are
    auth failures, never retried."""
    assert wire.is_decrypt_failure(error) is changed_key


def test_the_default_timeout_covers_the_start_dags_worst_case_health_check() -> None:
    """obshell's start DAG sleeps 10 s before each of up to 100 health checks, so an ODP that answers
    the 100th is started ~1,000 s in: the default --timeout outlasts that, with room for the rest."""
    worst_sleeps = HEALTH_CHECK_TRIES * HEALTH_CHECK_INTERVAL_S
    assert (HEALTH_CHECK_TRIES, HEALTH_CHECK_INTERVAL_S) == (100, 10.0)
    assert worst_sleeps + HEALTH_CHECK_TRIES * 1.0 < DEFAULT_DAG_TIMEOUT  # a second per check, at least
    assert Timeouts().dag == DEFAULT_DAG_TIMEOUT == 1200.0
