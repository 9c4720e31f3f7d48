"""Identifiers that end up inside NATS subjects, so they must be single subject tokens."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

#: One subject token, for schemas (path parameters, form fields) that must say so.
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # noqa: S105 - a regex, not a secret
TOKEN_RE = re.compile(TOKEN_PATTERN)

#: A call id (Twilio's CallSid, or a simulator's): one subject token.
CallId = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)]
#: A business (tenant) id: one subject token.
BusinessId = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)]
#: An agent or gateway process id: one subject token.
ProcessId = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)]


def check_token(value: str, what: str) -> str:
    """Refuse a value that would change a subject's shape (dots, wildcards, spaces)."""
    if not TOKEN_RE.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a valid subject token ([A-Za-z0-9_-]{{1,64}})")
    return value
