"""OpenAIEmbedder against a fake OpenAI server on 127.0.0.1 (no network)."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from openai import AsyncOpenAI

from switchboard_knowledge.embeddings import EmbeddingUnavailable, OpenAIEmbedder

from .conftest import FakeOpenAI, fake_vector


def embedder(server: FakeOpenAI, **kwargs: object) -> OpenAIEmbedder:
    options: dict[str, object] = {"api_key": "sk-test", "base_url": server.base_url}
    options.update(max_retries=0, timeout=5.0)
    options.update(kwargs)
    return OpenAIEmbedder(**options)  # type: ignore[arg-type]


async def test_embeds_normalised_float32_in_input_order(openai_server: FakeOpenAI) -> None:
    client = embedder(openai_server)
    texts = ["opening hours", "parking", "gluten-free crust"]
    vectors = await client.embed(texts)
    await client.aclose()
    assert client.name == "openai/text-embedding-3-small@1536"
    assert vectors.shape == (3, 1536)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for text, vector in zip(texts, vectors, strict=True):
        expected = np.asarray(fake_vector(text, 1536), dtype=np.float32)
        np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-5)
    (request,) = openai_server.requests
    assert request["model"] == "text-embedding-3-small"
    assert request["input"] == texts
    assert request["authorization"] == "Bearer sk-test"


async def test_configurable_dimensions(openai_server: FakeOpenAI) -> None:
    client = embedder(openai_server, dimensions=256)
    vectors = await client.embed(["hello"])
    await client.aclose()
    assert vectors.shape == (1, 256) and client.dimensions == 256
    assert client.name == "openai/text-embedding-3-small@256"
    assert openai_server.requests[0]["dimensions"] == 256


async def test_batches_large_inputs(openai_server: FakeOpenAI) -> None:
    client = embedder(openai_server, batch_size=3)
    texts = [f"chunk {i}" for i in range(7)]
    vectors = await client.embed(texts)
    await client.aclose()
    assert [len(r["input"]) for r in openai_server.requests] == [3, 3, 1]
    single = embedder(openai_server)
    np.testing.assert_allclose(await single.embed(texts), vectors, atol=1e-6)
    await single.aclose()


async def test_empty_input_sends_nothing(openai_server: FakeOpenAI) -> None:
    client = embedder(openai_server)
    assert (await client.embed([])).shape == (0, 1536)
    await client.aclose()
    assert openai_server.requests == []


async def test_blank_texts_are_sent_as_a_space(openai_server: FakeOpenAI) -> None:
    client = embedder(openai_server)
    await client.embed(["", "text"])
    await client.aclose()
    assert openai_server.requests[0]["input"] == [" ", "text"]


@pytest.mark.parametrize("marker", ["__fail__", "__bad_request__", "__wrong_size__"])
async def test_server_errors_become_embedding_unavailable(
    openai_server: FakeOpenAI, marker: str
) -> None:
    client = embedder(openai_server)
    with pytest.raises(EmbeddingUnavailable):
        await client.embed(["fine", f"then {marker}"])
    await client.aclose()


async def test_a_timeout_becomes_embedding_unavailable(openai_server: FakeOpenAI) -> None:
    client = embedder(openai_server, timeout=0.2)
    with pytest.raises(EmbeddingUnavailable):
        await client.embed(["__hang__"])
    await client.aclose()


async def test_an_unreachable_server_becomes_embedding_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenAIEmbedder(
        api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0
    )
    with pytest.raises(EmbeddingUnavailable):
        await client.embed(["hello"])
    await client.aclose()


async def test_a_shared_client_is_not_closed(openai_server: FakeOpenAI) -> None:
    shared = AsyncOpenAI(api_key="sk-test", base_url=openai_server.base_url, max_retries=0)
    client = OpenAIEmbedder(client=shared, model="text-embedding-3-large")
    assert (await client.embed(["x"])).shape == (1, 3072)
    await client.aclose()
    assert not shared.is_closed()
    await shared.close()


def test_unknown_models_need_dimensions() -> None:
    with pytest.raises(ValueError):
        OpenAIEmbedder(api_key="sk-test", model="some-new-model")
    assert OpenAIEmbedder(api_key="sk-test", model="some-new-model", dimensions=64).dimensions == 64
