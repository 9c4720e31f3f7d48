"""Rendering: the Jinja2 templates shipped in this package, and small display helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from .auth import Principal

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
#: Where the console is mounted in the gateway.
PREFIX = "/console"


def mask_number(number: str) -> str:
    """A caller's number as the console shows it: the country code and the last two digits."""
    if not number:
        return "unknown"
    if len(number) <= 5:
        return "•" * len(number)
    keep = 3 if number.startswith("+") else 0
    return number[:keep] + "•" * (len(number) - keep - 2) + number[-2:]


def duration(seconds: float) -> str:
    total = max(0, int(seconds))
    minutes, secs = divmod(total, 60)
    return f"{minutes}:{secs:02d}"


def since(started: datetime, now: datetime | None = None) -> str:
    return duration(((now or datetime.now(UTC)) - started).total_seconds())


def clock(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(mask=mask_number, duration=duration, since=since, clock=clock)
_env.globals["prefix"] = PREFIX


def fragment(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def page(
    request: Request,
    template: str,
    principal: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = _env.get_template(template).render(
        request=request, principal=principal, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status_code)
