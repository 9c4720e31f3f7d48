"""Each stack removes its scratch folder (logs, JetStream files) when it stops, except after a
failed test: then the stacks of that test keep theirs, and their logs say what happened."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from switchboard_sim import stack

_KEEP_BY_DEFAULT = stack.keep_scratch


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:  # the fixtures' teardown (where stacks stop) comes after this report
        stack.keep_scratch = True
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    stack.keep_scratch = _KEEP_BY_DEFAULT
