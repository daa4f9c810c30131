"""obshell's error codes as fleet meets them: the errCode strings and the 4.2.x numeric codes.

From obshell's ``errors/errorcode.go``. Agents from 4.3.1 answer ``{"errCode", "message"}``
(auth failures add a numeric ``code``); 4.2.x agents answer ``{"code", "message"}`` only, so a
client classifies by errCode when present, else by the numeric code, status and message.
"""

from __future__ import annotations

from enum import StrEnum


class ErrCode(StrEnum):
    """The errCodes fleet's client classifies and its simulator answers."""

    COMMON_NOT_FOUND = "Common.NotFound"
    COMMON_UNEXPECTED = "Common.Unexpected"
    COMMON_ILLEGAL_ARGUMENT = "Common.IllegalArgument"
    COMMON_BIND_JSON_FAILED = "Common.BindJsonFailed"
    COMMON_UNAUTHORIZED = "Common.Unauthorized"
    TASK_NOT_FOUND = "Task.NotFound"
    TASK_GENERIC_ID_INVALID = "Task.GenericID.Invalid"
    OBPROXY_NOT_BE_MANAGED = "OBProxy.NotBeManaged"
    AGENT_UNDER_MAINTENANCE = "Agent.UnderMaintenance"
    REQUEST_HEADER_NOT_FOUND = "Request.Header.NotFound"
    REQUEST_FORWARD_HEADER_NOT_EXIST = "Request.Forward.Header.NotExist"
    AUTH_HEADER_DECRYPT_FAILED = "Security.Authentication.Header.DecryptFailed"
    AUTH_HEADER_URI_MISMATCH = "Security.Authentication.Header.UriMismatch"
    AUTH_TIMESTAMP_INVALID = "Security.Authentication.Timestamp.Invalid"
    AUTH_EXPIRED = "Security.Authentication.Expired"
    AUTH_INCORRECT_AGENT_PASSWORD = "Security.Authentication.IncorrectAgentPassword"
    AUTH_INCORRECT_OCEANBASE_PASSWORD = "Security.Authentication.IncorrectOceanbasePassword"
    AUTH_AGENT_PASSWORD_NOT_INITIALIZED = "Security.Authentication.AgentPasswordNotInitialized"
    AUTH_WITH_AGENT_PASSWORD = "Security.Authentication.WithAgentPassword"
    DAG_OPERATOR_NOT_SUPPORT = "Task.Dag.Operator.NotSupport"
    DAG_OPERATOR_CANCEL_FINISHED_DAG = "Task.Dag.Operator.CancelFinishedDag"
    DAG_OPERATOR_RETRY_NOT_FAILED_DAG = "Task.Dag.Operator.RetryNotFailedDag"
    DAG_OPERATOR_ROLLBACK_NOT_FAILED_DAG = "Task.Dag.Operator.RollbackNotFailedDag"
    DAG_OPERATOR_PASS_NOT_FAILED_DAG = "Task.Dag.Operator.PassNotFailedDag"
    DAG_OPERATOR_ROLLBACK_NOT_ALLOWED = "Task.Dag.Operator.RollbackNotAllowed"


#: errCodes of an authentication refusal (the agent acted on nothing).
AUTH_ERR_PREFIXES = ("Security.Authentication.", ErrCode.COMMON_UNAUTHORIZED.value)
#: errCodes of a request the agent forwarded to its master and could not.
FORWARD_ERR_PREFIX = "Request.Forward."
NOT_FOUND_ERR_CODES = frozenset({ErrCode.COMMON_NOT_FOUND, ErrCode.TASK_NOT_FOUND})

#: Numeric ``code`` of auth refusals (modern and 4.2.x alike), and of a header that does not decrypt.
UNAUTHORIZED_CODE = 10008
DECRYPT_FAILED_CODE = 1
#: errCode prefix of obshell's refusals of a DAG operator (4.3.1+: 400 ``Task.Dag.Operator.*``).
DAG_OPERATOR_ERR_PREFIX = "Task.Dag.Operator."
#: 4.2.x: a "known" error (code 1010, HTTP 500, message "Known error: …"): how 4.2.6 refuses a
#: DAG operator (the DAG is not failed, the node cannot roll back, …).
LEGACY_KNOWN_CODE = 1010
LEGACY_KNOWN_PREFIX = "Known error: "
#: 4.2.x numeric codes: not found (an unknown route is HTTP 400 with it), bad argument, unexpected.
LEGACY_NOT_FOUND_CODE = 1000
LEGACY_ILLEGAL_ARGUMENT_CODE = 1001
LEGACY_UNEXPECTED_CODE = 1002
#: errCode → (numeric code, HTTP status) of the same failure on a 4.2.x agent.
LEGACY: dict[str, tuple[int, int]] = {
    ErrCode.COMMON_NOT_FOUND: (LEGACY_NOT_FOUND_CODE, 400),
    ErrCode.TASK_NOT_FOUND: (2300, 404),
    ErrCode.TASK_GENERIC_ID_INVALID: (LEGACY_ILLEGAL_ARGUMENT_CODE, 400),
    ErrCode.OBPROXY_NOT_BE_MANAGED: (LEGACY_NOT_FOUND_CODE, 400),
    ErrCode.AGENT_UNDER_MAINTENANCE: (LEGACY_UNEXPECTED_CODE, 500),
    ErrCode.COMMON_UNEXPECTED: (LEGACY_UNEXPECTED_CODE, 500),
    ErrCode.COMMON_ILLEGAL_ARGUMENT: (LEGACY_ILLEGAL_ARGUMENT_CODE, 400),
    ErrCode.AUTH_HEADER_DECRYPT_FAILED: (UNAUTHORIZED_CODE, 401),
    **{code: (LEGACY_KNOWN_CODE, 500) for code in ErrCode if code.startswith(DAG_OPERATOR_ERR_PREFIX)},
}

#: Prefix obshell gives the message of an auth refusal (4.3.1+), and its 4.2.x counterpart.
UNAUTHORIZED_PREFIX = "Unauthorized: "
LEGACY_UNAUTHORIZED_PREFIX = "Verification failed: "
#: How 4.2.x and 4.3.0 answer a header they cannot decrypt (401, code 10008, no errCode): the
#: message, not the code, tells a changed key from a wrong password there.
LEGACY_DECRYPT_FAILED_MESSAGE = LEGACY_UNAUTHORIZED_PREFIX + "header decrypt failed"

#: Reasons of a ``Task.NotFound`` on ``GET /api/v1/task/dag/{id}`` (obshell ``GetDagDetail``).
#: The row exists but is not an ODP DAG (its generic id is another one):
DAG_ID_NOT_MATCH = "dag id not match"
#: No such row (yet):
RECORD_NOT_FOUND = "record not found"
#: An ODP id of another agent:
OBPROXY_TASK_NOT_FOUND = "obproxy task not found"
#: Only these two reasons are answers about the row; any other ``Task.NotFound`` is the lookup
#: itself failing (``WrapRetain(ErrTaskNotFound, err)`` of a busy sqlite, say): no answer at all.
DEFINITE_NOT_FOUND_REASONS = (RECORD_NOT_FOUND, DAG_ID_NOT_MATCH)
