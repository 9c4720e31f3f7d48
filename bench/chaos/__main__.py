"""``make chaos``: inject each fault into a live stack of real processes on 127.0.0.1 with
calls in flight, and print what the callers and the records went through, as a Markdown
table (also written to ``chaos-output/chaos.md``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from switchboard_common.runtime import run

from .faults import BY_NAME, FAULTS
from .report import table
from .run import FaultRun, run_fault

DEFAULT_OUT = Path("chaos-output/chaos.md")


async def main(args: argparse.Namespace) -> None:
    runs: list[FaultRun] = []
    for name in args.faults:
        fault = BY_NAME[name]
        print(f"{fault.label}: {args.calls} calls ...", flush=True)
        done = await run_fault(fault, args.calls, args.turns)
        runs.append(done)
        if args.verbose:
            for o in done.outcomes:
                print(
                    f"  {o.call_id} hit={o.hit} survived={o.survived} "
                    f"silence={o.silence_s:.2f} s lost={o.turns_lost} "
                    f"events -{o.missing} +{o.duplicated} "
                    f"ended={o.ended_reason or '-'} record={o.record_state} {o.errors}"
                )
        print("  " + ", ".join(f"{k} {v:.0f} s" for k, v in done.phases.items()), flush=True)
    text = table(runs)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    args.out.write_text(
        f"{text}\n\n{args.calls} calls per fault, measured {stamp} with `make chaos`.\n"
    )
    print(f"\nwritten to {args.out}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--calls", type=int, default=10, help="calls in flight per fault")
    parser.add_argument("--turns", type=int, default=1, choices=(1, 2), help="caller questions")
    parser.add_argument(
        "--faults", nargs="+", default=[f.name for f in FAULTS], choices=list(BY_NAME)
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("-v", "--verbose", action="store_true", help="why hit calls failed")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    run(main(arguments))
