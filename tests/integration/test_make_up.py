"""``make up`` (``python -m switchboard_sim.up``), as a newcomer runs it and as a terminal
stops it: configured as the README's "Running for real" says, it refuses placeholder
secrets, makes its own tokens once, takes a call for a business added through the admin API,
and stops on Ctrl-C (SIGINT to the whole process group) within 3 s, with status 0 and no
traceback. Two stacks run side by side without a port set."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from switchboard_sim.call import CallConfig, CallSimulator, Scenario
from switchboard_sim.stack import free_port

from .conftest import SAMPLES, SCENARIO

pytestmark = pytest.mark.timeout(240)

TWILIO_TOKEN = "up-test-auth-token"
PUBLIC = "https://up.switchboard.test"  # the tunnel Twilio would reach; calls go direct
#: What Ctrl-C may take, from the signal to the exit.
CTRL_C_S = 3.0


@dataclass
class Up:
    """One ``make up`` in its own process group, as a terminal runs it."""

    proc: asyncio.subprocess.Process
    data: Path
    seen: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.seen)

    async def line_with(self, text: str, timeout_s: float = 90) -> str:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                assert line, f"make up exited before printing {text!r}:\n{self.output}"
                self.seen.append(line)
                if text in line:
                    return line

    def printed(self, pattern: str) -> str:
        found = re.search(pattern, self.output)
        assert found, f"{pattern!r} not in:\n{self.output}"
        return found.group(1)

    async def ctrl_c(self, twice_after: str | None = None) -> float:
        """SIGINT to the group (a second one once ``twice_after`` is printed); the seconds
        from the first signal to the exit, which must be clean."""
        assert self.proc.stdout is not None
        start = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        if twice_after is not None:
            await self.line_with(twice_after, CTRL_C_S)
            os.killpg(self.proc.pid, signal.SIGINT)
        async with asyncio.timeout(30):
            self.seen.append((await self.proc.stdout.read()).decode())
            code = await self.proc.wait()
        elapsed = time.monotonic() - start
        assert code == 0, self.output
        assert "Traceback" not in self.output, self.output
        return elapsed


def _env(data: Path, **extra: str) -> dict[str, str]:
    """The caller's environment, minus what the test decides: no OpenAI (offline), no ports,
    no mode (the tests' own SWITCHBOARD_ENV=development is not inherited)."""
    decided = ("OPENAI_", "SWITCHBOARD_", "GATEWAY_", "KNOWLEDGE_", "PORT", "PUBLIC_BASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(decided)}
    return env | {"SWITCHBOARD_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1", **extra}


@asynccontextmanager
async def make_up(cwd: Path, env: dict[str, str]) -> AsyncIterator[Up]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard_sim.up",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    up = Up(proc, Path(env["SWITCHBOARD_DATA_DIR"]))
    try:
        yield up
    finally:
        if proc.returncode is None:  # a failed test: stop it all the same
            os.killpg(proc.pid, signal.SIGINT)
            async with asyncio.timeout(30):
                await proc.communicate()


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


async def _logged(log: Path, needle: str, timeout_s: float = 15) -> None:
    """Until a service logged ``needle``: its log is the only view of its live directory."""
    async with asyncio.timeout(timeout_s):
        while needle not in _text(log):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_running_for_real_offline_from_nothing_to_a_call_on_your_own_number(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    port = free_port()
    env = _env(data, PUBLIC_BASE_URL=PUBLIC, TWILIO_AUTH_TOKEN=TWILIO_TOKEN)
    env["GATEWAY_PORT"] = str(port)
    local = f"http://127.0.0.1:{port}"
    async with make_up(tmp_path, env) as up:
        await up.line_with("Ctrl-C to stop")
        assert "mode: production" in up.output
        assert f"Twilio voice webhook: {PUBLIC}/twilio/voice" in up.output
        assert f"console: {local}/console" in up.output
        admin_token = up.printed(r"GATEWAY_ADMIN_TOKEN=(\S+)")
        knowledge_token = up.printed(r"KNOWLEDGE_ADMIN_TOKEN=(\S+)")
        knowledge_url = up.printed(r"knowledge API \(uploads\) on (\S+)")
        assert len(admin_token) >= 40 and len(knowledge_token) >= 40

        # The tokens are kept owner-only, and are the ones printed.
        secrets_file = data / "secrets.env"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        kept = secrets_file.read_text()
        assert f"GATEWAY_ADMIN_TOKEN={admin_token}\n" in kept
        assert f"KNOWLEDGE_ADMIN_TOKEN={knowledge_token}\n" in kept

        business = {
            "business_id": "corner-cafe",
            "name": "Corner Cafe",
            "phone_numbers": ["+15550177"],
            "greeting": "Corner Cafe, how can I help?",
        }
        async with httpx.AsyncClient(base_url=local, timeout=10) as http:
            console = await http.get("/console/login")  # the printed console URL is real
            assert console.status_code == 200, console.text
            placeholder = {"Authorization": "Bearer dev-admin-token"}
            refused = await http.post("/admin/businesses", json=business, headers=placeholder)
            assert refused.status_code == 401
            bearer = {"Authorization": f"Bearer {admin_token}"}
            created = await http.post("/admin/businesses", json=business, headers=bearer)
            assert created.status_code == 201, created.text
        revision = created.json()["revision"]
        for service in ("gateway-1", "agent-1"):
            await _logged(data / f"{service}.log", f"business corner-cafe at revision {revision}")

        document = (SAMPLES / "knowledge" / "bellas-bistro.md").read_bytes()
        async with httpx.AsyncClient(base_url=knowledge_url, timeout=30) as http:
            bearer = {"Authorization": f"Bearer {knowledge_token}"}
            uploaded = await http.post(
                "/businesses/corner-cafe/documents",
                files={"file": ("faq.md", document)},
                headers=bearer,
            )
            assert uploaded.status_code == 200, uploaded.text

        config = CallConfig(
            gateway_url=local,
            public_base_url=PUBLIC,
            auth_token=TWILIO_TOKEN,
            to_number="+15550177",
        )
        config.max_call_s = 90.0
        result = await CallSimulator(config).run(Scenario.load(SCENARIO))
        assert result.ok, result.summary()
        await up.line_with(f"[corner-cafe/{config.call_sid}] agent: {business['greeting']}", 30)

        assert await up.ctrl_c() <= CTRL_C_S, up.output

    # The second run uses the tokens kept, and shows them no more.
    async with make_up(tmp_path, env) as again:
        await again.line_with("Ctrl-C to stop")
        assert admin_token not in again.output and knowledge_token not in again.output
        assert f"secrets: in the environment or {secrets_file}" in again.output
        assert secrets_file.read_text() == kept
        async with httpx.AsyncClient(base_url=local, timeout=10) as http:
            bearer = {"Authorization": f"Bearer {admin_token}"}
            listed = await http.get("/admin/businesses", headers=bearer)
            assert listed.status_code == 200, listed.text
            assert "corner-cafe" in listed.text
        assert await again.ctrl_c() <= CTRL_C_S, again.output


async def test_a_public_url_without_a_twilio_token_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with make_up(tmp_path, _env(data, PUBLIC_BASE_URL=PUBLIC)) as up:
        assert up.proc.stdout is not None
        async with asyncio.timeout(30):
            out = (await up.proc.stdout.read()).decode()
            code = await up.proc.wait()
    assert code != 0
    assert "could not start: TWILIO_AUTH_TOKEN must be set" in out
    assert "Traceback" not in out
    assert not (data / "secrets.env").exists()


async def test_two_stacks_side_by_side_and_a_second_ctrl_c_stops_a_call_at_once(
    tmp_path: Path,
) -> None:
    """No port set: two development stacks (their own data folders) share the machine. A
    Ctrl-C during a call drains; the second one ends it at once."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    dev = {"SWITCHBOARD_ENV": "development", "PUBLIC_BASE_URL": PUBLIC}  # explicitly
    env_a = _env(tmp_path / "a" / ".switchboard", **dev)
    env_b = _env(tmp_path / "b" / ".switchboard", **dev)
    async with make_up(tmp_path / "a", env_a) as a:
        await a.line_with("Ctrl-C to stop")
        async with make_up(tmp_path / "b", env_b) as b:
            await b.line_with("Ctrl-C to stop")
            urls = {
                up.printed(pattern)
                for up in (a, b)
                for pattern in (
                    r"gateway listening on (\S+)",
                    r"knowledge API \(uploads\) on (\S+)",
                )
            }
            assert len(urls) == 4, a.output + b.output
            assert "mode: development" in a.output

            gateway_a = a.printed(r"gateway listening on (\S+)")
            config = CallConfig(
                gateway_url=gateway_a, public_base_url=PUBLIC, auth_token="dev-auth-token"
            )
            config.max_call_s = 60.0
            call = asyncio.create_task(CallSimulator(config).run(Scenario.load(SCENARIO)))
            talking = asyncio.create_task(a.line_with(f"/{config.call_sid}] caller:", 60))
            await asyncio.wait({call, talking}, return_when=asyncio.FIRST_COMPLETED)
            assert talking.done(), (await call).summary()
            talking.result()
            assert await a.ctrl_c(twice_after="stopping") <= CTRL_C_S, a.output
            result = await asyncio.wait_for(call, 30)
            assert result.closed_by != "caller", result.summary()  # cut short by the stop

            async with httpx.AsyncClient(timeout=5) as http:
                health = await http.get(b.printed(r"gateway listening on (\S+)") + "/healthz")
                assert health.status_code == 200
            assert await b.ctrl_c() <= CTRL_C_S, b.output
