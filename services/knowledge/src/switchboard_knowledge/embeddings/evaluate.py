"""Speed and retrieval-quality figures for any :class:`Embedder` (the bench calls this).

The quality check is a small hand-written set: FAQ-style passages of three fictional
businesses and paraphrased caller questions, each with the one passage that answers it.
Every question is searched over *all* passages (not only its own business's), which is
harder than production, where the search is per business.

Run it by hand: ``uv run python -m switchboard_knowledge.embeddings.evaluate [local|openai]``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

from .base import Embedder

#: (passage id, text). Ids: d = dental clinic, p = pizzeria, h = plumbing company.
PASSAGES: tuple[tuple[str, str], ...] = (
    (
        "d-hours",
        "Bright Smile Dental is open Monday to Friday from 8am to 6pm and on "
        "Saturdays from 9am to 1pm. We are closed on Sundays and public holidays.",
    ),
    (
        "d-insurance",
        "We accept most major dental insurance plans, including Delta Dental, "
        "Cigna and Aetna. Patients without coverage can join our in-house savings plan.",
    ),
    (
        "d-emergency",
        "If you have a dental emergency such as a knocked-out tooth or severe "
        "swelling, call us right away; we keep same-day slots free for urgent cases.",
    ),
    (
        "d-whitening",
        "Professional teeth whitening takes about one hour in the chair and "
        "costs $350. Take-home whitening trays are also available for $200.",
    ),
    (
        "d-cancel",
        "Please give us at least 24 hours notice to cancel or reschedule an "
        "appointment. Late cancellations are charged a $50 fee.",
    ),
    (
        "d-parking",
        "Free parking is available behind the building, and the clinic is a "
        "five-minute walk from the Elm Street bus stop.",
    ),
    (
        "d-kids",
        "We see children from their first birthday. Our pediatric hygienist makes "
        "the first visit fun, and kids get a sticker and a new toothbrush.",
    ),
    (
        "p-delivery",
        "Luigi's Pizzeria delivers within three miles of the restaurant. "
        "Delivery is free on orders over $25, otherwise there is a $4 charge.",
    ),
    (
        "p-glutenfree",
        "We offer a gluten-free crust on any medium pizza for an extra $3. "
        "It is prepared in a shared kitchen, so we cannot guarantee it is free of traces.",
    ),
    (
        "p-hours",
        "The pizzeria is open every day from 11am until 10pm, and until midnight "
        "on Fridays and Saturdays.",
    ),
    (
        "p-vegan",
        "Our vegan options include a marinara pizza and a garden pizza with "
        "dairy-free cheese made from cashews.",
    ),
    (
        "p-catering",
        "For parties and office events we cater for groups of 20 or more. "
        "Please order at least two days in advance.",
    ),
    (
        "p-payment",
        "We take cash, all major credit cards, Apple Pay and Google Pay. Checks are not accepted.",
    ),
    (
        "p-reservations",
        "Tables can be booked for groups of six or more; smaller groups "
        "are seated on a walk-in basis.",
    ),
    (
        "h-emergency",
        "QuickFix Plumbing runs a 24/7 emergency service for burst pipes and "
        "flooding. A technician usually arrives within 90 minutes.",
    ),
    (
        "h-pricing",
        "Our call-out fee is $79, which covers the first 30 minutes of labor. "
        "After that we charge $45 for every additional half hour.",
    ),
    (
        "h-area",
        "We serve the whole of Springfield county, including Shelbyville and "
        "Ogdenville. Outside the county a travel surcharge applies.",
    ),
    (
        "h-waterheater",
        "We install and repair gas and electric water heaters and tankless "
        "systems. Most replacements are finished in a single day.",
    ),
    (
        "h-license",
        "All of our plumbers are fully licensed and insured, and every repair "
        "comes with a one-year workmanship guarantee.",
    ),
    (
        "h-drains",
        "Blocked drains are cleared with a high-pressure water jet, and we can "
        "inspect your sewer line with a camera to find the cause.",
    ),
    (
        "h-estimate",
        "We give free written estimates for bigger jobs such as bathroom "
        "renovations and repiping. Book a visit and we will quote on site.",
    ),
)

#: (caller question, id of the passage that answers it). Paraphrased: few shared words.
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("Can I come in for a check-up on a Saturday morning?", "d-hours"),
    ("Do you take my Aetna coverage?", "d-insurance"),
    ("My son just broke his front tooth playing football, what should I do?", "d-emergency"),
    ("How much do you charge to make my teeth whiter?", "d-whitening"),
    ("What happens if I can't make it to my appointment tomorrow?", "d-cancel"),
    ("Where can I leave my car when I visit?", "d-parking"),
    ("At what age can my toddler see a dentist?", "d-kids"),
    ("Will you bring the food to my house, and is there a fee?", "p-delivery"),
    ("I have celiac disease, is there anything I can eat?", "p-glutenfree"),
    ("How late are you serving tonight, it's Friday?", "p-hours"),
    ("I don't eat any animal products, what can I order?", "p-vegan"),
    ("Could you do food for our company's summer party of 40 people?", "p-catering"),
    ("Can I pay with my phone?", "p-payment"),
    ("Can I reserve a table for two tonight?", "p-reservations"),
    ("Water is pouring out of a pipe in my basement at 3am, can someone come?", "h-emergency"),
    ("What does it cost to have a plumber come out?", "h-pricing"),
    ("Do you work in Shelbyville?", "h-area"),
    ("I have no hot water, can you replace my boiler tank?", "h-waterheater"),
    ("Are your workers certified, and is the work guaranteed?", "h-license"),
    ("My kitchen sink won't empty, can you unclog it?", "h-drains"),
    ("How much would it be to redo my bathroom pipes? Do you quote for free?", "h-estimate"),
)

#: A chunk-sized text (~120 words, near the default 200-token chunk) for throughput figures.
_CHUNK = (
    "Our clinic offers a full range of general and cosmetic dentistry. A routine visit "
    "includes an exam, a professional cleaning, and X-rays when they are due. We explain "
    "every treatment plan before we start, with a written estimate of what your insurance "
    "is expected to cover and what you will pay yourself. Payment plans are available for "
    "larger treatments such as crowns, bridges and implants, and we accept all major "
    "credit cards. If you are nervous about dental work, tell us when you book: we can "
    "schedule a longer appointment, offer headphones and a blanket, and discuss sedation "
    "options with you. New patients should arrive fifteen minutes early to fill in a "
    "short health questionnaire and to show a photo ID and insurance card at the front desk."
)


@dataclass(frozen=True)
class RetrievalScore:
    top1: float
    top3: float
    misses: list[tuple[str, str, str]]  # (question, expected, got)


async def retrieval_quality(embedder: Embedder) -> RetrievalScore:
    """Top-1 / top-3 accuracy of the questions against all passages (cosine)."""
    ids = [pid for pid, _ in PASSAGES]
    docs = await embedder.embed([text for _, text in PASSAGES])
    queries = await embedder.embed([q for q, _ in QUESTIONS])
    scores = queries @ docs.T
    top1 = top3 = 0
    misses: list[tuple[str, str, str]] = []
    for row, (question, expected) in zip(scores, QUESTIONS, strict=True):
        order = [ids[i] for i in np.argsort(-row)]
        top1 += order[0] == expected
        top3 += expected in order[:3]
        if order[0] != expected:
            misses.append((question, expected, order[0]))
    n = len(QUESTIONS)
    return RetrievalScore(top1 / n, top3 / n, misses)


async def speed(embedder: Embedder, *, queries: int = 30, batches: int = 3) -> dict[str, float]:
    """Latency of one short query text, and throughput of batches of 64 chunk-sized texts.

    Distinct texts each time, so a cache in front of the embedder does not flatter it.
    """
    await embedder.embed(["warm-up"])  # loads the model, if that is lazy
    latencies: list[float] = []
    for i in range(queries):
        text = f"{QUESTIONS[i % len(QUESTIONS)][0]} ({i})"
        started = time.perf_counter()
        await embedder.embed([text])
        latencies.append((time.perf_counter() - started) * 1000.0)
    elapsed = 0.0
    for b in range(batches):
        texts = [f"{_CHUNK} (chunk {b}-{i})" for i in range(64)]
        started = time.perf_counter()
        await embedder.embed(texts)
        elapsed += time.perf_counter() - started
    return {
        "query_ms_median": statistics.median(latencies),
        "query_ms_p95": sorted(latencies)[max(0, int(len(latencies) * 0.95) - 1)],
        "batch64_texts_per_s": batches * 64 / elapsed,
    }


async def evaluate(embedder: Embedder) -> dict[str, object]:
    """All the figures for one embedder, as a JSON-able dict."""
    quality = await retrieval_quality(embedder)
    figures = await speed(embedder)
    return {
        "model": embedder.name,
        "dimensions": embedder.dimensions,
        "passages": len(PASSAGES),
        "questions": len(QUESTIONS),
        "top1": round(quality.top1, 3),
        "top3": round(quality.top3, 3),
        "misses": quality.misses,
        **{k: round(v, 2) for k, v in figures.items()},
    }


def main() -> None:  # pragma: no cover - a manual tool
    from ..settings import KnowledgeSettings
    from . import make_embedder

    kind = sys.argv[1] if len(sys.argv) > 1 else "local"
    settings = KnowledgeSettings(embedder=kind, embedding_cache=False)  # type: ignore[arg-type]
    result = asyncio.run(evaluate(make_embedder(settings)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
