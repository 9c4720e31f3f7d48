"""The caller's script: what to say (or press) and when, loaded from a JSON file.

```json
{"name": "...", "agent_timeout_s": 15, "quiet_ms": 800, "pause_ms": 300,
 "turns": [{"say": "Hi", "wav": "hi.wav"},                       // after the agent is done
           {"say": "Wait", "wav": "w.wav", "after": {"barge_in_ms": 600}},
           {"dtmf": "1", "after": "now"},
           {"expect_hangup": true},                               // the agent ends the call
           {"expect_transfer": "+15551234567"},                   // ... or transfers it
           {"hangup": true}]}
```

``after`` is ``"agent_done"`` (default: the agent started a reply after the previous turn, and
has been quiet ``quiet_ms`` with all marks back; then ``pause_ms``), ``"now"``,
``{"barge_in_ms": N}`` (N ms after the agent's current reply started playing) or
``{"delay_ms": N}``. WAV paths are relative to the scenario file.

``expect_hangup`` (last turn only) and ``expect_transfer`` wait for the gateway to close the
stream; the TwiML Twilio then follows (the ``<Connect action>`` answer, or the verbs after
``<Connect>``) must end the call (``<Hangup/>``, or running out of verbs) or ``<Dial>`` exactly
that number, respectively. Turns after ``expect_transfer`` run when the transfer fails and
the caller comes back to the agent on a new stream (see ``CallConfig.dial_outcome``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .audio import Utterance, WavError


class ScenarioError(ValueError):
    """A scenario file that cannot be run."""


@dataclass(frozen=True, slots=True)
class AgentDone:
    pass


@dataclass(frozen=True, slots=True)
class Now:
    pass


@dataclass(frozen=True, slots=True)
class BargeIn:
    ms: int


@dataclass(frozen=True, slots=True)
class Delay:
    ms: int


After = AgentDone | Now | BargeIn | Delay


@dataclass(frozen=True, slots=True)
class Turn:
    """One caller action. ``kind`` says which of ``utterance`` / ``digits`` applies."""

    kind: Literal["say", "dtmf", "hangup", "expect_hangup", "expect_transfer"]
    after: After = field(default_factory=AgentDone)
    text: str = ""
    utterance: Utterance | None = None
    digits: str = ""
    #: expect_transfer: the number the agent must ``<Dial>``.
    number: str = ""

    @property
    def expects_end(self) -> bool:
        """The caller waits for the agent to end the call (hang up or transfer)."""
        return self.kind in ("expect_hangup", "expect_transfer")

    def describe(self) -> str:
        if self.kind == "say":
            return f"say {self.text!r}"
        if self.kind == "dtmf":
            return f"press {self.digits}"
        if self.kind == "expect_transfer":
            return f"expect transfer to {self.number}"
        return self.kind.replace("_", " ")


@dataclass(frozen=True, slots=True)
class Scenario:
    turns: tuple[Turn, ...]
    name: str = "scenario"
    agent_timeout_s: float = 15.0
    quiet_ms: int = 800
    pause_ms: int = 300

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ScenarioError(f"{path}: {exc}") from exc
        return cls.from_dict(data, base_dir=path.parent, name=path.stem)

    @classmethod
    def from_dict(
        cls, data: Any, *, base_dir: str | Path = ".", name: str = "scenario"
    ) -> Scenario:
        if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
            raise ScenarioError("a scenario is an object with a 'turns' list")
        turns = tuple(_parse_turn(t, i + 1, Path(base_dir)) for i, t in enumerate(data["turns"]))
        if not turns:
            raise ScenarioError("a scenario needs at least one turn")
        for i, t in enumerate(turns[:-1]):
            if t.kind in ("hangup", "expect_hangup"):
                raise ScenarioError(f"turn {i + 1}: {t.kind} must be the last turn")
        try:
            return cls(
                turns=turns,
                name=str(data.get("name", name)),
                agent_timeout_s=float(data.get("agent_timeout_s", 15.0)),
                quiet_ms=int(data.get("quiet_ms", 800)),
                pause_ms=int(data.get("pause_ms", 300)),
            )
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"bad scenario option: {exc}") from exc


def _parse_after(value: Any, where: str) -> After:
    if value is None or value == "agent_done":
        return AgentDone()
    if value == "now":
        return Now()
    if isinstance(value, dict) and len(value) == 1:
        ((key, ms),) = value.items()
        if isinstance(ms, int) and ms >= 0:
            if key == "barge_in_ms":
                return BargeIn(ms)
            if key == "delay_ms":
                return Delay(ms)
    raise ScenarioError(
        f'{where}: \'after\' must be "agent_done", "now", {{"barge_in_ms": N}} '
        f'or {{"delay_ms": N}}, got {value!r}'
    )


def _parse_turn(raw: Any, index: int, base_dir: Path) -> Turn:
    where = f"turn {index}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be an object")
    after = _parse_after(raw.get("after"), where)
    if "wav" in raw or "say" in raw:
        if "wav" not in raw:
            raise ScenarioError(f"{where}: 'say' needs a 'wav' to speak")
        text = str(raw.get("say", ""))
        try:
            utt = Utterance.from_wav(base_dir / str(raw["wav"]), text)
        except (OSError, WavError) as exc:
            raise ScenarioError(f"{where}: {exc}") from exc
        return Turn("say", after, text=text, utterance=utt)
    if "dtmf" in raw:
        digits = str(raw["dtmf"])
        if not digits or any(d not in "0123456789*#" for d in digits):
            raise ScenarioError(f"{where}: dtmf digits must be 0-9, * or #, got {digits!r}")
        return Turn("dtmf", after, digits=digits)
    if raw.get("hangup") is True:
        return Turn("hangup", after)
    if raw.get("expect_hangup") is True:
        return Turn("expect_hangup", after if "after" in raw else Now())
    if "expect_transfer" in raw:
        number = raw["expect_transfer"]
        if not isinstance(number, str) or not number.strip():
            raise ScenarioError(f"{where}: expect_transfer must be the number to be dialed")
        return Turn("expect_transfer", after if "after" in raw else Now(), number=number.strip())
    raise ScenarioError(
        f"{where}: expected one of say+wav, dtmf, hangup, expect_hangup, expect_transfer"
    )
