"""The console's passwords, sessions and display helpers."""

from __future__ import annotations

from switchboard_gateway.console.auth import (
    Principal,
    SessionSigner,
    hash_password,
    verify_password,
)
from switchboard_gateway.console.view import mask_number


def test_a_password_is_stored_as_a_salted_scrypt_hash() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$") and "correct horse" not in first
    assert first != second  # salted
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsE", first)
    assert not verify_password("correct horse", "garbage")


def test_a_session_names_its_business_and_expires() -> None:
    signer = SessionSigner(b"k" * 32, ttl_s=60)
    cookie = signer.issue(Principal("acme-owner", "acme"), now=1000.0)
    assert signer.read(cookie, now=1059.0) == Principal("acme-owner", "acme")
    assert signer.read(cookie, now=1060.0) is None


def test_an_altered_or_foreign_session_is_refused() -> None:
    signer = SessionSigner(b"k" * 32, ttl_s=60)
    cookie = signer.issue(Principal("acme-owner", "acme"), now=1000.0)
    forged = signer.issue(Principal("admin", None), now=1000.0)
    payload, _, mac = cookie.partition(".")
    assert signer.read(f"{forged.partition('.')[0]}.{mac}", now=1001.0) is None
    assert SessionSigner(b"x" * 32, ttl_s=60).read(cookie, now=1001.0) is None
    assert signer.read(payload, now=1001.0) is None
    assert signer.read("", now=1001.0) is None


def test_a_business_login_sees_its_business_alone() -> None:
    assert Principal("admin", None).can_see("anyone")
    assert Principal("acme-owner", "acme").can_see("acme")
    assert not Principal("acme-owner", "acme").can_see("rival")


def test_a_caller_number_is_masked() -> None:
    assert mask_number("+14155550123") == "+14•••••••23"
    assert mask_number("") == "unknown"
    assert "5550" not in mask_number("+15550100")
