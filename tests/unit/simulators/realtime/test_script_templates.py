"""How a Realtime script speaks a tool's answer."""

from __future__ import annotations

import json

from switchboard_sim.realtime.script import fill_template

OUTPUT = json.dumps({"results": [{"text": "We open at noon.", "score": 0.8}], "ok": True})


def test_fields_of_the_output_are_spoken() -> None:
    assert fill_template("{output.results.0.text} Anything else?", OUTPUT) == (
        "We open at noon. Anything else?"
    )


def test_missing_fields_and_non_json_outputs_render_empty() -> None:
    assert fill_template("[{output.results.3.text}]", OUTPUT) == "[]"
    assert fill_template("[{output.results.0.nope}]", OUTPUT) == "[]"
    assert fill_template("[{output.a}]", "plain text") == "[]"


def test_the_whole_output_is_rendered_short() -> None:
    assert fill_template("{output}", json.dumps({"status": "ok"})) == "status: ok"
