"""How many cores this process may use: what ingestion sizes its inferences by.

Why not ``os.cpu_count()``: in a container it is the node's core count, whatever the pod's CPU
limit. A knowledge pod limited to 2 cores on a 32-core node would run 32 inferences at once,
each holding its activations, throttled by the CPU quota and growing in memory for nothing.
The budget is the smallest of the cores this process may run on (its affinity) and the
cgroup's CPU quota (cgroup v2 ``cpu.max``, rounded up).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: cgroup v2's CPU limit of this process's group: "<quota> <period>" or "max <period>".
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def quota_cores(cpu_max: Path = CPU_MAX) -> int | None:
    """The cgroup's CPU quota in whole cores (rounded up), or None when there is none."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        cores = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return max(1, math.ceil(cores)) if cores > 0 else None


def available_cores(cpu_max: Path = CPU_MAX) -> int:
    """Cores this process may use: affinity, capped by the cgroup's quota; at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = quota_cores(cpu_max)
    return max(1, min(cores, quota) if quota is not None else cores)
