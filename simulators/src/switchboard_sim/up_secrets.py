"""``make up``'s own secrets: strong tokens made on the first run, kept in its data folder.

The file is ``NAME=value`` lines (a shell can ``set -a; . secrets.env``), readable by its owner
alone (0600, in a 0700 folder). A later run reads it back; one that others can read is refused
rather than used, as ssh refuses a private key others can read.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

#: The file's name inside the data folder.
SECRETS_FILE = "secrets.env"
#: The secrets ``make up`` makes when the environment does not give them.
GENERATED = ("GATEWAY_ADMIN_TOKEN", "KNOWLEDGE_ADMIN_TOKEN")
#: Random bytes per token (43 URL-safe characters).
TOKEN_BYTES = 32

_HEADER = "# Made by `make up` on its first run. Keep private: these guard the admin APIs.\n"


class SecretsError(RuntimeError):
    """The secrets file cannot be used safely."""


@dataclass
class StackSecrets:
    path: Path
    values: dict[str, str]
    #: The names made by this run (to be shown once).
    created: list[str] = field(default_factory=list)


def owner_only_folder(folder: Path) -> Path:
    """``folder``, created if needed, with mode 0700."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def load_or_create(data_dir: Path, names: tuple[str, ...] = GENERATED) -> StackSecrets:
    """The tokens kept in ``data_dir``; those missing are made now and written back."""
    path = owner_only_folder(data_dir) / SECRETS_FILE
    values: dict[str, str] = {}
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise SecretsError(f"{path} can be read by others: `chmod 600 {path}` and try again")
        values = _parse(path.read_text())
    created = [name for name in names if not values.get(name)]
    if created:
        values |= {name: secrets.token_urlsafe(TOKEN_BYTES) for name in created}
        _write(path, values)
    return StackSecrets(path, values, created)


def _parse(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs if not name.startswith("#")}


def _write(path: Path, values: dict[str, str]) -> None:
    """Replace ``path`` at once with a file that was owner-only from its first byte."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(_HEADER + "".join(f"{k}={v}\n" for k, v in values.items()))
    os.replace(scratch, path)
