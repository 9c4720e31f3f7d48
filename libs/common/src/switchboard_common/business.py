"""Businesses (tenants): who answers which number, and how.

For now the directory is a JSON file (``SWITCHBOARD_BUSINESSES_FILE``) or the embedded demo
business; a later step moves it into a JetStream key-value bucket with live reload.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .ids import BusinessId


class BusinessProfile(BaseModel):
    """How one business's calls are answered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    business_id: BusinessId
    name: str = Field(min_length=1)
    phone_numbers: list[str] = Field(min_length=1, description="E.164 numbers this business owns.")
    instructions: str = "You are a friendly, concise phone receptionist."
    greeting: str = "Hello, thanks for calling. How can I help?"
    voice: str = "marin"
    language: str = "en"
    enabled_tools: list[str] = Field(
        default_factory=lambda: ["query_knowledge_base", "take_message", "get_current_time"]
    )
    timezone: str = "UTC"


DEMO_BUSINESS = BusinessProfile(
    business_id="bellas-bistro",
    name="Bella's Bistro",
    phone_numbers=["+15550100"],
    instructions=(
        "You answer the phone for Bella's Bistro, an Italian restaurant. Be warm and brief. "
        "Answer questions about the restaurant from the knowledge base (query_knowledge_base), "
        "never from memory. Take a message with the take_message tool when the caller wants "
        "to reach the manager."
    ),
    greeting="Thanks for calling Bella's Bistro, this is the virtual host. How can I help?",
    timezone="Europe/Rome",
)


class BusinessDirectory:
    """Looks businesses up by id or by the number that was called."""

    def __init__(self, businesses: list[BusinessProfile]) -> None:
        self._by_id = {b.business_id: b for b in businesses}
        self._by_number = {n: b for b in businesses for n in b.phone_numbers}

    @classmethod
    def load(cls, path: Path | None) -> BusinessDirectory:
        """Read a JSON list of profiles, or fall back to the embedded demo business."""
        if path is None:
            return cls([DEMO_BUSINESS])
        raw = json.loads(path.read_text())
        return cls([BusinessProfile.model_validate(item) for item in raw])

    def by_number(self, number: str) -> BusinessProfile | None:
        return self._by_number.get(number)

    def get(self, business_id: str) -> BusinessProfile | None:
        return self._by_id.get(business_id)
