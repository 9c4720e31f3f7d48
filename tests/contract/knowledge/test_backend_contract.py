"""The behaviour every :class:`KnowledgeBackend` keeps, run against each implementation.

Vectors are small (8 dimensions) and hand-made so the nearest neighbours are known; query
texts either name the expected chunk's words or share no word with any chunk, so hybrid and
vector-only backends must agree on the order.

Scores are on one absolute scale for every backend (``backends.fusion``): the plain cosine
when the words match nothing, otherwise ``alpha * cosine`` plus at most ``1 - alpha`` for the
words. That is what lets one relevance threshold judge every backend's hits, so the suite
checks it, and checks "no answer" and the hits' titles and sections through the service.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from switchboard_common.business import BusinessDirectory, BusinessProfile
from switchboard_common.knowledge import KnowledgeQuery
from switchboard_knowledge.backends.base import ChunkRecord, KnowledgeBackend, ScoredChunk, Vector
from switchboard_knowledge.backends.fusion import DEFAULT_ALPHA
from switchboard_knowledge.embeddings.local import LOCAL_MODEL
from switchboard_knowledge.relevance import threshold_for
from switchboard_knowledge.service import KnowledgeService

from .kb_helpers import WHEN, ScriptedEmbedder, axis, chunk, cosine, document, toward, vec

A = "acme"
B = "bellas-bistro"
#: A query text sharing no word with any chunk below: ranking is the vector's alone.
NO_WORDS = "xylophone quokka"


def ids(hits: list[ScoredChunk]) -> list[str]:
    return [hit.chunk_id for hit in hits]


def old_version() -> list[ChunkRecord]:
    return [
        chunk("menu", 0, "old apricot orchard tart", axis(0)),
        chunk("menu", 1, "old bakery opening hours", axis(1)),
        chunk("menu", 2, "old catering price list", axis(2)),
    ]


def new_version() -> list[ChunkRecord]:
    return [
        chunk("menu", 0, "new dentist appointment rules", axis(3)),
        chunk("menu", 1, "new emergency phone line", axis(4)),
    ]


async def store(backend: KnowledgeBackend, business: str, chunks: list[ChunkRecord]) -> int:
    return await backend.replace_document(business, document(chunks[0].document_id, chunks), chunks)


# ---------------------------------------------------------------------- replace and search


async def test_replace_then_search_finds_new_text_and_nothing_stale(
    backend: KnowledgeBackend,
) -> None:
    await store(backend, A, old_version())
    await store(backend, A, new_version())

    hits = await backend.search(A, axis(3), "dentist appointment", top_k=10)
    assert hits, "the new version must be searchable"
    assert hits[0].text == "new dentist appointment rules"
    assert hits[0].document_id == "menu"

    # Asking for the old version by its own words and vector finds none of it.
    for i, words in enumerate(["apricot orchard", "bakery opening", "catering price"]):
        stale = await backend.search(A, axis(i), words, top_k=10)
        assert not [h.text for h in stale if h.text.startswith("old")], words
        assert set(ids(stale)) <= {"menu-0", "menu-1"}

    assert [c.text for c in await backend.document_chunks(A, "menu")] == [
        "new dentist appointment rules",
        "new emergency phone line",
    ]
    assert await backend.count_chunks(A) == 2


async def test_replace_returns_how_many_old_chunks_it_removed(backend: KnowledgeBackend) -> None:
    assert await store(backend, A, old_version()) == 0
    assert await store(backend, A, new_version()) == 3
    # Chunk ids that share nothing with the stored version: still all replaced.
    renamed = [replace(c, chunk_id=f"menu-v3-{c.position}") for c in old_version()]
    assert await store(backend, A, renamed) == 2
    assert await backend.count_chunks(A) == 3
    assert {c.chunk_id for c in await backend.document_chunks(A, "menu")} == {
        "menu-v3-0",
        "menu-v3-1",
        "menu-v3-2",
    }


async def test_replacing_twice_with_the_same_chunks_is_idempotent(
    backend: KnowledgeBackend,
) -> None:
    chunks = old_version()
    await store(backend, A, chunks)
    assert await store(backend, A, chunks) == 3  # a retry: replaces the 3 it wrote
    assert await backend.count_chunks(A) == 3
    assert [c.chunk_id for c in await backend.document_chunks(A, "menu")] == [
        "menu-0",
        "menu-1",
        "menu-2",
    ]


async def test_concurrent_replaces_of_different_documents(backend: KnowledgeBackend) -> None:
    docs = [
        [chunk(f"doc{i}", p, f"text {i} {p}", vec(i + 1, p + 1)) for p in range(3)]
        for i in range(5)
    ]
    removed = await asyncio.gather(*(store(backend, A, chunks) for chunks in docs))
    assert removed == [0] * 5
    assert await backend.count_chunks(A) == 15
    assert sorted(d.document_id for d in await backend.list_documents(A)) == [
        f"doc{i}" for i in range(5)
    ]


# ---------------------------------------------------------------------- documents


async def test_get_and_list_documents(backend: KnowledgeBackend) -> None:
    menu = old_version()
    hours = [chunk("hours", 0, "open daily from nine", axis(5), source="https://x.test/hours")]
    menu_doc = document("menu", menu)
    hours_doc = document("hours", hours, source="https://x.test/hours", content_hash="h-1")
    await backend.replace_document(A, menu_doc, menu)
    await backend.replace_document(A, hours_doc, hours)

    assert await backend.get_document(A, "menu") == menu_doc
    assert await backend.get_document(A, "hours") == hours_doc
    assert await backend.get_document(A, "nope") is None
    listed = sorted(await backend.list_documents(A), key=lambda d: d.document_id)
    assert listed == [hours_doc, menu_doc]

    # Replacing updates the record too.
    newer = document("menu", new_version(), when=WHEN.replace(year=2026))
    await backend.replace_document(A, newer, new_version())
    assert await backend.get_document(A, "menu") == newer
    assert len(await backend.list_documents(A)) == 2


async def test_delete_document(backend: KnowledgeBackend) -> None:
    await store(backend, A, old_version())
    keep = [chunk("hours", 0, "open daily from nine", axis(5))]
    await store(backend, A, keep)

    assert await backend.delete_document(A, "menu") is True
    assert await backend.get_document(A, "menu") is None
    assert [d.document_id for d in await backend.list_documents(A)] == ["hours"]
    assert await backend.document_chunks(A, "menu") == []
    assert await backend.count_chunks(A) == 1
    hits = await backend.search(A, axis(0), "apricot orchard", top_k=10)
    assert {h.document_id for h in hits} <= {"hours"}

    assert await backend.delete_document(A, "menu") is False
    assert await backend.delete_document(A, "never-stored") is False
    assert [c.chunk_id for c in await backend.document_chunks(A, "hours")] == ["hours-0"]


async def test_document_chunks_come_in_position_order(backend: KnowledgeBackend) -> None:
    shuffled = [
        chunk("guide", 3, "step three", axis(3), heading="Steps"),
        chunk("guide", 0, "introduction", axis(0), heading="Intro"),
        chunk("guide", 4, "step four", axis(4), heading="Steps"),
        chunk("guide", 1, "step one", axis(1), heading="Steps"),
        chunk("guide", 2, "step two", axis(2), heading="Steps"),
    ]
    await store(backend, A, shuffled)
    stored = await backend.document_chunks(A, "guide")
    assert [c.text for c in stored] == [
        "introduction",
        "step one",
        "step two",
        "step three",
        "step four",
    ]
    assert stored[0] == ScoredChunk(
        chunk_id="guide-0",
        document_id="guide",
        source="guide.md",
        heading="Intro",
        text="introduction",
        score=0.0,
    )
    assert all(c.score == 0 for c in stored)
    assert await backend.document_chunks(A, "other") == []


# ---------------------------------------------------------------------- ranking and filters


def fan() -> list[ChunkRecord]:
    """Five chunks at known, distinct angles from ``axis(0)``."""
    return [
        chunk("fan", 0, "lantern", vec(1.0, 0.0)),  # cosine 1
        chunk("fan", 1, "harbour", vec(1.0, 0.5)),  # 0.894
        chunk("fan", 2, "meadow", vec(1.0, 1.0)),  # 0.707
        chunk("fan", 3, "glacier", vec(0.5, 1.0)),  # 0.447
        chunk("fan", 4, "orchid", vec(0.0, 1.0)),  # 0
    ]


async def test_top_k_is_respected_and_ranking_follows_the_vector(
    backend: KnowledgeBackend,
) -> None:
    chunks = fan()
    await store(backend, A, list(reversed(chunks)))  # storage order must not matter
    query = axis(0)
    expected = [c.chunk_id for c in sorted(chunks, key=lambda c: -cosine(query, c.vector))]

    for top_k in (1, 2, 3):
        hits = await backend.search(A, query, NO_WORDS, top_k=top_k)
        assert ids(hits) == expected[:top_k]
    hits = await backend.search(A, query, NO_WORDS, top_k=3)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[-1]
    assert len(await backend.search(A, query, NO_WORDS, top_k=50)) <= 5


async def test_text_and_vector_pointing_at_one_chunk_rank_it_first(
    backend: KnowledgeBackend,
) -> None:
    await store(backend, A, fan())
    hits = await backend.search(A, vec(0.5, 1.0), "glacier", top_k=3)
    assert hits[0].chunk_id == "fan-3"
    assert hits[0].text == "glacier"
    assert hits[0].source == "fan.md"


async def test_document_ids_filter(backend: KnowledgeBackend) -> None:
    near = [chunk("near", 0, "lantern", axis(0))]
    far = [chunk("far", 0, "harbour", vec(0.2, 1.0)), chunk("far", 1, "meadow", axis(1))]
    await store(backend, A, near)
    await store(backend, A, far)

    unfiltered = await backend.search(A, axis(0), NO_WORDS, top_k=5)
    assert unfiltered[0].chunk_id == "near-0"
    only_far = await backend.search(A, axis(0), NO_WORDS, top_k=5, document_ids=["far"])
    assert ids(only_far) == ["far-0", "far-1"]
    both = await backend.search(A, axis(0), NO_WORDS, top_k=5, document_ids=["far", "near"])
    assert both[0].chunk_id == "near-0"
    assert {h.document_id for h in both} == {"near", "far"}
    assert await backend.search(A, axis(0), NO_WORDS, top_k=5, document_ids=["missing"]) == []
    assert await backend.search(A, axis(0), NO_WORDS, top_k=5, document_ids=[]) == []


# ---------------------------------------------------------------------- tenants


async def test_tenant_isolation_with_identical_content(backend: KnowledgeBackend) -> None:
    """Same document id, chunk ids, text and vectors in two businesses; only the source tells
    them apart. Nothing of one business is ever visible to the other."""
    for business in (A, B):
        chunks = [replace(c, source=f"{business}-site") for c in old_version()]
        await backend.replace_document(business, document("menu", chunks), chunks)
    only_a = [chunk("extra", 0, "old apricot orchard tart", axis(0), source=f"{A}-site")]
    await store(backend, A, only_a)

    for business, other in ((A, B), (B, A)):
        hits = await backend.search(business, axis(0), "apricot orchard", top_k=20)
        assert hits
        assert {h.source for h in hits} == {f"{business}-site"}, f"{other} leaked into {business}"
        stored = await backend.document_chunks(business, "menu")
        assert {c.source for c in stored} == {f"{business}-site"}
    assert await backend.count_chunks(A) == 4
    assert await backend.count_chunks(B) == 3
    assert await backend.get_document(B, "extra") is None
    assert [d.document_id for d in await backend.list_documents(B)] == ["menu"]

    # Deleting in one business leaves the other's identical document alone.
    assert await backend.delete_document(B, "menu") is True
    assert await backend.count_chunks(B) == 0
    assert await backend.count_chunks(A) == 4
    assert len(await backend.document_chunks(A, "menu")) == 3
    assert await backend.search(B, axis(0), "apricot orchard", top_k=20) == []

    # Replacing in one business does not remove the other's chunks either.
    await store(backend, B, new_version())
    assert await store(backend, A, new_version()) == 3
    assert await backend.count_chunks(B) == 2


async def test_unknown_business_is_empty(backend: KnowledgeBackend) -> None:
    await store(backend, A, old_version())
    ghost = "never-seen"
    assert await backend.search(ghost, axis(0), "apricot", top_k=5) == []
    assert await backend.list_documents(ghost) == []
    assert await backend.get_document(ghost, "menu") is None
    assert await backend.document_chunks(ghost, "menu") == []
    assert await backend.count_chunks(ghost) == 0
    assert await backend.delete_document(ghost, "menu") is False
    assert await backend.count_chunks(ghost) == 0  # reading created nothing visible


async def test_count_chunks(backend: KnowledgeBackend) -> None:
    assert await backend.count_chunks(A) == 0
    await store(backend, A, old_version())
    await store(backend, A, [chunk("hours", 0, "open daily", axis(5))])
    assert await backend.count_chunks(A) == 4
    await store(backend, A, new_version())
    assert await backend.count_chunks(A) == 3
    await backend.delete_document(A, "hours")
    assert await backend.count_chunks(A) == 2


# ---------------------------------------------------------------------- relevance and "no answer"

GUIDE = "Brightwater customer guide"
#: Orthogonal to every chunk of guide(): queries lean on it to get a chosen cosine.
ELSEWHERE = axis(7)
#: Float rounding of stored vectors (f16 in the embedded index).
ROUNDING = 0.005


def guide() -> list[ChunkRecord]:
    """A titled document with section paths; no chunk says "do", "you", "sell", "kitchen",
    "cabinets" or "kettles"."""

    def part(position: int, heading: str, text: str, direction: int) -> ChunkRecord:
        return chunk("guide", position, text, axis(direction), source=GUIDE, heading=heading)

    return [
        part(0, "Frequently asked questions > Payment", "Cash and credit cards.", 0),
        part(1, "Opening hours", "Monday to Friday, eight until six.", 1),
        part(2, "Service area", "The whole county and the islands.", 2),
        part(3, "Emergencies", "A plumber on call at night for burst pipes.", 3),
        part(4, "Prices > Callout", "A standard callout costs ninety pounds.", 4),
        part(5, "Guarantee", "Twelve months on parts and labour.", 5),
    ]


def local_threshold(backend: KnowledgeBackend) -> float:
    """The threshold the service applies on ``backend`` with the local embedder."""
    chosen = threshold_for(f"local/{LOCAL_MODEL}", backend.name)
    assert chosen.value is not None, f"{backend.name}: {chosen.basis}"
    return chosen.value


def service(
    backend: KnowledgeBackend, threshold: float, queries: dict[str, Vector]
) -> KnowledgeService:
    """The knowledge service on ``backend``, its embedder scripted with the queries' vectors."""
    directory = BusinessDirectory(
        [BusinessProfile(business_id=A, name="Acme Plumbing", phone_numbers=["+15550100"])]
    )
    return KnowledgeService(
        backend, ScriptedEmbedder(queries), directory, relevance_threshold=threshold
    )


