"""The admin API for businesses: auth, create/read/update/delete, 409/422/428, OpenAPI.

The router runs in a bare FastAPI app over a real nats-server (JetStream KV)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import nats
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError

from switchboard_common import subjects
from switchboard_common.business_store import BusinessStore
from switchboard_gateway.routes import admin
from switchboard_gateway.settings import GatewaySettings
from switchboard_sim.stack import LocalStack

pytestmark = pytest.mark.timeout(60)

TOKEN = "admin-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ACME: dict[str, Any] = {
    "business_id": "acme",
    "name": "Acme",
    "phone_numbers": ["+14155550100"],
    "greeting": "Acme, good morning!",
}


@pytest.fixture(scope="module")
async def admin_nats_url() -> AsyncIterator[str]:
    async with LocalStack() as stack:
        yield await stack.start_nats()


@pytest.fixture
async def api(admin_nats_url: str) -> AsyncIterator[httpx.AsyncClient]:
    nc = await nats.connect(admin_nats_url)
    js = nc.jetstream()
    for bucket in (subjects.BUSINESSES_BUCKET, subjects.BUSINESS_NUMBERS_BUCKET):
        with contextlib.suppress(Exception):
            await js.delete_key_value(bucket)
    app = FastAPI()
    app.include_router(admin.router)
    settings = GatewaySettings(admin_token=SecretStr(TOKEN))
    app.state.ctx = SimpleNamespace(settings=settings, businesses=await BusinessStore.open(nc))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client
    await nc.close()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-Token": TOKEN}])
async def test_every_route_needs_the_token(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/admin/businesses"),
        ("POST", "/admin/businesses"),
        ("GET", "/admin/businesses/acme"),
        ("PUT", "/admin/businesses/acme"),
        ("DELETE", "/admin/businesses/acme"),
    ]:
        response = await api.request(method, path, headers=headers, json=ACME)
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_create_read_update_delete(api: httpx.AsyncClient) -> None:
    created = await api.post("/admin/businesses", json=ACME, headers=AUTH)
    assert created.status_code == 201, created.text
    revision = created.json()["revision"]
    assert created.headers["ETag"] == f'"{revision}"'
    assert created.json()["business"]["greeting"] == ACME["greeting"]
    assert created.json()["business"]["v"] == 1

    got = await api.get("/admin/businesses/acme", headers=AUTH)
    assert got.status_code == 200 and got.json() == created.json()
    listed = await api.get("/admin/businesses", headers=AUTH)
    assert [d["business"]["business_id"] for d in listed.json()] == ["acme"]

    changed = got.json()["business"] | {"greeting": "Acme, good evening!"}
    updated = await api.put(
        "/admin/businesses/acme", json=changed, headers=AUTH | {"If-Match": got.headers["ETag"]}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["revision"] > revision
    assert updated.json()["business"]["greeting"] == "Acme, good evening!"

    deleted = await api.delete(
        "/admin/businesses/acme", headers=AUTH | {"If-Match": updated.headers["ETag"]}
    )
    assert deleted.status_code == 204
    assert (await api.get("/admin/businesses/acme", headers=AUTH)).status_code == 404
    assert (await api.delete("/admin/businesses/acme", headers=AUTH)).status_code == 404


async def test_put_creates_when_absent_and_needs_if_match_when_present(
    api: httpx.AsyncClient,
) -> None:
    created = await api.put("/admin/businesses/acme", json=ACME, headers=AUTH)
    assert created.status_code == 201, created.text
    again = await api.put("/admin/businesses/acme", json=ACME, headers=AUTH)
    assert again.status_code == 428
    assert "If-Match" in again.json()["detail"]
    forced = await api.put("/admin/businesses/acme", json=ACME, headers=AUTH | {"If-Match": "*"})
    assert forced.status_code == 200


async def test_a_stale_revision_is_a_409(api: httpx.AsyncClient) -> None:
    created = (await api.post("/admin/businesses", json=ACME, headers=AUTH)).json()
    stale = {"If-Match": f'"{created["revision"]}"'}
    first = await api.put(
        "/admin/businesses/acme", json=ACME | {"name": "Acme One"}, headers=AUTH | stale
    )
    assert first.status_code == 200
    second = await api.put(
        "/admin/businesses/acme", json=ACME | {"name": "Acme Two"}, headers=AUTH | stale
    )
    assert second.status_code == 409
    assert "expected revision" in second.json()["detail"]
    assert (await api.delete("/admin/businesses/acme", headers=AUTH | stale)).status_code == 409
    current = (await api.get("/admin/businesses/acme", headers=AUTH)).json()
    assert current["business"]["name"] == "Acme One"


async def test_a_number_owned_by_another_business_is_a_409(api: httpx.AsyncClient) -> None:
    assert (await api.post("/admin/businesses", json=ACME, headers=AUTH)).status_code == 201
    thief = ACME | {"business_id": "thief", "phone_numbers": ["+1 415 555 0100"]}
    response = await api.post("/admin/businesses", json=thief, headers=AUTH)
    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        "phone number +14155550100 already belongs to business 'acme'"
    )
    duplicate = await api.post("/admin/businesses", json=ACME, headers=AUTH)
    assert duplicate.status_code == 409 and "already exists" in duplicate.json()["detail"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"phone_numbers": ["555-0100"]}, "phone_numbers"),
        ({"temperature": 3.0}, "temperature"),
        ({"max_output_tokens": 10000}, "max_output_tokens"),
        ({"turn_detection": {"type": "semantic_vad", "threshold": 0.5}}, "turn_detection"),
        ({"transfer_number": "call me"}, "transfer_number"),
        ({"grreting": "typo"}, "grreting"),
    ],
)
async def test_an_invalid_configuration_is_a_422_saying_what_is_wrong(
    api: httpx.AsyncClient, change: dict[str, Any], where: str
) -> None:
    response = await api.post("/admin/businesses", json=ACME | change, headers=AUTH)
    assert response.status_code == 422
    assert any(where in [str(part) for part in e["loc"]] for e in response.json()["detail"])


async def test_the_url_and_the_body_must_name_the_same_business(api: httpx.AsyncClient) -> None:
    response = await api.put("/admin/businesses/other", json=ACME, headers=AUTH)
    assert response.status_code == 400
    assert "does not match the URL" in response.json()["detail"]


async def test_a_malformed_revision_or_business_id_is_a_422(api: httpx.AsyncClient) -> None:
    for revision in ("v1", "9" * 5000):  # not a number; more digits than int() takes
        bad = await api.put(
            "/admin/businesses/acme", json=ACME, headers=AUTH | {"If-Match": revision}
        )
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["header", "If-Match"]
    dotted = await api.get("/admin/businesses/a.b", headers=AUTH)  # would change a KV key's shape
    assert dotted.status_code == 422
    assert dotted.json()["detail"][0]["loc"] == ["path", "business_id"]


async def test_the_api_is_in_the_openapi_schema(api: httpx.AsyncClient) -> None:
    app = FastAPI()
    app.include_router(admin.router)
    schema = app.openapi()
    assert set(schema["paths"]) == {"/admin/businesses", "/admin/businesses/{business_id}"}
    assert "BusinessProfile" in schema["components"]["schemas"]
    assert "TurnDetection" in schema["components"]["schemas"]


def test_the_placeholder_token_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_ENV", "production")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "real")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://voice.example.com")
    monkeypatch.setenv("KNOWLEDGE_ADMIN_TOKEN", "a-real-knowledge-secret")
    monkeypatch.setenv("NATS_USER", "gateway")
    monkeypatch.setenv("NATS_PASSWORD", "q8Zx1-a-real-nats-password")
    monkeypatch.delenv("GATEWAY_ADMIN_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="GATEWAY_ADMIN_TOKEN"):
        GatewaySettings()
    monkeypatch.setenv("GATEWAY_ADMIN_TOKEN", "dev-admin-token")
    with pytest.raises(ValidationError, match="GATEWAY_ADMIN_TOKEN"):
        GatewaySettings()
    monkeypatch.setenv("GATEWAY_ADMIN_TOKEN", "a-real-secret")
    assert GatewaySettings().admin_token.get_secret_value() == "a-real-secret"
