"""The one place usearch is imported, after ONNX Runtime when that is installed.

With usearch 2.26 and the installed onnxruntime wheel, loading usearch's native module first
makes ``import onnxruntime`` crash the process (SIGSEGV); the other order works. The service
and the test session can load both (embedded backend + local embedder), so load ONNX Runtime
first whenever it is there. Costs ~0.2 s of import time once.
"""

from __future__ import annotations

import contextlib
import importlib
import sys

if "usearch.compiled" not in sys.modules:
    with contextlib.suppress(ImportError):  # not installed: nothing to protect
        importlib.import_module("onnxruntime")

from usearch.index import Index

__all__ = ["Index"]
