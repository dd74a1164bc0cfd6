"""``python -m gptimage_widgets.catalog``: print the model table or JSON, or update README.md."""

from __future__ import annotations

from .table import main

if __name__ == "__main__":
    raise SystemExit(main())
