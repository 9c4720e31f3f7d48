"""What our HTTP APIs share: their error answers, and the shape of their OpenAPI documents.

Every refusal is FastAPI's ``{"detail": ...}`` body (the knowledge service adds its domain
error ``code``). A route names the statuses it can answer with :func:`problems`, so clients
and the API fuzz tests know each one is deliberate, not a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    """Why a request was refused."""

    detail: str
    code: str | None = None


_MEANINGS = {
    400: "The request is well formed but cannot be done (for example, an invalid identifier)",
    401: "Missing or wrong bearer token",
    404: "No such resource",
    409: "Conflicts with the current state",
    413: "Too large",
    415: "Unsupported media type",
    428: "A precondition header is required",
    503: "A dependency (the bus, the event stream or the vector store) is unavailable",
    504: "A dependency did not answer in time",
}


def problems(*statuses: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` for these error statuses; ``meanings`` (keyed ``s404`` and so
    on) replaces the generic description where a route's reason is more specific."""
    return {
        status: {
            "model": Problem,
            "description": meanings.get(f"s{status}", _MEANINGS[status]),
        }
        for status in statuses
    }


def optional_parameters_are_not_null(document: dict[str, Any]) -> dict[str, Any]:
    """Say "may be left out" for optional parameters, not "may be null".

    FastAPI writes an optional header or query parameter as ``anyOf: [<schema>, null]``, but
    a header or query value is never JSON null: it is there or it is not, and a client (or a
    fuzzer) reading the document literally would send the text ``null``."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                choices = schema.get("anyOf")
                if parameter.get("required") or not isinstance(choices, list):
                    continue
                kept = [c for c in choices if c.get("type") != "null"]
                if len(kept) == 1 and len(choices) == 2:
                    parameter["schema"] = {
                        **kept[0],
                        **{k: v for k, v in schema.items() if k != "anyOf"},
                    }
    return document


def tidy_openapi(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Wrap an app's ``openapi`` method (``app.openapi = tidy_openapi(app.openapi)``) so the
    document served and the one checked into ``docs/openapi`` are the tidied one."""

    def openapi() -> dict[str, Any]:
        return optional_parameters_are_not_null(build())

    return openapi
