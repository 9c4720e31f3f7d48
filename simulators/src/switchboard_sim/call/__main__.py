"""``python -m switchboard_sim.call``: place one simulated Twilio call; exit 0 iff it went as
scripted (or, with ``--bad-signature``, iff the gateway refused it)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from .dial import DialOutcome
from .scenario import Scenario, ScenarioError
from .simulator import CallConfig, CallSimulator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m switchboard_sim.call",
        description="Stand in for Twilio: signed voice webhook, then a real-time Media Stream "
        "driven by a caller scenario.",
    )
    p.add_argument("--gateway", required=True, help="where to connect, e.g. http://127.0.0.1:8080")
    p.add_argument(
        "--public-base-url", required=True, help="what Twilio would sign and the TwiML names"
    )
    p.add_argument("--auth-token", required=True, help="Twilio auth token used to sign")
    p.add_argument("--to", default="+15550100", help="called number (the business)")
    p.add_argument("--from", dest="from_", default="+15557777", help="caller number")
    p.add_argument("--scenario", required=True, type=Path, help="caller script (JSON)")
    p.add_argument("--record", type=Path, help="write what the caller heard to this WAV")
    p.add_argument("--nats-url", help="follow the transcript on NATS (sb.transcript.>)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument(
        "--realtime-speed",
        action="store_true",
        help="pace everything at real time (the default; explicit for scripts)",
    )
    speed.add_argument(
        "--speed", type=float, default=1.0, help="run the call N times faster than real time"
    )
    p.add_argument(
        "--bad-signature",
        action="store_true",
        help="sign with a wrong token; succeeds only if the gateway refuses (HTTP 403)",
    )
    p.add_argument(
        "--dial-outcome",
        choices=get_args(DialOutcome),
        default="completed",
        help="how a <Dial> (a transfer) ends: the person answers, or nobody does, the line is "
        "busy, or the dial fails (reported to the <Dial action> as Twilio does)",
    )
    p.add_argument("--voice-path", default="/twilio/voice", help="voice webhook path")
    p.add_argument("--max-call-s", type=float, default=600.0, help="hard limit on the call")
    return p


async def _amain(args: argparse.Namespace) -> int:
    try:
        scenario = Scenario.load(args.scenario)
    except ScenarioError as exc:
        print(f"scenario error: {exc}", file=sys.stderr)
        return 2
    config = CallConfig(
        gateway_url=args.gateway,
        public_base_url=args.public_base_url,
        auth_token=args.auth_token,
        to_number=args.to,
        from_number=args.from_,
        voice_path=args.voice_path,
        nats_url=args.nats_url,
        record_path=args.record,
        speed=1.0 if args.realtime_speed else args.speed,
        bad_signature=args.bad_signature,
        max_call_s=args.max_call_s,
        dial_outcome=args.dial_outcome,
        log=lambda line: print(line, flush=True),
    )
    result = await CallSimulator(config).run(scenario)
    print(result.summary(), flush=True)
    if args.record and result.recording is not None:
        print(f"recording: {args.record}")
    return 0 if result.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.speed <= 0:
        build_parser().error("--speed must be positive")
    try:
        return asyncio.run(_amain(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
