"""The chaos table: one row per fault, figures over the calls it hit."""

from __future__ import annotations

import statistics
from collections import Counter

from .run import FaultRun, records_open

HEADER = (
    "| fault | calls hit | calls survived | caller silence p50 / max | turns lost "
    "| events missing / duplicated | sessions left open | records not ended | how hit calls ended |"
)
RULE = "|---|---|---|---|---|---|---|---|---|"


def row(run: FaultRun) -> str:
    total = len(run.outcomes)
    hit = [o for o in run.outcomes if o.hit]
    survived = sum(o.survived for o in hit)
    # Silence means something only on a line that stayed up; a dead line is not survived.
    silences = [o.silence_s for o in hit if o.stayed_up]
    silence = (
        f"{statistics.median(silences):.2f} / {max(silences):.2f} s"
        if silences
        else "line went dead"
    )
    reasons = Counter(o.ended_reason or "no call_ended" for o in hit)
    how = ", ".join(f"{reason} x{n}" for reason, n in reasons.most_common()) or "-"
    cells = [
        run.fault.label,
        f"{len(hit)} of {total}",
        f"{survived} of {len(hit)}",
        silence,
        str(sum(o.turns_lost for o in run.outcomes)),
        f"{sum(o.missing for o in run.outcomes)} / {sum(o.duplicated for o in run.outcomes)}",
        f"{run.sessions_open} sessions, {run.slots_open} slots",
        str(records_open(run)),
        how,
    ]
    return "| " + " | ".join(cells) + " |"


def table(runs: list[FaultRun]) -> str:
    return "\n".join([HEADER, RULE, *(row(r) for r in runs)])