async def test_an_unrelated_question_is_told_no_answer(backend: KnowledgeBackend) -> None:
    threshold = local_threshold(backend)
    await store(backend, A, guide())
    queries = {
        # No word in common; the nearest chunk a little below the threshold by cosine.
        "do you sell kitchen cabinets": toward(axis(1), threshold - 0.05, ELSEWHERE),
        # One word in common ("callout"), the vector far from everything.
        "do you sell callout kettles": toward(axis(4), 0.1, ELSEWHERE),
    }
    knowledge = service(backend, threshold, queries)
    for text in queries:
        best = (await backend.search(A, queries[text], text, top_k=3))[0]
        assert best.score < threshold, (text, best)
        reply = await knowledge.query(KnowledgeQuery(business_id=A, text=text))
        assert reply.no_answer, (text, reply)
        assert reply.hits == []
        assert reply.relevance_threshold == threshold


async def test_a_matching_question_passes_with_its_title_and_section(
    backend: KnowledgeBackend,
) -> None:
    threshold = local_threshold(backend)
    await store(backend, A, guide())
    # A paraphrase: a modest cosine (as a real embedder gives one), a word or two in common.
    text = "um can I pay by credit card"
    queries = {text: toward(axis(0), 0.35, ELSEWHERE)}
    best = (await backend.search(A, queries[text], text, top_k=3))[0]
    assert best.chunk_id == "guide-0"
    assert best.score >= threshold

    reply = await service(backend, threshold, queries).query(
        KnowledgeQuery(business_id=A, text=text)
    )
    assert not reply.no_answer
    assert all(hit.score >= threshold for hit in reply.hits)
    top = reply.hits[0]
    assert (top.source, top.heading) == (GUIDE, "Frequently asked questions > Payment")
    assert (top.document_id, top.text) == ("guide", "Cash and credit cards.")


