"""``businesses``: read and write business configurations in the KV bucket, over NATS.

* ``businesses list``: every business, as a JSON list of ``{"revision", "business"}``.
* ``businesses get ID``: one, as ``{"revision", "business"}`` (exit 1 when absent).
* ``businesses put FILE.json [--revision N]``: create or update. The file (``-``: stdin) holds
  a business, a ``{"revision", "business"}`` document as ``get`` prints it (the write then
  fails if the business changed since), or a list of either. ``--revision`` checks one
  business's revision (0: it must not exist yet). Prints what was stored.
* ``businesses delete ID [--revision N]``.

Exit status: 0 ok, 1 no such business, 2 an invalid file or configuration, 3 NATS or the bucket
unavailable, 4 a conflict (number owned by another business, or a stale revision).
The bus is ``--nats-url``, or ``NATS_URL`` (and ``NATS_USER``/``NATS_PASSWORD``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client
from pydantic import BaseModel, ConfigDict, ValidationError

from ..bus import client_inbox_prefix
from ..business import BusinessProfile
from ..business_store import (
    BusinessExists,
    BusinessNotFound,
    BusinessStore,
    NumberConflict,
    RevisionConflict,
    StoredBusiness,
)
from ..logs import redact
from ..settings import NatsSettings

#: Exit statuses.
OK, NOT_FOUND, INVALID, UNAVAILABLE, CONFLICT = 0, 1, 2, 3, 4


class StoredDocument(BaseModel):
    """What ``get`` prints and ``put`` accepts back: the business and the revision read."""

    model_config = ConfigDict(extra="forbid")

    revision: int | None = None
    business: BusinessProfile


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``businesses`` group; each leaf parser gets ``handler`` as a default."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "businesses",
        help="read and write business configurations",
        description="Businesses in the JetStream KV bucket sb_businesses.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--nats-url", help="NATS server URL(s) (default: $NATS_URL)")
    commands = parser.add_subparsers(dest="businesses_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="every business, as JSON", parents=[common])
    listing.set_defaults(handler=run)
    get = commands.add_parser("get", help="one business, as JSON", parents=[common])
    get.add_argument("business_id", metavar="ID")
    get.set_defaults(handler=run)
    put = commands.add_parser(
        "put", help="create or update businesses from a JSON file", parents=[common]
    )
    put.add_argument("file", metavar="FILE.json", help="a business, a list of them, or '-'")
    put.add_argument(
        "--revision", type=int, help="fail unless the business is at this revision (0: new)"
    )
    put.set_defaults(handler=run)
    delete = commands.add_parser("delete", help="delete a business", parents=[common])
    delete.add_argument("business_id", metavar="ID")
    delete.add_argument("--revision", type=int, help="fail unless it is at this revision")
    delete.set_defaults(handler=run)
    return parser


def _document(stored: StoredBusiness) -> dict[str, Any]:
    return {"revision": stored.revision, "business": stored.profile.model_dump(mode="json")}


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), flush=True)


def read_documents(text: str) -> tuple[list[StoredDocument], bool]:
    """Parse a put file: the documents, and whether it was a list."""
    raw = json.loads(text)
    many = isinstance(raw, list)
    documents = []
    for item in raw if many else [raw]:
        if isinstance(item, dict) and "business" in item:
            documents.append(StoredDocument.model_validate(item))
        else:
            documents.append(StoredDocument(business=BusinessProfile.model_validate(item)))
    return documents, many


async def _run(args: argparse.Namespace) -> int:
    command = args.businesses_command
    documents: list[StoredDocument] = []
    many = False
    if command == "put":
        documents, many = read_documents(_read(args.file))
        if args.revision is not None:
            if len(documents) != 1:
                raise ValueError("--revision applies to a file with one business")
            documents[0].revision = args.revision
    nc = await _connect(_nats_settings(args))
    try:
        store = await BusinessStore.open(nc)
        if command == "list":
            _print([_document(s) for s in await store.list()])
        elif command == "get":
            stored = await store.get(args.business_id)
            if stored is None:
                raise BusinessNotFound(args.business_id)
            _print(_document(stored))
        elif command == "put":
            written = [await store.put(d.business, d.revision) for d in documents]
            _print([_document(s) for s in written] if many else _document(written[0]))
        else:
            await store.delete(args.business_id, args.revision)
            _print({"deleted": args.business_id})
    finally:
        await nc.close()
    return OK


def run(args: argparse.Namespace) -> int:
    """The handler for every ``businesses`` command."""
    try:
        return asyncio.run(_run(args))
    except BusinessNotFound as exc:
        return _fail(str(exc), NOT_FOUND)
    except (NumberConflict, RevisionConflict, BusinessExists) as exc:
        return _fail(str(exc), CONFLICT)
    except ValidationError as exc:
        return _fail(f"invalid business configuration:\n{_errors(exc)}", INVALID)
    except json.JSONDecodeError as exc:
        return _fail(f"{args.file}: not JSON: {exc}", INVALID)
    except ValueError as exc:
        return _fail(str(exc), INVALID)
    except FileNotFoundError as exc:
        return _fail(f"{exc.filename}: no such file", INVALID)
    except (OSError, nats.errors.Error) as exc:  # the bus cannot be reached
        where = redact(args.nats_url or NatsSettings().url)
        return _fail(f"cannot reach NATS ({where}) or its businesses bucket: {exc!r}", UNAVAILABLE)
    except KeyboardInterrupt:
        return 130


def _read(file: str) -> str:
    return sys.stdin.read() if file == "-" else Path(file).read_text()


def _errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(document)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def _fail(message: str, code: int) -> int:
    print(f"businesses: {message}", file=sys.stderr)
    return code


async def _connect(settings: NatsSettings) -> Client:
    """One attempt per server, no reconnecting: a command fails fast when the bus is away."""

    async def quiet(exc: Exception) -> None:
        pass  # the failure is reported once, by run()

    password = settings.password.get_secret_value() if settings.password else None
    return await nats.connect(
        servers=settings.servers,
        name="switchboard-cli-businesses",
        user=settings.user,
        password=password,
        inbox_prefix=client_inbox_prefix(settings),
        connect_timeout=settings.connect_timeout_s,
        allow_reconnect=False,
        max_reconnect_attempts=1,  # nats-py: 0 would retry the first connect forever
        reconnect_time_wait=0.2,
        error_cb=quiet,
    )


def _nats_settings(args: argparse.Namespace) -> NatsSettings:
    settings = NatsSettings()
    if args.nats_url:
        settings = settings.model_copy(update={"url": args.nats_url})
    return settings
