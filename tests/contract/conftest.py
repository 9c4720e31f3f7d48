"""Markers for the contract suites (registered here so the sub-packages' conftests, which
use them at import time, find them registered)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "weaviate: needs a Weaviate server (started with testcontainers; skipped without a "
        "Docker engine)",
    )