async def test_search_hits_carry_the_document_title_and_section_path(
    backend: KnowledgeBackend,
) -> None:
    await store(backend, A, guide())
    hits = await backend.search(A, axis(4), "standard callout", top_k=6)
    by_id = {hit.chunk_id: hit for hit in hits}
    assert hits[0].chunk_id == "guide-4"
    for stored in guide():
        if stored.chunk_id in by_id:
            found = by_id[stored.chunk_id]
            assert (found.source, found.heading) == (GUIDE, stored.heading)


async def test_scores_are_on_the_shared_absolute_scale(backend: KnowledgeBackend) -> None:
    """Plain cosine when the words match nothing; alpha * cosine plus at most 1 - alpha."""
    await store(backend, A, guide())
    query = toward(axis(3), 0.6, ELSEWHERE)
    (by_vector,) = await backend.search(A, query, NO_WORDS, top_k=1)
    assert by_vector.chunk_id == "guide-3"
    assert by_vector.score == pytest.approx(0.6, abs=ROUNDING)

    hits = await backend.search(A, query, "burst pipes", top_k=6)
    assert hits[0].chunk_id == "guide-3"
    assert (
        DEFAULT_ALPHA * 0.6 - ROUNDING <= hits[0].score < DEFAULT_ALPHA * 0.6 + (1 - DEFAULT_ALPHA)
    )
    assert hits[0].score > DEFAULT_ALPHA * 0.6  # the words count, a little
    for hit in hits[1:]:  # orthogonal and no word in common: nothing
        assert hit.score == pytest.approx(0.0, abs=ROUNDING)


