"""NATS users and their permissions, derived from the bus catalog.

Each service is one NATS user that may publish and subscribe only where :mod:`.catalog` says
its job needs: a channel's publishers may publish on it, its subscribers may subscribe to it
(and to the filters they use), a responder may answer requests (``allow_responses``), and
JetStream access is scoped to the streams and key-value buckets the service manages, reads
or writes. Replies come back on a per-user inbox prefix (``_INBOX.<user>``, see
:func:`inbox_prefix`), so no service can read another's replies.

The same derivation feeds the local stack (a generated ``nats-server`` config, used by the run
command and the tests) and the Helm values for Kubernetes
(``python -m switchboard_common.nats_auth``, checked for drift in tests).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .catalog import CATALOG, Catalog, Service
from .generated import run_cli

#: The users a deployment has: one per service, plus operator tooling and event consumers.
USERS: tuple[Service, ...] = tuple(Service)
#: The users our own processes run as.
SERVICE_USERS: tuple[Service, ...] = (Service.GATEWAY, Service.AGENT, Service.KNOWLEDGE)

HELM_VALUES = "deploy/k8s/helm/nats-auth-values.yaml"
COMPOSE_CONF = "deploy/nats/auth.conf"


def inbox_prefix(user: str | None) -> str:
    """Where a user's replies arrive: ``_INBOX.<user>`` (plain ``_INBOX`` without a user)."""
    return f"_INBOX.{user}" if user else "_INBOX"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    #: May publish to the reply subject of a request it received (once, within NATS's window).
    allow_responses: bool

    def as_config(self) -> dict[str, object]:
        """The ``permissions`` block of a nats-server user."""
        block: dict[str, object] = {
            "publish": {"allow": list(self.publish)},
            "subscribe": {"allow": list(self.subscribe)},
        }
        if self.allow_responses:
            block["allow_responses"] = True
        return block


