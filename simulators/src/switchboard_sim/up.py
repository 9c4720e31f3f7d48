"""``make up``: the stack in the foreground, for a real Twilio number.

Starts nats-server (JetStream, data kept in the data folder), the knowledge service, one agent
and the gateway, then prints every transcript line as calls happen, until Ctrl-C. Configure
with:

* ``PUBLIC_BASE_URL`` — the https URL Twilio reaches the gateway at (a tunnel or ingress);
  set the number's voice webhook to ``$PUBLIC_BASE_URL/twilio/voice`` (HTTP POST). A public
  URL makes the stack a production one (below).
* ``TWILIO_AUTH_TOKEN`` — to check Twilio's signatures (required in production).
* ``OPENAI_API_KEY`` (and optionally ``OPENAI_BASE_URL``) — without a key the Realtime
  simulator stands in, so the stack also runs offline with the call simulator.
* ``GATEWAY_HOST`` / ``GATEWAY_PORT`` (or ``PORT``) — where the gateway listens
  (127.0.0.1:8080, or a free port when 8080 is taken and no port was asked for).
* ``KNOWLEDGE_PORT`` — the knowledge API's port (a free one by default).
* ``SWITCHBOARD_DATA_DIR`` — the data folder (``.switchboard``): JetStream, documents, logs
  and the generated secrets. Two stacks on one machine need two folders.
* ``SWITCHBOARD_ENV`` — ``development`` or ``production``. Unset, it is production when
  ``PUBLIC_BASE_URL`` is public or the gateway listens beyond loopback, and development
  otherwise (a stack only this machine reaches).

In production, missing or placeholder secrets are refused. ``GATEWAY_ADMIN_TOKEN`` and
``KNOWLEDGE_ADMIN_TOKEN``, unless set, are generated on the first run, kept in the data folder
(``secrets.env``, owner-only) and printed that once, with the console's URL.

Ctrl-C (the terminal signals the whole process group) reaches this process alone: every child
runs in its own session. The services drain, calls in progress get
``SWITCHBOARD_DRAIN_TIMEOUT_S`` (2 s here), and nats-server stops last, so that their bus
connections close cleanly. A second Ctrl-C stops them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from nats.aio.client import Client
from nats.aio.msg import Msg

from switchboard_common import bus, subjects
from switchboard_common.messages import TranscriptEvent, call_event_adapter
from switchboard_common.runtime import run
from switchboard_common.settings import DEVELOPMENT, NatsSettings, is_placeholder

from .stack import LocalStack, StackError, free_port
from .up_secrets import (
    SECRETS_FILE,
    SecretsError,
    StackSecrets,
    load_or_create,
    owner_only_folder,
)

#: Where the operator console is served, under the gateway's URL (issue 13: the console is
#: part of the gateway's app). Printed with the tokens to sign in with.
CONSOLE_PATH = "/console"
#: The mode of a stack others can reach, unless ``SWITCHBOARD_ENV`` says otherwise.
PRODUCTION = "production"
#: The gateway's port when none is asked for (and it is free).
DEFAULT_GATEWAY_PORT = 8080
#: How long calls in progress may go on after the first Ctrl-C, unless
#: ``SWITCHBOARD_DRAIN_TIMEOUT_S`` says otherwise.
DRAIN_S = 2.0
#: Beyond the drain, how long a service may take to close before it is killed.
CLOSE_S = 3.0
#: Development's well-known tokens (refused in production).
DEV_TOKENS = {
    "TWILIO_AUTH_TOKEN": "dev-auth-token",
    "GATEWAY_ADMIN_TOKEN": "dev-admin-token",
    "KNOWLEDGE_ADMIN_TOKEN": "dev-knowledge-token",
}


def is_public(url: str) -> bool:
    """Whether ``url`` names a host others reach (not localhost, not a loopback address)."""
    host = urlsplit(url).hostname or ""
    return bool(host) and not _is_loopback(host)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def stack_environment(env: Mapping[str, str]) -> str:
    """``SWITCHBOARD_ENV`` if set; otherwise development only for a stack no one else reaches
    (no public ``PUBLIC_BASE_URL``, the gateway on a loopback address), production else."""
    if given := env.get("SWITCHBOARD_ENV"):
        return given
    if is_public(env.get("PUBLIC_BASE_URL", "")):
        return PRODUCTION
    return DEVELOPMENT if _is_loopback(env.get("GATEWAY_HOST", "127.0.0.1")) else PRODUCTION


def gateway_port(env: Mapping[str, str], host: str) -> int:
    """``GATEWAY_PORT``, else ``PORT``, else 8080 if it is free, else a free port."""
    if given := env.get("GATEWAY_PORT") or env.get("PORT"):
        return int(given)
    with socket.socket() as probe:
        try:
            probe.bind((host, DEFAULT_GATEWAY_PORT))
        except OSError:
            return free_port()
    return DEFAULT_GATEWAY_PORT


def service_secrets(env: Mapping[str, str], workdir: Path, environment: str) -> StackSecrets:
    """The tokens the services get. Development takes the environment's or the well-known
    placeholders; production refuses placeholders and generates the admin tokens it lacks."""
    path = workdir / SECRETS_FILE
    if environment == DEVELOPMENT:
        return StackSecrets(path, {name: env.get(name) or dev for name, dev in DEV_TOKENS.items()})
    if is_placeholder(env.get("TWILIO_AUTH_TOKEN")):
        raise SecretsError(
            f"TWILIO_AUTH_TOKEN must be set (your Twilio account's auth token): the stack is "
            f"{environment!r} (others can reach it), where placeholders are refused"
        )
    given = {name: env[name] for name in DEV_TOKENS if env.get(name)}
    for name, value in given.items():
        if is_placeholder(value):
            raise SecretsError(f"{name} is a placeholder: unset it to have one generated")
    wanted = tuple(name for name in DEV_TOKENS if name not in given)
    kept = load_or_create(workdir, wanted)
    return StackSecrets(kept.path, kept.values | given, kept.created)


class Stopping:
    """The stop signals: the first asks for a drain, the next one for now."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.now = asyncio.Event()

    def install(self) -> Stopping:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self.signal)
        return self

    def signal(self) -> None:
        (self.now if self.requested.is_set() else self.requested).set()


