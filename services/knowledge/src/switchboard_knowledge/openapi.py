"""The knowledge service's HTTP API as an OpenAPI document, at ``docs/openapi/knowledge.json``.

The routes only close over the service, so the app is built around a stand-in that refuses to
be used: generating the document needs no backend, no embedding model and no bus. Settings are
the defaults (``model_construct`` reads no environment), so the output is the same everywhere.

``python -m switchboard_knowledge.openapi [--check] [--out PATH]`` (``make docs``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from switchboard_common.generated import run_cli

from .api import create_api
from .service import KnowledgeService
from .settings import KnowledgeSettings

DEFAULT_OUT = "docs/openapi/knowledge.json"


class _NoService:
    """Stands in for the service while only the routes are read."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the OpenAPI-only app has no service (asked for {name!r})")


def openapi_document() -> dict[str, Any]:
    app = create_api(cast(KnowledgeService, _NoService()), KnowledgeSettings.model_construct())
    return app.openapi()


def render_json() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, render_json, DEFAULT_OUT, "the knowledge service's OpenAPI document")


if __name__ == "__main__":
    raise SystemExit(main())
