"""The gateway's HTTP API as an OpenAPI document, checked in at ``docs/openapi/gateway.json``.

Built from the app's routes alone: the app is created but never started, so nothing connects to
NATS. Settings are the defaults (``model_construct`` reads no environment), so the document does
not change with the machine that generates it.

``python -m switchboard_gateway.openapi [--check] [--out PATH]`` (``make docs``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from switchboard_common.generated import run_cli

from .app import create_app
from .settings import GatewaySettings

DEFAULT_OUT = "docs/openapi/gateway.json"


def openapi_document() -> dict[str, Any]:
    return create_app(GatewaySettings.model_construct()).openapi()


def render_json() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, render_json, DEFAULT_OUT, "the gateway's OpenAPI document")


if __name__ == "__main__":
    raise SystemExit(main())
