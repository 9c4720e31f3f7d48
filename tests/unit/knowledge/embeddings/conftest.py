"""Fixtures: the local model (loaded once per session) and a fake OpenAI server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from switchboard_knowledge.embeddings import LocalEmbedder


@pytest.fixture
async def local_embedder() -> AsyncIterator[LocalEmbedder]:
    """The model is loaded once per process and shared; the inference threads are this
    embedder's own and end with the test."""
    embedder = LocalEmbedder()
    embedder.load()
    yield embedder
    await embedder.aclose()


def fake_vector(text: str, dimensions: int) -> list[float]:
    """Deterministic and deliberately not unit-length (the client must normalise)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector: list[float] = (np.random.default_rng(seed).normal(size=dimensions) * 3.0).tolist()
    return vector


@dataclass
class FakeOpenAI:
    """What the fake server saw; ``release`` frees requests parked by ``__hang__``."""

    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)


def _app(state: FakeOpenAI) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Any:
        body = await request.json()
        state.requests.append({**body, "authorization": request.headers.get("authorization")})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if any("__fail__" in t for t in inputs):
            error = {"message": "the server had an error", "type": "server_error"}
            return JSONResponse({"error": error}, status_code=500)
        if any("__bad_request__" in t for t in inputs):
            error = {"message": "invalid input", "type": "invalid_request_error"}
            return JSONResponse({"error": error}, status_code=400)
        if any("__hang__" in t for t in inputs):
            await state.release.wait()
        dimensions = int(body.get("dimensions") or 1536)
        if any("__wrong_size__" in t for t in inputs):
            dimensions -= 1
        data = []
        for index, text in enumerate(inputs):
            vector = fake_vector(text, dimensions)
            embedding: Any = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        data.reverse()  # out of order on purpose: clients must sort by index
        tokens = sum(len(t.split()) for t in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": body["model"], "usage": usage}

    return app


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening before the server runs: early connections wait in the backlog
    host, port = sock.getsockname()
    state = FakeOpenAI(base_url=f"http://{host}:{port}/v1")
    config = uvicorn.Config(_app(state), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    yield state
    state.release.set()
    server.should_exit = True
    await task
    sock.close()


@pytest.fixture
def openai_server(fake_openai: FakeOpenAI) -> FakeOpenAI:
    """The session's fake server, with this test's request log only."""
    fake_openai.requests.clear()
    return fake_openai
