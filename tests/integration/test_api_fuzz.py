"""Every HTTP operation of the gateway and the knowledge service, fuzzed from its own OpenAPI
document (schemathesis) against the real processes.

Valid and invalid requests alike must get an answer the document declares, never a 5xx the
document does not list, and invalid ones must be refused with a 4xx. Twilio's webhooks are
signed as Twilio signs them, so the fuzzing reaches past the signature check. Generation is
derandomised: a failure here is the same failure on every run.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import Case, GenerationMode
from schemathesis.checks import positive_data_acceptance

from switchboard_sim.call import twilio_signature
from switchboard_sim.stack import LocalStack

pytestmark = pytest.mark.timeout(300)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi"
#: Per operation and generation mode; ``FUZZ_EXAMPLES=1000 pytest …`` digs deeper by hand.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))


@dataclass
class Target:
    base_url: str
    headers: dict[str, str]
    #: Adds what the real caller would (Twilio's signature) to a generated request.
    prepare: Callable[[Case], dict[str, str]]


@pytest.fixture(scope="module")
async def targets() -> AsyncIterator[dict[str, Target]]:
    async with LocalStack() as stack:
        await stack.start_nats()
        knowledge = await stack.start_knowledge()
        gateway = await stack.start_gateway(GATEWAY_ADMIN_TOKEN=stack.auth_token)
        bearer = {"Authorization": f"Bearer {stack.auth_token}"}

        def twilio_signs(case: Case) -> dict[str, str]:
            if not case.path.startswith("/twilio/"):
                return {}
            form = case.body if isinstance(case.body, dict) else {}
            params = {k: v for k, v in form.items() if isinstance(v, str)}
            url = stack.public_base_url + case.formatted_path
            return {"X-Twilio-Signature": twilio_signature(stack.auth_token, url, params)}

        yield {
            "knowledge": Target(knowledge.announced, bearer, lambda case: {}),
            "gateway": Target(gateway.announced, bearer, twilio_signs),
        }


def _operations(service: str) -> list[Any]:
    schema = schemathesis.openapi.from_dict(json.loads((DOCS / f"{service}.json").read_text()))
    return [result.ok() for result in schema.get_all_operations()]


def _modes(op: Any) -> list[GenerationMode]:
    """Valid requests always; invalid ones where there is something to get wrong."""
    has_input = any(True for _ in op.iter_parameters()) or len(op.body) > 0
    return [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if has_input else [])]


OPERATIONS = [
    pytest.param(service, op, mode, id=f"{service} {op.method.upper()} {op.path} {mode.value}")
    for service in ("gateway", "knowledge")
    for op in _operations(service)
    for mode in _modes(op)
]


#: Operations whose valid-looking requests may rightly be refused, and why the schema cannot
#: say so: their refusals are still checked against the document, like every answer.
SCHEMA_CANNOT_SAY = {
    # The file's type comes from its name or its part's Content-Type: an unknown one is a 415.
    ("post", "/businesses/{business_id}/documents"),
    # A business's time zone must be one the IANA database knows, and its numbers unique and
    # other than its transfer number: rules across values that JSON Schema does not express.
    ("post", "/admin/businesses"),
    ("put", "/admin/businesses/{business_id}"),
}


def _fuzz(op: Any, mode: GenerationMode, target: Target) -> None:
    excluded = [positive_data_acceptance] if (op.method, op.path) in SCHEMA_CANNOT_SAY else []

    @hypothesis.settings(
        max_examples=EXAMPLES, phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate]
    )
    @hypothesis.given(case=op.as_strategy(generation_mode=mode))
    def check(case: Case) -> None:
        headers = {**target.headers, **target.prepare(case)}
        case.call_and_validate(
            base_url=target.base_url, headers=headers, excluded_checks=excluded, timeout=30
        )

    check()


@pytest.mark.parametrize(("service", "op", "mode"), OPERATIONS)
async def test_every_answer_is_one_the_document_declares(
    targets: dict[str, Target], service: str, op: Any, mode: GenerationMode
) -> None:
    # In a thread: the stack's log readers keep running on this loop while requests are made.
    await asyncio.to_thread(_fuzz, op, mode, targets[service])
