"""Agent service: one OpenAI Realtime session per call, its tools, barge-in and transcripts."""
