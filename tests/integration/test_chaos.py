"""``make chaos`` in small: the faults a call survives today, each injected into a live stack
with a few calls in flight, through the same harness (:mod:`bench.chaos`). A survivable fault
that a call does not survive fails here, not only in the table."""

from __future__ import annotations

import pytest

from bench.chaos.faults import BY_NAME
from bench.chaos.report import row
from bench.chaos.run import records_open, run_fault

pytestmark = pytest.mark.timeout(150)

CALLS = 3
#: The most silence a hit caller may hear (issue 11's targets; the figure includes the turn's
#: own latency when the fault lands in the caller's turn). A 5 s bus outage is silence by
#: nature: it is bounded by no hang-up, not by a figure. A hung agent is still in the pool,
#: so a resume offer can land on it first and be tried again (0.4 s each): 0.5 s over the
#: 1.5 s target is allowed for that.
SILENCE_LIMIT_S = {
    "agent-hang": 2.0,
    "nats-restart": None,
    "knowledge-hang": 1.2,
}
#: The other survivable faults are asserted, call by call and in more detail, by their own
#: tests (kept out of here so that ``make test`` stays under 30 minutes): agent kill in
#: test_agent_takeover.py, gateway kill in test_gateway_reentry.py, NATS node kill in
#: test_bus_cluster.py, Realtime drop in test_realtime_resume.py.


@pytest.mark.parametrize("name", list(SILENCE_LIMIT_S))
async def test_a_survivable_fault_is_survived(name: str) -> None:
    fault = BY_NAME[name]
    assert fault.survivable
    run = await run_fault(fault, count=CALLS, spoken_turns=1)
    print(row(run))
    hit = [o for o in run.outcomes if o.hit]
    assert hit, "the fault hit no call"
    for outcome in run.outcomes:
        assert outcome.survived, outcome
        assert outcome.turns_lost == 0, outcome
        assert (outcome.missing, outcome.duplicated) == (0, 0), outcome
        assert outcome.ended_reason == "caller_hung_up", outcome
    assert records_open(run) == 0
    assert (run.sessions_open, run.slots_open) == (0, 0)
    limit = SILENCE_LIMIT_S[name]
    if limit is not None:
        assert max(o.silence_s for o in hit) <= limit, [o.silence_s for o in hit]
