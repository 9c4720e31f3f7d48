"""CLI: ``python -m switchboard_sim.realtime --port 0 [--echo] [--script FILE] [--speed 4]``.

Prints exactly one line, ``REALTIME_SIM_URL=http://127.0.0.1:<port>/v1``, once
listening (so a parent process can read the port), then serves until
SIGTERM/SIGINT and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from switchboard_common.runtime import run as run_loop

from .server import RealtimeSimulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m switchboard_sim.realtime")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--echo", action="store_true", help="echo appended audio back (benchmarks)")
    parser.add_argument("--script", default=None, help="JSON call script")
    parser.add_argument(
        "--speed", type=float, default=4.0, help="audio speed vs real time (<=0: unpaced)"
    )
    parser.add_argument("--chunk-ms", type=int, default=50, help="audio per output delta")
    parser.add_argument("--max-session-s", type=float, default=None)
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    sim = RealtimeSimulator(
        host=args.host,
        port=args.port,
        script=args.script,
        echo=args.echo,
        speed=args.speed,
        chunk_ms=args.chunk_ms,
        max_session_s=args.max_session_s,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        sys.stdout.write(f"REALTIME_SIM_URL={sim.base_url}\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    run_loop(run(args))


if __name__ == "__main__":
    main()
