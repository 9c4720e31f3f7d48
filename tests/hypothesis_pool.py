"""Generated inputs that do not depend on which tests ran before.

Hypothesis seeds its choices with constants mined from every *local* module imported so far
(strings like ``"response.create"`` from our sources and tests). Even derandomised, a test
therefore draws different examples in ``pytest tests`` than alone, because the whole suite has
imported more of our modules by the time it runs. That is how a property test failed only in
the whole suite and passed alone.

So the pool is fixed: the constants of every module of our own packages, imported once at
start-up, and nothing that depends on the run's order. A failure then reproduces with the one
test alone. This reaches into Hypothesis internals on purpose; if they move, :func:`pin`
fails loudly at start-up rather than letting the examples drift again.
"""

from __future__ import annotations

import importlib
import pkgutil

#: Our packages; their sources are what the generated inputs should know about.
PROJECT_PACKAGES = (
    "switchboard_common",
    "switchboard_gateway",
    "switchboard_agent",
    "switchboard_knowledge",
    "switchboard_sim",
)


def _project_modules() -> list[object]:
    modules: list[object] = []
    for name in PROJECT_PACKAGES:
        package = importlib.import_module(name)
        modules.append(package)
        for info in sorted(pkgutil.walk_packages(package.__path__, f"{name}."), key=str):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue  # entry points: importing them is not how they are used
            modules.append(importlib.import_module(info.name))
    return modules


def pin() -> int:
    """Replace Hypothesis's growing local-constant pool by our packages' constants; returns
    how many constants the pool holds."""
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import constants_from_module
    except ImportError as exc:  # pragma: no cover - only on a Hypothesis that moved them
        raise RuntimeError(f"cannot pin Hypothesis's constant pool: {exc}") from exc
    if not callable(getattr(providers, "_get_local_constants", None)):
        raise RuntimeError("Hypothesis no longer has _get_local_constants: update tests/")
    pool = providers.Constants(
        integers=providers.SortedSet(),
        floats=providers.SortedSet(key=providers.float_to_int),
        bytes=providers.SortedSet(),
        strings=providers.SortedSet(),
    )
    for module in _project_modules():
        pool |= constants_from_module(module)  # type: ignore[arg-type]
    providers._get_local_constants = lambda: pool
    providers.CONSTANTS_CACHE.cache.clear()
    return len(pool)
