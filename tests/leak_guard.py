"""Fail the test that leaves a process or a thread running behind it.

Why: every test in ``pytest tests`` shares two cores and one event loop. A child process or a
thread that outlives its test keeps costing CPU and wake-ups in every later test, which is how
the whole suite once failed a test that passes alone. So, after each test's teardown:

- a child process (at any depth) or a thread that appeared while the test ran, or in a fixture
  that has since been torn down, must be gone;
- a package- or session-scoped fixture may keep what it started only while a later test still
  uses it: a session fixture whose last user has run is keeping its processes for nobody.
  (Class and module fixtures end with their module anyway.)

What is found fails that test's teardown, naming what was left and who started it. Leftover
processes are then killed, so one leak is reported once and does not slow the tests after it.

The one exception is the event loop's default executor (threads ``asyncio_N``): it belongs to
the session's loop, not to the test that first resolved a host name on it.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass

import psutil
import pytest

#: How long things already told to stop get to finish (a killed child still being reaped, an
#: executor's worker leaving). Polled, so a clean test pays nothing.
GRACE_S = float(os.environ.get("LEAK_GUARD_GRACE_S", "5"))
_POLL_S = 0.05
#: Threads that belong to the session's event loop (its default executor), not to any test.
_LOOP_THREADS = re.compile(r"asyncio_\d+$")
#: Scopes that pytest ends with their module: what they keep costs that module's tests only.
_ENDS_WITH_ITS_MODULE = frozenset({"class", "module"})


@dataclass(frozen=True)
class Resource:
    """A child process or a thread, identified so that a reused pid or ident is not confused."""

    kind: str  # "process" | "thread"
    ident: tuple[int, float]
    what: str


def _processes() -> dict[tuple[int, float], str]:
    found: dict[tuple[int, float], str] = {}
    for child in psutil.Process(os.getpid()).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                continue  # exited; costs nothing
            command = " ".join(child.cmdline())[:160] or child.name()
            found[(child.pid, child.create_time())] = f"pid {child.pid}: {command}"
    return found


def _threads() -> dict[tuple[int, float], str]:
    main = threading.main_thread()
    return {
        (thread.ident or 0, 0.0): f"thread {thread.name!r}"
        for thread in threading.enumerate()
        if thread is not main and not _LOOP_THREADS.match(thread.name)
    }


def snapshot() -> set[Resource]:
    processes = {Resource("process", k, v) for k, v in _processes().items()}
    return processes | {Resource("thread", k, v) for k, v in _threads().items()}


class LeakGuard:
    """Attributes every process and thread to the fixture or test that started it."""

    def __init__(self) -> None:
        self.baseline: set[Resource] = set()
        self.owner: dict[Resource, pytest.FixtureDef[object] | None] = {}
        self.last_user: dict[tuple[str, str], int] = {}
        self.position: dict[str, int] = {}

    # --- attribution ---------------------------------------------------------------------

    def started(self, before: set[Resource], fixturedef: pytest.FixtureDef[object] | None) -> None:
        for resource in snapshot() - before:
            self.owner.setdefault(resource, fixturedef)

    def lawful_owner(self, resource: Resource, index: int) -> pytest.FixtureDef[object] | None:
        """The live wider-scoped fixture that may still keep ``resource``, if any."""
        fixturedef = self.owner.get(resource)
        if fixturedef is None or fixturedef.scope == "function":
            return None
        if fixturedef.cached_result is None:  # torn down
            return None
        if fixturedef.scope in _ENDS_WITH_ITS_MODULE:
            return fixturedef
        if self.last_user.get(_key(fixturedef), -1) <= index:
            return None  # no test after this one uses it
        return fixturedef

    # --- the check -----------------------------------------------------------------------

    def leftovers(self, index: int) -> set[Resource]:
        return {r for r in snapshot() - self.baseline if self.lawful_owner(r, index) is None}

    def check(self, item: pytest.Item) -> None:
        index = self.position.get(item.nodeid, -1)
        deadline = time.monotonic() + GRACE_S
        left = self.leftovers(index)
        while left and time.monotonic() < deadline:
            time.sleep(_POLL_S)  # things told to stop get the grace to finish
            left = self.leftovers(index)
        if not left:
            return
        self.baseline |= left  # report each once
        _kill(r for r in left if r.kind == "process")
        lines = [f"- {r.what} (started by {self.describe_owner(r)})" for r in sorted(left, key=str)]
        raise LeakError(
            f"{item.nodeid} left {len(left)} process(es)/thread(s) running:\n" + "\n".join(lines)
        )

    def describe_owner(self, resource: Resource) -> str:
        fixturedef = self.owner.get(resource)
        if fixturedef is None:
            return "the test itself or a function-scoped fixture"
        return (
            f"{fixturedef.scope}-scoped fixture {fixturedef.argname!r}, whose last user has run;"
            " narrow its scope"
        )


class LeakError(AssertionError):
    """A test left a process or a thread behind."""


def _kill(processes: Iterable[Resource]) -> None:
    for resource in processes:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(resource.ident[0])
            if process.create_time() == resource.ident[1]:
                process.kill()


_GUARD = LeakGuard()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for index, item in enumerate(items):
        _GUARD.position[item.nodeid] = index
        for fixturedef in _fixtures_used(item):
            _GUARD.last_user[_key(fixturedef)] = index


def _fixtures_used(item: pytest.Item) -> list[pytest.FixtureDef[object]]:
    """The fixture definitions ``item`` uses: the same name can be a different fixture in
    another module, and only this one's users count."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    return [defs[-1] for defs in info.name2fixturedefs.values() if defs]


def _key(fixturedef: pytest.FixtureDef[object]) -> tuple[str, str]:
    return (fixturedef.baseid, fixturedef.argname)


def pytest_sessionstart(session: pytest.Session) -> None:
    _GUARD.baseline = snapshot()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    if fixturedef.scope == "function":
        return (yield)  # what it starts must be gone after the test: nothing to attribute
    before = snapshot()
    try:
        return (yield)
    finally:
        _GUARD.started(before, fixturedef)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    yield
    _GUARD.check(item)
