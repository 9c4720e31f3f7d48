"""``python -m switchboard_common.cli businesses …`` as a process against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from switchboard_common.business import DEMO_BUSINESS

pytestmark = pytest.mark.timeout(90)

ACME: dict[str, Any] = {"business_id": "acme", "name": "Acme", "phone_numbers": ["+14155550100"]}


async def cli(nats_url: str, *args: str) -> tuple[int, Any, str]:
    """Exit status, stdout as JSON (None when empty) and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard_common.cli",
        "businesses",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NATS_URL": nats_url},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, json.loads(out) if out.strip() else None, err.decode()


def _write(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value))
    return str(path)


async def test_round_trip(businesses_nc: Client, bus_url: str, tmp_path: Path) -> None:
    url = bus_url
    code, stored, _ = await cli(url, "put", _write(tmp_path / "acme.json", ACME))
    assert code == 0 and stored["business"]["business_id"] == "acme" and stored["revision"] > 0

    # A list of businesses, as SWITCHBOARD_BUSINESSES_FILE holds them.
    code, stored_many, _ = await cli(
        url, "put", _write(tmp_path / "many.json", [DEMO_BUSINESS.model_dump(mode="json")])
    )
    assert code == 0 and [d["business"]["business_id"] for d in stored_many] == ["bellas-bistro"]

    code, listed, _ = await cli(url, "list")
    assert code == 0 and [d["business"]["business_id"] for d in listed] == ["acme", "bellas-bistro"]

    # get → edit → put: the document carries its revision, so a stale edit is refused.
    code, document, _ = await cli(url, "get", "acme")
    assert code == 0 and document == stored
    document["business"]["greeting"] = "Acme speaking."
    edited = _write(tmp_path / "edited.json", document)
    code, updated, _ = await cli(url, "put", edited)
    assert code == 0 and updated["business"]["greeting"] == "Acme speaking."
    code, _, err = await cli(url, "put", edited)
    assert code == 4 and "expected revision" in err
    code, _, err = await cli(url, "put", str(tmp_path / "acme.json"), "--revision", "0")
    assert code == 4 and "already exists" in err

    code, deleted, _ = await cli(url, "delete", "acme", "--revision", str(updated["revision"]))
    assert code == 0 and deleted == {"deleted": "acme"}
    code, _, err = await cli(url, "get", "acme")
    assert code == 1 and "no business 'acme'" in err


async def test_errors_have_clear_messages_and_exit_statuses(
    businesses_nc: Client, bus_url: str, tmp_path: Path
) -> None:
    url = bus_url
    assert (await cli(url, "put", _write(tmp_path / "acme.json", ACME)))[0] == 0

    thief = ACME | {"business_id": "thief"}
    code, _, err = await cli(url, "put", _write(tmp_path / "thief.json", thief))
    assert code == 4 and "+14155550100 already belongs to business 'acme'" in err

    invalid = ACME | {"phone_numbers": ["555 0100"], "temperature": 9}
    code, _, err = await cli(url, "put", _write(tmp_path / "invalid.json", invalid))
    assert code == 2
    assert "phone_numbers.0" in err and "E.164" in err and "temperature" in err

    (tmp_path / "broken.json").write_text("{not json")
    code, _, err = await cli(url, "put", str(tmp_path / "broken.json"))
    assert code == 2 and "not JSON" in err
    code, _, err = await cli(url, "put", str(tmp_path / "missing.json"))
    assert code == 2 and "no such file" in err
    code, _, err = await cli(url, "delete", "nobody")
    assert code == 1 and "no business 'nobody'" in err

    code, _, err = await cli(url, "list", "--nats-url", "nats://127.0.0.1:1")
    assert code == 3 and "cannot reach NATS" in err
