"""Who is signed in to the console, and how we know.

* Passwords are kept only as scrypt hashes (:func:`hash_password`), in the KV bucket
  ``sb_console_logins`` (:class:`LoginStore`).
* The platform admin signs in as ``admin`` with ``GATEWAY_ADMIN_TOKEN``, the secret the admin
  API already takes; every other login belongs to one business and sees only that business.
* A session is a cookie signed with HMAC-SHA256 that names the login, its business and the
  session's id, and carries its expiry (:class:`SessionSigner`): a cookie past its expiry, or
  altered, is refused. The id must also still be open on the bus
  (:mod:`.sessions`), so that signing out ends the session everywhere.
* Guessing is slowed for every replica at once (:mod:`.throttle`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from switchboard_common import subjects
from switchboard_common.buckets import open_bucket
from switchboard_common.ids import TOKEN_RE
from switchboard_common.messages import ConsoleLogin

log = logging.getLogger(__name__)

#: The platform admin's login name (its password is GATEWAY_ADMIN_TOKEN).
ADMIN_LOGIN = "admin"
#: scrypt's cost: 16 MiB of memory and about 50 ms per hash.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True)
class Principal:
    """A signed-in person: a platform admin (``business_id`` None) or one business's login."""

    login: str
    business_id: str | None
    #: The open session this principal signed in with (see :mod:`.sessions`).
    session_id: str = field(default="", compare=False)

    @property
    def is_admin(self) -> bool:
        return self.business_id is None

    def can_see(self, business_id: str) -> bool:
        return self.business_id is None or self.business_id == business_id


class SessionSigner:
    """Session cookies: ``<payload, base64url>.<HMAC-SHA256, base64url>``."""

    def __init__(self, secret: bytes, ttl_s: float) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def _mac(self, payload: bytes) -> str:
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, principal: Principal, now: float | None = None) -> str:
        expires = (time.time() if now is None else now) + self.ttl_s
        body = {
            "l": principal.login,
            "b": principal.business_id,
            "s": principal.session_id,
            "e": int(expires),
        }
        payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=")
        return f"{payload.decode()}.{self._mac(payload)}"

    def read(self, cookie: str, now: float | None = None) -> Principal | None:
        """The cookie's principal; None when it is malformed, altered or expired."""
        payload, _, mac = cookie.partition(".")
        if not payload or not hmac.compare_digest(mac, self._mac(payload.encode())):
            return None
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            body = json.loads(raw)
            login, business, expires = body["l"], body["b"], float(body["e"])
            session_id = body["s"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if expires <= (time.time() if now is None else now):
            return None
        if not isinstance(login, str) or not isinstance(session_id, str):
            return None
        if not (business is None or isinstance(business, str)):
            return None
        return Principal(login, business, session_id)


class LoginStore:
    """The console's logins in the KV bucket ``sb_console_logins`` (key = login name)."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, nc: Client) -> LoginStore:
        return cls(await open_bucket(nc, subjects.CONSOLE_LOGINS_BUCKET))

    async def get(self, login: str) -> ConsoleLogin | None:
        if not TOKEN_RE.fullmatch(login):
            return None
        try:
            entry = await self._kv.get(login)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        try:
            return ConsoleLogin.model_validate_json(entry.value)
        except ValidationError:
            log.warning("console login %r is unreadable", login)
            return None

    async def put(self, login: ConsoleLogin) -> None:
        await self._kv.put(login.login, login.to_bytes())

    async def delete(self, login: str) -> None:
        await self._kv.delete(login)

    async def of_business(self, business_id: str) -> list[ConsoleLogin]:
        try:
            keys = await self._kv.keys()
        except Exception:  # nats-py raises NoKeysError on an empty bucket
            return []
        found = [await self.get(key) for key in sorted(keys)]
        return [f for f in found if f is not None and f.business_id == business_id]


async def authenticate(
    logins: LoginStore, admin_token: str, login: str, password: str
) -> Principal | None:
    """The principal these credentials name, or None. Every failure looks the same."""
    if login == ADMIN_LOGIN:
        if admin_token and hmac.compare_digest(password.encode(), admin_token.encode()):
            return Principal(ADMIN_LOGIN, None)
        return None
    stored = await logins.get(login)
    if stored is None:
        hash_password(password)  # the same time spent whether the login exists or not
        return None
    if not verify_password(password, stored.password_hash):
        return None
    return Principal(stored.login, stored.business_id)
