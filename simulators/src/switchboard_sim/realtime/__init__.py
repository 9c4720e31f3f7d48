"""Local OpenAI Realtime API (GA) simulator: scripted, deterministic, 127.0.0.1 only."""

from .script import Script, ScriptedToolCall, Turn
from .server import RealtimeSimulator
from .session import SimConfig
from .voice import VoiceSynth

__all__ = ["RealtimeSimulator", "Script", "ScriptedToolCall", "SimConfig", "Turn", "VoiceSynth"]
