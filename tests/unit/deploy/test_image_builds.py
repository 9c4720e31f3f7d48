"""Each image's build stage, replayed without Docker: the Dockerfile's own COPY and `uv sync`
steps run in a scratch directory, then the venv they make must start the service's module and
hold only that service's dependencies. (No Docker engine here, so this is as close to
`docker build` as the tests get; the uv cache makes it take seconds.)"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _uv() -> list[str] | None:
    """uv as the Makefile finds it: on PATH, or the module pip installed."""
    if found := shutil.which("uv"):
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    return [sys.executable, "-m", "uv"] if probe.returncode == 0 else None


UV = _uv()

#: Dockerfile → (entry module, distributions the image must not carry).
DEV_ONLY = {"pytest", "mypy", "ruff", "testcontainers", "kubernetes-validate"}
IMAGES = {
    "services/media-gateway/Dockerfile": (
        "switchboard_gateway",
        DEV_ONLY | {"usearch", "onnxruntime", "weaviate-client", "openai"},
    ),
    "services/agent/Dockerfile": (
        "switchboard_agent",
        DEV_ONLY | {"fastapi", "usearch", "onnxruntime", "weaviate-client", "twilio"},
    ),
    "services/knowledge/Dockerfile": ("switchboard_knowledge", DEV_ONLY | {"twilio"}),
    "simulators/Dockerfile": ("switchboard_sim.realtime", DEV_ONLY | {"usearch", "onnxruntime"}),
}


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(instruction, arguments) of the builder stage, continuation lines joined."""
    joined = dockerfile.read_text().replace("\\\n", " ")
    stage: list[tuple[str, str]] = []
    in_builder = False
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction == "FROM":
            in_builder = args.strip().endswith("AS builder")
            continue
        if in_builder:
            stage.append((instruction, args.strip()))
    return stage


def _replay(dockerfile: Path, workdir: Path, venv: Path) -> None:
    context = workdir / "src"
    context.mkdir()
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": sys.executable}
    env.pop("VIRTUAL_ENV", None)
    for instruction, args in _instructions(dockerfile):
        if instruction == "COPY" and not args.startswith("--from"):
            *sources, dest = shlex.split(args)
            for source in sources:
                target = context / dest
                if (ROOT / source).is_dir():
                    shutil.copytree(
                        ROOT / source,
                        target,
                        dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".venv", "__pycache__", "*.pyc"),
                    )
                else:
                    if dest.endswith("/"):
                        target.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, target)
        elif instruction == "RUN" and "uv sync" in args:
            command = args[args.index("uv sync") :]
            assert UV is not None
            argv = [*UV, *shlex.split(command)[1:]]
            done = subprocess.run(
                argv, cwd=context, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, done.stderr


@pytest.mark.skipif(UV is None, reason="uv is not on PATH (the Makefile installs it)")
@pytest.mark.parametrize("dockerfile", list(IMAGES))
def test_the_image_build_makes_a_venv_that_runs_the_service(
    dockerfile: str, tmp_path: Path
) -> None:
    module, forbidden = IMAGES[dockerfile]
    venv = tmp_path / "venv"
    _replay(ROOT / dockerfile, tmp_path, venv)
    python = venv / "bin" / "python"
    check = subprocess.run(
        [
            str(python),
            "-c",
            f"import {module}.__main__; import importlib.metadata as m; "
            "print('\\n'.join(d.metadata['Name'].lower() for d in m.distributions()))",
        ],
        cwd=tmp_path,  # not the repository: only what the image has
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert check.returncode == 0, check.stderr
    installed = set(check.stdout.split())
    assert not installed & forbidden, sorted(installed & forbidden)
    # Only this service's own workspace package (and the shared library) is in the image.
    ours = {name for name in installed if name.startswith("switchboard")}
    assert "switchboard-common" in ours and len(ours) == 2, ours
