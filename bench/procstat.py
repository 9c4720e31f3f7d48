"""CPU time and resident memory of processes, read from /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    cpu_s: float
    rss_mb: float


def sample(pid: int) -> Sample:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
    with open(f"/proc/{pid}/statm") as f:
        rss_pages = int(f.read().split()[1])
    return Sample((utime + stime) / _TICKS, rss_pages * _PAGE / 1e6)
