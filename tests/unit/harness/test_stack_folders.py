"""A stack removes the scratch folder it made when it stops, keeps one it was given or told to
keep, and after a failed test keeps the failing test's folders for their logs. The last part
runs as a separate pytest process."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard_sim.stack import LocalStack

REPO = Path(__file__).resolve().parents[3]


async def test_a_stack_removes_the_folder_it_made(tmp_path: Path) -> None:
    made = LocalStack()
    (made.workdir / "agent.log").write_text("a log\n")
    kept = LocalStack(keep_workdir=True)
    given = LocalStack(workdir=tmp_path)
    (tmp_path / "keep.me").write_text("an operator's data\n")
    for stack in (made, kept, given):
        async with stack:
            await stack.stop()  # a test may stop its stack, then read the logs
            assert (stack.workdir / "agent.log").is_file() or stack is not made
    assert not made.workdir.exists()
    assert kept.workdir.is_dir()
    assert (tmp_path / "keep.me").is_file()
    kept.workdir.joinpath("agent.log").unlink(missing_ok=True)
    kept.workdir.rmdir()


_INNER = """
from pathlib import Path

import pytest

from switchboard_sim.stack import LocalStack

FOLDERS = Path({record!r})


@pytest.fixture
async def stack():
    async with LocalStack() as stack:
        with FOLDERS.open("a") as record:
            record.write(str(stack.workdir) + "\\n")
        yield stack


async def test_fails(stack):
    assert stack.workdir is None


async def test_passes_after_it(stack):
    assert stack.workdir.is_dir()
"""


def test_the_failing_test_s_stack_keeps_its_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    record = tmp_path / "folders.txt"
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.delenv("SWITCHBOARD_KEEP_STACKS", raising=False)
    pytester.makeconftest('pytest_plugins = ["tests.stack_folders"]\n')
    pytester.makepyfile(test_inner=_INNER.format(record=str(record)))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "asyncio_mode=auto", "-W", "ignore::DeprecationWarning"
    )
    result.assert_outcomes(passed=1, failed=1)
    failed, passed = (Path(line) for line in record.read_text().splitlines())
    assert not passed.exists()
    assert failed.is_dir()
    failed.rmdir()
