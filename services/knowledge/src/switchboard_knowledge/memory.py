"""Give freed memory back to the operating system after a large ingest.

An ingest allocates and frees many buffers (extracted text, tokenised batches, inference
outputs). glibc's allocator keeps freed memory in its arenas, so the process's RSS would stay
at its peak long after the work is done; ``malloc_trim(0)`` returns the free pages. Elsewhere
(another C library, another OS) there is nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def release_free_memory() -> bool:
    """Return free heap pages to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