async def test_a_chunks_score_does_not_depend_on_what_else_is_stored(
    backend: KnowledgeBackend,
) -> None:
    """The same query scores the same chunk alike with and without a far better competitor
    (relative fusion lifted the best of a weak set to about 1.0). Only BM25's corpus
    statistics may move it, and the words weigh little."""
    query = toward(axis(3), 0.6, ELSEWHERE)
    await store(backend, A, guide())
    await store(backend, B, guide())
    await store(backend, B, [chunk("rival", 0, "Harps mended.", query, source="Rival")])

    for text, moves in ((NO_WORDS, ROUNDING), ("burst pipes", 0.02)):
        alone = await backend.search(A, query, text, top_k=3)
        crowded = await backend.search(B, query, text, top_k=3)
        assert alone[0].chunk_id == "guide-3"
        assert alone[0].score < 0.7, "a weak best hit stays weak"
        assert crowded[0].chunk_id == "rival-0"  # cosine 1, its words unmatched
        assert crowded[0].score >= DEFAULT_ALPHA - ROUNDING
        shared = next(hit for hit in crowded if hit.chunk_id == "guide-3")
        assert shared.score == pytest.approx(alone[0].score, abs=moves), text


async def test_a_sections_matching_chunks_come_back_as_one_passage(
    backend: KnowledgeBackend,
) -> None:
    """A long section's three chunks all lean toward the question; the reply gives them as one
    passage, in document order, and fills the other places with other sections (the chunks
    of one section no longer crowd the few results the agent hands the model)."""
    threshold = local_threshold(backend)
    section = "Repairs > Boilers"
    steps = ["Boilers are serviced once a year.", "We bring the parts.", "It takes an hour."]
    long_section = [
        chunk(
            "guide",
            6 + n,
            text,
            toward(axis(6), 0.9 - n / 20, ELSEWHERE),
            source=GUIDE,
            heading=section,
        )
        for n, text in enumerate(steps)
    ]
    await store(backend, A, guide() + long_section)
    text = "how often do you service a boiler"
    # Cosines: the section's chunks 0.72, 0.68, 0.64; "Opening hours" 0.6; the rest 0.
    queries = {text: toward(axis(6), 0.8, axis(1))}
    reply = await service(backend, threshold, queries).query(
        KnowledgeQuery(business_id=A, text=text, top_k=2)
    )
    assert [hit.heading for hit in reply.hits] == [section, "Opening hours"]
    assert reply.hits[0].text == "\n\n".join(steps)
    assert reply.hits[0].chunk_id == "guide-6"  # its best chunk
