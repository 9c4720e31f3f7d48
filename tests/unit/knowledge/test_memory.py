from __future__ import annotations

import platform

import numpy as np

from switchboard_knowledge.embeddings.local import by_length, unsort
from switchboard_knowledge.memory import release_free_memory


def test_free_memory_goes_back_to_the_os_with_glibc() -> None:
    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert release_free_memory() is expected


def test_texts_embedded_by_length_come_back_in_their_own_order() -> None:
    texts = ["a much longer text than the rest", "b", "a medium text", ""]
    order = by_length(texts)
    assert [len(texts[i]) for i in order] == sorted(len(t) for t in texts)
    embedded = np.array([[float(len(texts[i]))] for i in order], dtype=np.float32)
    assert unsort(embedded, order)[:, 0].tolist() == [float(len(t)) for t in texts]
