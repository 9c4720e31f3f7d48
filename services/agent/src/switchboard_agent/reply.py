"""The agent's reply in progress, and how far the caller has heard it.

Why: the session, the barge-in, a dropped Realtime link, the call's limits and the tools all
ask the same questions (is the model answering? is audio still playing? which replies were
cut?). This is the one place that state lives, shared by reference; it does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .playback import AudioLedger
from .resume import InFlightText
from .turns import AgentTurns


@dataclass
class ReplyState:
    ledger: AudioLedger
    turns: AgentTurns
    in_flight: InFlightText = field(default_factory=InFlightText)
    #: The response the model is generating, if any.
    active_response: str | None = None
    #: Responses cut short (barge-in, dropped link): their late audio is not played.
    interrupted: set[str] = field(default_factory=set)
    #: The last agent chunk the gateway reported as played out.
    idle_through: int = -1
    #: The caller is owed an answer once the reply in progress ends (a key was pressed, or
    #: the stream came back, while the model was answering).
    answer_owed: bool = False

    def playing(self) -> bool:
        """Agent audio is still playing to the caller."""
        return self.ledger.last_seq > self.idle_through

    def agent_quiet(self) -> bool:
        """Nothing is playing and nothing is coming."""
        return self.active_response is None and self.ledger.last_seq <= self.idle_through
