"""Passwords kept out of the errors fleet raises before a run has its own sanitiser.

An inventory error can quote what it read: a variable's value (``obshell_password_env must be
an environment variable name, not '…'``, when a shell expanded ``$OBSHELL_AGENT_PASSWORD`` into
``-e``), or an inventory script's standard error. Before the run's passwords are resolved, the
secrets fleet can know are the environment's: ``OBSHELL_AGENT_PASSWORD`` and every variable
whose name says it holds a password, secret or token. Their values are masked in the message
with the run's sanitiser (:class:`fleet.report.sanitize.Sanitizer`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from fleet.errors import InputError
from fleet.models import DEFAULT_PASSWORD_ENV
from fleet.report.sanitize import Sanitizer

#: Environment variable names that say they hold a secret.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL", re.IGNORECASE)
#: Shorter values are not masked: they would garble ordinary words (the password rules refuse them).
MIN_MASKED_CHARS = 6


def environment_secrets(environ: Mapping[str, str], names: Iterable[str] = ()) -> list[str]:
    """The values of ``environ`` that may be passwords: ``DEFAULT_PASSWORD_ENV``, ``names`` and
    every variable whose name matches :data:`SECRET_NAME`."""
    wanted = {DEFAULT_PASSWORD_ENV, *names}
    return sorted({value for key, value in environ.items()
                   if (key in wanted or SECRET_NAME.search(key)) and len(value) >= MIN_MASKED_CHARS})


def masked(exc: InputError, secrets: Iterable[str]) -> InputError:
    """``exc`` with every secret in its message masked (the same object, its text replaced)."""
    sanitizer = Sanitizer(secrets)
    if sanitizer.active:
        exc.args = tuple(sanitizer.mask(arg) if isinstance(arg, str) else arg for arg in exc.args)
        reason = getattr(exc, "reason", None)
        if isinstance(reason, str):
            exc.reason = sanitizer.mask(reason)  # type: ignore[attr-defined]  # InventoryError's own field
    return exc
