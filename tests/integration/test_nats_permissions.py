"""NATS permissions, as the real nats-server applies them: every service may publish and
subscribe where the catalog says it works, and is refused everywhere else."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.aio.subscription import Subscription

from switchboard_common import subjects
from switchboard_common.bus import flush_published
from switchboard_common.business_store import open_directory
from switchboard_common.catalog import CATALOG, Channel, Service
from switchboard_common.nats_auth import inbox_prefix
from switchboard_sim.stack import LocalStack, free_port, nats_server_binary

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]

SERVICES = [Service.GATEWAY, Service.AGENT, Service.KNOWLEDGE, Service.ADMIN, Service.CONSUMER]


@dataclass
class Identity:
    """One connection as one NATS user, with the errors the server sent it."""

    nc: Client
    errors: asyncio.Queue[Exception] = field(default_factory=asyncio.Queue)

    async def violation(self) -> str:
        """The next permissions violation the server reported (bounded wait)."""
        async with asyncio.timeout(5):
            while True:
                error = str(await self.errors.get())
                if "permissions violation" in error.lower():
                    return error


@dataclass
class Bus:
    stack: LocalStack
    harness: Client
    #: The harness's one subscription to every subject. (Re-subscribing to a subject right
    #: after unsubscribing from it was seen to miss messages, so the tests never do.)
    everything: Subscription

    async def as_user(self, user: str) -> Identity:
        errors: asyncio.Queue[Exception] = asyncio.Queue()

        async def on_error(exc: Exception) -> None:
            errors.put_nowait(exc)

        nc = await nats.connect(
            self.stack.nats_url_for(user),
            inbox_prefix=inbox_prefix(user),
            error_cb=on_error,
            allow_reconnect=False,
        )
        return Identity(nc, errors)


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    async with LocalStack(check_permissions=False) as stack:  # this test breaks them
        await stack.start_nats()
        harness = await nats.connect(stack.nats_url)
        everything = await harness.subscribe(">")
        await flush_published(harness)
        try:
            yield Bus(stack, harness, everything)
        finally:
            await harness.close()


def _example(channel: Channel) -> str:
    return channel.subject(**{p.name: f"x{p.name.replace('_', '')}" for p in channel.parameters})


async def _delivered(bus: Bus, who: Identity, subject: str) -> bool:
    """Publish ``subject`` as ``who``. After ``who``'s flush the server has routed it (its
    PONG follows the PUB: see :func:`flush_published`), and after the harness's flush it has
    reached the harness's subscription on everything: no waiting on time."""
    await who.nc.publish(subject, b"probe")
    await flush_published(who.nc)
    await bus.harness.flush()
    seen = []
    while bus.everything.pending_msgs:
        seen.append((await bus.everything.next_msg(timeout=1)).subject)
    return subject in seen


@pytest.mark.parametrize("service", SERVICES, ids=str)
async def test_each_service_publishes_only_on_its_own_channels(bus: Bus, service: Service) -> None:
    who = await bus.as_user(service.value)
    try:
        for channel in CATALOG.channels:
            subject = _example(channel)
            delivered = await _delivered(bus, who, subject)
            assert delivered == (service in channel.publishers), (service, channel.id)
            if not delivered:
                assert subject in await who.violation()
    finally:
        await who.nc.close()


async def test_a_gateway_cannot_speak_for_the_agent(bus: Bus) -> None:
    """The case that matters most: a compromised gateway cannot inject agent audio or
    commands into a call, nor read other services' replies."""
    gateway = await bus.as_user("gateway")
    try:
        forbidden = subjects.agent_audio("CA" + "1" * 32)
        assert not await _delivered(bus, gateway, forbidden)
        assert "publish" in (await gateway.violation()).lower()

        await gateway.nc.subscribe(f"{inbox_prefix('agent')}.>")
        await gateway.nc.flush()
        assert "subscription" in (await gateway.violation()).lower()
    finally:
        await gateway.nc.close()


@pytest.mark.parametrize("service", SERVICES, ids=str)
async def test_each_service_subscribes_where_it_listens(bus: Bus, service: Service) -> None:
    who = await bus.as_user(service.value)
    try:
        for channel in CATALOG.channels:
            if channel.stream is not None:
                continue  # stored channels are read through JetStream consumers
            await who.nc.subscribe(channel.wildcard)
            await flush_published(who.nc)
            if service in channel.subscribers:
                assert who.errors.empty(), (service, channel.id, who.errors.get_nowait())
            else:
                assert channel.wildcard in await who.violation(), (service, channel.id)
    finally:
        await who.nc.close()


async def test_the_compose_config_loads_and_admits_each_user(tmp_path: Path) -> None:
    """deploy/nats/nats.conf with its generated auth.conf, in the real server: each user
    connects with the password from the server's environment and keeps its permissions."""
    conf_dir = tmp_path / "nats"
    shutil.copytree(ROOT / "deploy" / "nats", conf_dir)
    conf = conf_dir / "nats.conf"  # the container's paths and ports, made local
    text = conf.read_text().replace("store_dir: /data", f"store_dir: {tmp_path / 'js'}")
    conf.write_text(re.sub(r"(?m)^http: .*$", "", text))
    port = free_port()
    env = {**os.environ, **{f"NATS_{s.value.upper()}_PASSWORD": f"pw-{s.value}" for s in Service}}
    argv = [nats_server_binary(), "-c", str(conf), "-a", "127.0.0.1", "-p", str(port)]
    server = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert server.stderr is not None
        async with asyncio.timeout(10):
            while b"Server is ready" not in (line := await server.stderr.readline()):
                assert line, "nats-server exited: the config does not load"
        gateway = await nats.connect(
            f"nats://gateway:pw-gateway@127.0.0.1:{port}", inbox_prefix=inbox_prefix("gateway")
        )
        try:
            await gateway.publish(subjects.caller_audio("CA" + "2" * 32), b"ok")
            await gateway.flush()
        finally:
            await gateway.close()
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(
                f"nats://gateway:wrong@127.0.0.1:{port}", allow_reconnect=False, connect_timeout=2
            )
    finally:
        server.terminate()
        await server.wait()


async def test_the_cli_works_as_admin_and_is_refused_as_a_consumer() -> None:
    """Operator tooling connects as `admin` with its own inbox; a consumer's credentials
    cannot read the businesses."""
    async with LocalStack() as stack:
        await stack.start_nats()
        seeded = await nats.connect(stack.nats_url)
        try:
            await (await open_directory(seeded, seed_demo=True)).close()
        finally:
            await seeded.close()

        async def cli(user: str) -> tuple[int, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "switchboard_common.cli",
                "businesses",
                "list",
                env={**os.environ, "NATS_URL": stack.nats_url_for(user), "NATS_USER": ""},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode or 0, (out + err).decode()

        code, output = await cli("admin")
        assert code == 0, output
        assert '"bellas-bistro"' in output
        code, output = await cli("consumer")
        assert code == 3, output  # UNAVAILABLE: the bucket is not the consumer's to read
        assert stack.nats_passwords["consumer"] not in output  # never print a secret
