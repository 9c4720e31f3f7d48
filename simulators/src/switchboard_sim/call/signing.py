"""Twilio request signing, and the public-URL ↔ gateway-URL mapping the simulator needs.

Twilio signs the URL it was configured with (the public one); the simulator connects to a local
gateway instead, so it must sign one URL and dial another.
"""

from __future__ import annotations

import secrets
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


def twilio_signature(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for ``url`` with these POST params."""
    return str(RequestValidator(auth_token).compute_signature(url, params or {}))


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def join_url(base: str, path: str) -> str:
    """``base`` (maybe with a path prefix, maybe a trailing slash) + ``path``."""
    return base.rstrip("/") + "/" + path.lstrip("/")


class UrlMapError(ValueError):
    """The TwiML points somewhere the simulator cannot (or Twilio would not) connect."""


def map_stream_url(stream_url: str, public_base_url: str, gateway_url: str) -> str:
    """Turn the TwiML's ``wss://public-host/path?q`` into ``ws://gateway-host/path?q``.

    Twilio only dials ``wss://``; the host must be the public host, since that is the only one
    the simulator knows how to reach.
    """
    target = urlsplit(stream_url)
    public = urlsplit(public_base_url)
    gateway = urlsplit(gateway_url)
    if target.scheme != "wss":
        raise UrlMapError(f"<Stream url> must be wss:// (Twilio refuses {target.scheme}://)")
    if target.netloc.lower() != public.netloc.lower():
        raise UrlMapError(
            f"<Stream url> host {target.netloc!r} is not the public host {public.netloc!r}"
        )
    scheme = "wss" if gateway.scheme == "https" else "ws"
    return urlunsplit(
        (scheme, gateway.netloc, _gateway_path(target.path, public, gateway), target.query, "")
    )


def map_http_url(url: str, public_base_url: str, gateway_url: str) -> str:
    """Turn an absolute ``https://public-host/path?q`` from TwiML into the gateway's address."""
    target = urlsplit(url)
    public = urlsplit(public_base_url)
    gateway = urlsplit(gateway_url)
    if target.scheme not in ("http", "https"):
        raise UrlMapError(f"{url!r} is not an http(s) URL")
    if target.netloc.lower() != public.netloc.lower():
        raise UrlMapError(
            f"{url!r}: host {target.netloc!r} is not the public host {public.netloc!r}"
        )
    path = _gateway_path(target.path, public, gateway)
    return urlunsplit((gateway.scheme, gateway.netloc, path, target.query, ""))


def resolve_url(url: str, base: str) -> str:
    """A TwiML URL attribute, absolute or relative to the document's URL (the voice webhook)."""
    return urljoin(base, url)


def _gateway_path(path: str, public: SplitResult, gateway: SplitResult) -> str:
    prefix = public.path.rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]  # the public base carries a prefix the gateway does not see
    return gateway.path.rstrip("/") + path
