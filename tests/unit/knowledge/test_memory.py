from __future__ import annotations

import platform

from switchboard_knowledge.memory import release_free_memory


def test_free_memory_goes_back_to_the_os_with_glibc() -> None:
    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert release_free_memory() is expected