def _stream_reader(stream: str) -> list[str]:
    """Read a stream through consumers (ordered, pull or push), direct gets and acks."""
    api = "$JS.API"
    return [
        f"{api}.STREAM.INFO.{stream}",
        f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"{api}.CONSUMER.INFO.{stream}.>",
        f"{api}.CONSUMER.DELETE.{stream}.>",
        f"{api}.CONSUMER.MSG.NEXT.{stream}.>",
        f"{api}.CONSUMER.NAMES.{stream}",
        f"{api}.CONSUMER.LIST.{stream}",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def _stream_manager(stream: str) -> list[str]:
    """Create or update the stream's configuration at start-up."""
    return [f"$JS.API.STREAM.CREATE.{stream}", f"$JS.API.STREAM.UPDATE.{stream}"]


def permissions_for(service: Service, catalog: Catalog = CATALOG) -> Permissions:
    """What ``service`` may do on the bus, from the catalog alone."""
    publish: list[str] = []
    subscribe: list[str] = [f"{inbox_prefix(service.value)}.>"]
    responds = False
    uses_jetstream = False
    for channel in catalog.channels:
        if service in channel.publishers:
            publish.append(channel.wildcard)
        if service in channel.subscribers:
            if channel.stream is None:  # stored channels are read through their stream
                subscribe.append(channel.wildcard)
                subscribe.extend(channel.filters)
            responds = responds or bool(channel.requests)
    for stream in catalog.streams:
        if service in stream.readers:
            publish.extend(_stream_reader(stream.name))
            uses_jetstream = True
        if service in stream.managers:
            publish.extend([*_stream_manager(stream.name), f"$JS.API.STREAM.INFO.{stream.name}"])
            uses_jetstream = True
    for bucket in catalog.kv_buckets:
        kv_stream = f"KV_{bucket.name}"
        if service in bucket.readers or service in bucket.writers:
            publish.extend(_stream_reader(kv_stream))
            uses_jetstream = True
        if service in bucket.writers:
            publish.append(bucket.subjects)
            publish.extend(_stream_manager(kv_stream))
    for micro in catalog.micro_services:
        if micro.served_by == service:
            subscribe.extend(micro.discovery_subjects)
            responds = True
    if service == Service.ADMIN:  # operator tooling discovers services
        publish.append("$SRV.>")
    if uses_jetstream:
        publish.append("$JS.API.INFO")
    return Permissions(
        publish=tuple(dict.fromkeys(publish)),
        subscribe=tuple(dict.fromkeys(subscribe)),
        allow_responses=responds,
    )


def users_config(
    passwords: Mapping[str, str], superusers: Sequence[str] = ()
) -> list[dict[str, object]]:
    """The ``authorization.users`` list: one user per service that has a password, plus
    ``superusers`` (unrestricted; the local harness only, never in a deployment)."""
    users: list[dict[str, object]] = []
    for service in USERS:
        if service.value in passwords:
            users.append(
                {
                    "user": service.value,
                    "password": passwords[service.value],
                    "permissions": permissions_for(service).as_config(),
                }
            )
    for name in superusers:
        users.append({"user": name, "password": passwords[name]})
    return users


@dataclass(frozen=True)
class ClusterNode:
    """One node's place in a nats-server cluster: its name (unique in the cluster; JetStream's
    replicas are placed by it), the port its routes listen on, and the other nodes' routes."""

    server_name: str
    cluster_name: str
    route_port: int
    routes: tuple[str, ...]

    def as_config(self, host: str) -> dict[str, object]:
        return {
            "server_name": self.server_name,
            "cluster": {
                "name": self.cluster_name,
                "host": host,
                "port": self.route_port,
                "routes": list(self.routes),
            },
        }


def server_config(
    *,
    host: str,
    port: int,
    store_dir: str,
    passwords: Mapping[str, str],
    superusers: Sequence[str] = (),
    cluster: ClusterNode | None = None,
    monitor_port: int | None = None,
) -> str:
    """A complete nats-server config (JSON is valid nats-server syntax) with JetStream; with
    ``cluster``, one node of a cluster (JetStream then replicates across the nodes), and with
    ``monitor_port``, the HTTP monitoring endpoints (``/varz``, ``/connz``, ``/jsz``)."""
    config: dict[str, object] = {
        "host": host,
        "port": port,
        "jetstream": {"store_dir": store_dir},
        "authorization": {"users": users_config(passwords, superusers)},
    }
    if cluster is not None:
        config.update(cluster.as_config(host))
    if monitor_port is not None:
        config["http"] = f"{host}:{monitor_port}"
    return json.dumps(config, indent=2)


def helm_values() -> str:
    """The authorization part of the NATS chart's values; passwords stay in the environment
    (``<< $NATS_<USER>_PASSWORD >>``, filled from the ``nats-users`` Secret)."""
    import yaml

    users = [
        {
            "user": service.value,
            "password": f"<< ${password_variable(service.value)} >>",
            "permissions": permissions_for(service).as_config(),
        }
        for service in USERS
    ]
    header = (
        "# Generated by `python -m switchboard_common.nats_auth` from libs/common's bus\n"
        "# catalog: do not edit (`make docs` regenerates it; a test fails when it is stale).\n"
        "# Install with: helm install nats nats/nats -f nats-values.yaml -f nats-auth-values.yaml\n"
    )
    values = {"config": {"merge": {"authorization": {"users": users}}}}
    body = yaml.safe_dump(values, sort_keys=False, width=100)
    # nats-server resolves << $VAR >> only when unquoted.
    body = body.replace("'<< $", "<< $").replace(" >>'", " >>")
    return header + body


def password_variable(user: str) -> str:
    """The environment variable nats-server reads a deployed user's password from."""
    return f"NATS_{user.upper()}_PASSWORD"


def compose_conf() -> str:
    """An ``authorization`` block for nats-server's own config format (docker compose), with
    each password read from the server's environment (``$NATS_<USER>_PASSWORD``)."""
    lines = [
        "# Generated by `python -m switchboard_common.nats_auth --compose` from libs/common's",
        "# bus catalog: do not edit (`make docs` regenerates it; a test fails when it is stale).",
        "authorization {",
        "  users = [",
    ]
    for service in USERS:
        permissions = json.dumps(permissions_for(service).as_config(), indent=2)
        body = permissions.replace("\n", "\n      ")
        password = "$" + password_variable(service.value)  # unquoted: read from the env
        lines.append(f'    {{user: "{service.value}", password: {password},')
        lines.append(f"      permissions: {body}}}")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    if "--compose" in args:
        args.remove("--compose")
        return run_cli(args, compose_conf, COMPOSE_CONF, "the NATS users (docker compose)")
    return run_cli(args, helm_values, HELM_VALUES, "the NATS users and permissions (Helm)")


if __name__ == "__main__":
    raise SystemExit(main())
