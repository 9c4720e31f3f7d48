"""The web console: the operators' pages, served by the gateway under ``/console``
(docs/console.md says why there). Server-rendered Jinja2 pages, a small script shipped in
``static/`` for live updates (server-sent events) and upload progress; nothing is fetched at
run time."""

from .app import include_console, open_console

__all__ = ["include_console", "open_console"]
