"""Ingestion sizes itself by the cores the process may use, not by the node's core count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from switchboard_knowledge.embeddings.cores import available_cores, quota_cores
from switchboard_knowledge.embeddings.local import ingest_workers


@pytest.mark.parametrize(
    ("cpu_max", "cores"),
    [
        ("200000 100000\n", 2),  # limits.cpu: "2"
        ("150000 100000\n", 2),  # 1.5 cores: two workers, the quota throttles the rest
        ("50000 100000\n", 1),  # 500m
        ("max 100000\n", None),  # no limit
        ("garbage\n", None),
        ("0 100000\n", None),
    ],
)
def test_the_cgroup_quota_in_whole_cores(tmp_path: Path, cpu_max: str, cores: int | None) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert quota_cores(path) == cores


def test_no_cgroup_file_means_no_quota(tmp_path: Path) -> None:
    assert quota_cores(tmp_path / "absent") is None


def test_the_budget_is_the_affinity_capped_by_the_quota(tmp_path: Path) -> None:
    mine = len(os.sched_getaffinity(0))
    path = tmp_path / "cpu.max"
    path.write_text("100000 100000\n")
    assert available_cores(path) == 1
    path.write_text("max 100000\n")
    assert available_cores(path) == mine
    path.write_text(f"{(mine + 8) * 100000} 100000\n")  # a quota above the affinity
    assert available_cores(path) == mine


def test_ingest_workers_follow_the_setting_else_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KNOWLEDGE_EMBEDDING_THREADS", "3")
    assert ingest_workers() == 3
    monkeypatch.delenv("KNOWLEDGE_EMBEDDING_THREADS")
    assert ingest_workers() == available_cores()
