"""OpenAI Realtime adapter: the agent's only door to the model, through the ``openai`` SDK."""
