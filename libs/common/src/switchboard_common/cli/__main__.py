"""``python -m switchboard_common.cli``."""

from __future__ import annotations

from . import main

raise SystemExit(main())