async def _start(
    stack: LocalStack, env: Mapping[str, str], tokens: StackSecrets, port: int
) -> Client:
    """Everything up, the addresses printed; returns the connection printing transcripts
    (closed here if the start does not finish: a Ctrl-C during it cancels it)."""
    await stack.start_nats()
    nc = await bus.connect(NatsSettings(url=stack.nats_url), "make-up", "up")
    try:
        await nc.subscribe(subjects.TRANSCRIPTS, cb=_show)
        await _start_services(stack, env, tokens, port)
    except BaseException:
        await bus.close(nc, CLOSE_S)
        raise
    return nc


async def _show(msg: Msg) -> None:
    with contextlib.suppress(ValueError):
        event = call_event_adapter.validate_json(msg.data)
        if isinstance(event, TranscriptEvent):
            print(f"[{event.business_id}/{event.call_id}] {event.speaker}: {event.text}")
        else:
            print(f"[{event.business_id}/{event.call_id}] tool {event.name} ok={event.ok}")


async def _start_services(
    stack: LocalStack, env: Mapping[str, str], tokens: StackSecrets, port: int
) -> None:
    if env.get("OPENAI_API_KEY"):
        stack.realtime_url = env.get("OPENAI_BASE_URL", "")
        print("model: OpenAI Realtime")
    else:
        await stack.start_realtime_sim()
        print(f"model: Realtime simulator at {stack.realtime_url} (no OPENAI_API_KEY)")
    drain = {"SWITCHBOARD_DRAIN_TIMEOUT_S": env.get("SWITCHBOARD_DRAIN_TIMEOUT_S", str(DRAIN_S))}
    knowledge_token = tokens.values["KNOWLEDGE_ADMIN_TOKEN"]
    knowledge = await stack.start_knowledge(
        "knowledge-1",
        KNOWLEDGE_DATA_DIR=str(stack.workdir / "knowledge"),  # kept across runs
        KNOWLEDGE_PORT=env.get("KNOWLEDGE_PORT", "0"),
        KNOWLEDGE_ADMIN_TOKEN=knowledge_token,
        **drain,
    )
    openai_env = {k: env[k] for k in ("OPENAI_API_KEY",) if k in env}
    await stack.start_agent("agent-1", **openai_env, **drain)
    gateway = await stack.start_gateway(
        "gateway-1",
        GATEWAY_HOST=env.get("GATEWAY_HOST", "127.0.0.1"),
        GATEWAY_PORT=str(port),
        GATEWAY_ADMIN_TOKEN=tokens.values["GATEWAY_ADMIN_TOKEN"],
        GATEWAY_KNOWLEDGE_URL=knowledge.announced,  # the console's uploads go there
        KNOWLEDGE_ADMIN_TOKEN=knowledge_token,
        **drain,
    )
    print(f"mode: {stack.environment}")
    print(f"gateway listening on {gateway.announced}")
    print(f"Twilio voice webhook: {stack.public_base_url}/twilio/voice (HTTP POST)")
    print(f"console: {gateway.announced}{CONSOLE_PATH} (sign in with GATEWAY_ADMIN_TOKEN)")
    print(f"knowledge API (uploads) on {knowledge.announced}")
    if tokens.created:
        print(f"secrets made now, shown this once, kept in {tokens.path} (owner only):")
        for name in tokens.created:
            print(f"  {name}={tokens.values[name]}")
    elif stack.environment != DEVELOPMENT:
        print(f"secrets: in the environment or {tokens.path}")
    print(f"NATS for the CLI (user admin): NATS_URL={stack.nats_url_for('admin')}")
    print(f"logs: {stack.workdir}/*.log — Ctrl-C to stop\n", flush=True)


