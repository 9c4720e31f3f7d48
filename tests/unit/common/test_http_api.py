"""What the HTTP APIs share: declared error answers, and optional parameters that are left
out rather than null."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header, Query

from switchboard_common.http_api import Problem, problems, tidy_openapi


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}", responses=problems(404, s404="No such thing"))
    async def thing(
        thing_id: str,
        if_match: Annotated[str | None, Header(alias="If-Match", pattern=r"^\d+$")] = None,
        page: Annotated[int | None, Query()] = None,
        sort: Annotated[str, Query()] = "name",
    ) -> dict[str, str]:
        return {}

    app.openapi = tidy_openapi(app.openapi)  # type: ignore[method-assign]
    return app


def test_optional_parameters_lose_their_null_and_keep_their_constraints() -> None:
    operation = _app().openapi()["paths"]["/things/{thing_id}"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["If-Match"]["schema"]["type"] == "string"
    assert params["If-Match"]["schema"]["pattern"] == r"^\d+$"
    assert "anyOf" not in params["If-Match"]["schema"]
    assert params["page"]["schema"]["type"] == "integer"
    assert params["sort"]["schema"] == {"type": "string", "default": "name", "title": "Sort"}
    assert params["thing_id"]["required"] is True


def test_declared_problems_carry_the_problem_body() -> None:
    document = _app().openapi()
    answer = document["paths"]["/things/{thing_id}"]["get"]["responses"]["404"]
    assert answer["description"] == "No such thing"
    schema_ref = answer["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("/Problem")
    assert set(document["components"]["schemas"]["Problem"]["properties"]) == set(
        Problem.model_fields
    )
