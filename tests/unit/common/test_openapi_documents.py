"""docs/openapi/*.json are what the HTTP apps generate now, whatever the environment says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from switchboard_gateway import openapi as gateway_openapi
from switchboard_knowledge import openapi as knowledge_openapi

ROOT = Path(__file__).resolve().parents[3]
GENERATORS: dict[str, tuple[Callable[[], str], str]] = {
    "gateway": (gateway_openapi.render_json, gateway_openapi.DEFAULT_OUT),
    "knowledge": (knowledge_openapi.render_json, knowledge_openapi.DEFAULT_OUT),
}


@pytest.mark.parametrize("service", sorted(GENERATORS))
def test_the_checked_in_openapi_document_is_current(service: str) -> None:
    render, out = GENERATORS[service]
    path = ROOT / out
    assert path.exists(), f"{out} is missing: run `make docs`"
    assert path.read_text(encoding="utf-8") == render(), (
        f"{out} is stale: run `make docs` (python -m switchboard_{service}.openapi) and commit it"
    )


def test_the_documents_hold_each_apis_routes() -> None:
    gateway = gateway_openapi.openapi_document()
    assert {"/twilio/voice", "/admin/businesses", "/calls/{call_id}/events"} <= set(
        gateway["paths"]
    )
    knowledge = knowledge_openapi.openapi_document()
    assert "/businesses/{business_id}/documents" in knowledge["paths"]
    assert gateway["openapi"].startswith("3.") and knowledge["openapi"].startswith("3.")


def test_the_environment_does_not_change_the_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    before = {name: render() for name, (render, _) in GENERATORS.items()}
    # Production refuses the placeholder secrets: generation must not even read them.
    monkeypatch.setenv("SWITCHBOARD_ENV", "production")
    monkeypatch.setenv("GATEWAY_PORT", "9999")
    monkeypatch.setenv("KNOWLEDGE_MAX_UPLOAD_BYTES", "1")
    assert {name: render() for name, (render, _) in GENERATORS.items()} == before


def test_check_mode_exits_non_zero_on_a_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "gateway.json"
    out.write_text("{}\n")
    assert gateway_openapi.main(["--check", "--out", str(out)]) == 1
    assert gateway_openapi.main(["--out", str(out)]) == 0
    assert knowledge_openapi.main(["--check", "--out", str(out)]) == 1
    assert gateway_openapi.main(["--check", "--out", str(out)]) == 0
