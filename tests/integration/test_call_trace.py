"""One call is one trace across the real processes: the gateway starts it, the agent and the
knowledge service continue it through NATS headers. Each service exports its spans to its
own output (``OTEL_TRACES_EXPORTER=console``), read back from the process logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.demo import seed_knowledge
from switchboard_sim.stack import LocalStack

from .conftest import REALTIME_SCRIPT, SAMPLES, SCENARIO, RunningStack

pytestmark = pytest.mark.timeout(120)

TRACING = {"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "100"}


def _spans(log: Path) -> list[dict[str, Any]]:
    """The spans a console exporter printed: each a multi-line JSON object from "{" to "}"."""
    spans: list[dict[str, Any]] = []
    block: list[str] | None = None
    for line in log.read_text(errors="replace").splitlines():
        if line == "{":
            block = [line]
        elif block is not None:
            block.append(line)
            if line == "}":
                spans.append(json.loads("\n".join(block)))
                block = None
    return spans


async def test_one_call_is_one_trace_across_gateway_agent_and_knowledge() -> None:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        knowledge = await stack.start_knowledge("kn-trace", **TRACING)
        await seed_knowledge(stack.nats_url, SAMPLES / "knowledge")
        agent = await stack.start_agent("ag-trace", **TRACING)
        gateway = await stack.start_gateway("gw-trace", **TRACING)
        result = await CallSimulator(RunningStack(stack, gateway).call_config()).run(
            Scenario.load(SCENARIO)
        )
        assert result.ok, result.summary()
        await stack.stop()  # SIGTERM: each process flushes its spans on the way out

        by_service = {
            name: _spans(child.log_path)
            for name, child in (("gateway", gateway), ("agent", agent), ("knowledge", knowledge))
        }
    offer = next(s for s in by_service["gateway"] if s["name"] == "call.offer")
    trace_id = offer["context"]["trace_id"]
    assert offer["parent_id"] is None  # the call's trace begins at the voice webhook

    def in_trace(service: str, name: str) -> list[dict[str, Any]]:
        return [
            s
            for s in by_service[service]
            if s["name"] == name and s["context"]["trace_id"] == trace_id
        ]

    assert in_trace("gateway", "gateway.media_stream")
    (call_span,) = in_trace("agent", "agent.call")
    assert in_trace("agent", "agent.turn")
    (tool_span,) = in_trace("agent", "agent.tool query_knowledge_base")
    assert tool_span["parent_id"] == call_span["context"]["span_id"]
    (query_span,) = in_trace("knowledge", "knowledge.query")
    assert query_span["parent_id"] == tool_span["context"]["span_id"]
    assert query_span["attributes"]["business.id"] == "bellas-bistro"
