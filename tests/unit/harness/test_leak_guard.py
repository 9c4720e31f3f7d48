"""The leak guard fails the test that leaves a process or a thread behind, and the session
fixture that outlives its last user; a clean test passes. Run as a separate pytest process."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

_INNER = """
import subprocess
import sys
import threading

import pytest

_never = threading.Event()


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_leaves_a_process():
    _sleeper()


def test_leaves_a_thread():
    threading.Thread(target=_never.wait, name="forgotten", daemon=True).start()


def test_cleans_up():
    child = _sleeper()
    worker = threading.Thread(target=lambda: None, name="finished")
    worker.start()
    worker.join()
    child.kill()
    child.wait()


@pytest.fixture(scope="session")
def server():
    child = _sleeper()
    yield child
    child.kill()
    child.wait()


def test_first_user(server):
    assert server.poll() is None


def test_last_user(server):
    assert server.poll() is None


def test_after_the_last_user():
    pass
"""


def test_leftovers_fail_the_test_that_left_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("LEAK_GUARD_GRACE_S", "0.5")
    pytester.makeconftest('pytest_plugins = ["tests.leak_guard"]\n')
    pytester.makepyfile(test_inner=_INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rE")
    result.assert_outcomes(passed=6, errors=3)
    errors = {line.split(" - ")[0] for line in result.outlines if line.startswith("ERROR ")}
    assert errors == {
        "ERROR test_inner.py::test_leaves_a_process",
        "ERROR test_inner.py::test_leaves_a_thread",
        "ERROR test_inner.py::test_last_user",
    }
    result.stdout.fnmatch_lines(["*thread 'forgotten'*", "*fixture 'server', whose last user*"])