async def _serve(workdir: Path, env: Mapping[str, str]) -> int:
    stopping = Stopping().install()
    environment = stack_environment(env)
    tokens = service_secrets(env, workdir, environment)
    host = env.get("GATEWAY_HOST", "127.0.0.1")
    port = gateway_port(env, host)
    stack = LocalStack(
        workdir=workdir,
        auth_token=tokens.values["TWILIO_AUTH_TOKEN"],
        public_base_url=env.get("PUBLIC_BASE_URL") or f"http://{host}:{port}",
        own_sessions=True,
        environment=environment,
    )
    async with stack:
        starting = asyncio.create_task(_start(stack, env, tokens, port))
        asked = asyncio.create_task(stopping.requested.wait())
        await asyncio.wait({starting, asked}, return_when=asyncio.FIRST_COMPLETED)
        asked.cancel()
        nc: Client | None = None
        if starting.done():
            nc = starting.result()  # a StackError stops here
            await stopping.requested.wait()
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, StackError):
                await starting
        print("stopping… (Ctrl-C again: at once)", flush=True)
        if nc is not None:
            await bus.close(nc, CLOSE_S)
        drain_s = float(env.get("SWITCHBOARD_DRAIN_TIMEOUT_S", DRAIN_S))
        await stack.drain_services(stopping.now, drain_s + CLOSE_S)
    print("stopped")
    return 0


def main() -> None:
    env = dict(os.environ)
    workdir = owner_only_folder(Path(env.get("SWITCHBOARD_DATA_DIR", ".switchboard")).resolve())
    try:
        raise SystemExit(run(_serve(workdir, env)))
    except (StackError, SecretsError) as exc:
        raise SystemExit(f"could not start: {exc}") from None
    except KeyboardInterrupt:  # before the signal handlers were in place: nothing to stop
        raise SystemExit(0) from None


if __name__ == "__main__":
    main()
