"""Generated examples must not depend on what the run imported before a test (see
tests/hypothesis_pool.py): a module imported late adds nothing to Hypothesis's constants."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from hypothesis.internal.conjecture import providers


def test_a_module_imported_later_does_not_change_the_generated_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = set(providers._get_local_constants().strings)
    assert "response.create" in before  # our sources' constants are in the pool
    (tmp_path / "late_local_module.py").write_text('MARKER = "only-in-a-late-module"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module("late_local_module")
        after = set(providers._get_local_constants().strings)
    finally:
        sys.modules.pop("late_local_module", None)
    assert "only-in-a-late-module" not in after
    assert after == before
