"""Render a kustomization with the real kustomize, as platform teams do: ``kubectl kustomize``
(kustomize is built into kubectl). Where kubectl is not installed, the tests that need a
rendering are skipped, with that reason."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

Obj = dict[str, Any]

#: Bound on one rendering (about half a second here).
RENDER_TIMEOUT_S = 60


class KustomizeError(RuntimeError):
    """kustomize refused the kustomization (its own message)."""


def kubectl() -> str:
    """The kubectl to render with; skips the calling test when there is none."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed: the manifests are rendered by `kubectl kustomize`")
    return found


def render(directory: Path) -> list[Obj]:
    """The objects ``kubectl kustomize directory`` prints (a fresh copy each call)."""
    return [dict(obj) for obj in yaml.safe_load_all(_rendered(kubectl(), directory.resolve()))]


@cache
def _rendered(kubectl: str, directory: Path) -> str:
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=RENDER_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise KustomizeError(done.stderr.strip())
    return done.stdout
