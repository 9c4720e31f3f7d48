"""Build the local model for int8 arithmetic ahead of time (image builds do):
``python -m switchboard_knowledge.prepare_model [--out DIR]`` prints the model's path.

The service converts it itself when its model directory lacks it (:mod:`.embeddings.quantized`);
this is the same conversion, run where the image is built, so a pod starts without it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path

from .embeddings.local import default_model_path
from .embeddings.quantized import convert, default_model_dir, quantized_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="model directory")
    parser.add_argument("--source", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # onnxruntime's quantizer advises "pre-processing" on the root logger: not for us.
    logging.basicConfig(level=logging.ERROR)
    if args.source is not None and args.target is not None:
        convert(args.source, args.target)
        return
    target = quantized_path(default_model_path(), args.out or default_model_dir())
    if not target.is_file():
        convert(default_model_path(), target)
    with contextlib.suppress(BrokenPipeError):
        print(target)


if __name__ == "__main__":
    main()
