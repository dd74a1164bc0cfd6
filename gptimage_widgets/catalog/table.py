"""The README's model table, generated from the catalog (a docs tool).

:func:`models_markdown_table` renders the registered models as Markdown;
:func:`replace_readme_block` puts a table between the README's ``models-table`` markers.
``python -m gptimage_widgets.catalog --update-readme README.md`` does both
(``gptimage_widgets/catalog/__main__.py``); ``tests/test_readme_models_table.py`` fails when
README.md drifts from ``models.json``. Pure module: stdlib only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence

from ..errors import ValidationError
from .lifecycle import status_label
from .registry import list_models
from .specs import ModelSpec

__all__ = [
    "README_END",
    "README_START",
    "main",
    "models_markdown_table",
    "replace_readme_block",
]

#: The markers around the generated table in README.md.
README_START = "<!-- models-table:start -->"
README_END = "<!-- models-table:end -->"


def _sizes_cell(m: ModelSpec) -> str:
    parts = list(m.size_choices)
    if m.custom_size:
        parts.append("custom WxH")
    return ", ".join(parts)


def _n_cell(m: ModelSpec) -> str:
    n = m.params.get("n")
    if n is None or n.minimum is None or n.maximum is None:
        return "1"
    return str(n.minimum) if n.minimum == n.maximum else f"{n.minimum}–{n.maximum}"


def _notable_cell(m: ModelSpec) -> str:
    notes = []
    if m.supports_transparent:
        notes.append("transparent background")
    if "input_fidelity" in m.params:
        notes.append("input_fidelity")
    if "style" in m.params:
        notes.append("style")
    if m.response_formats:
        notes.append("response_format")
    if m.streaming:
        notes.append("streaming")
    if m.supports_mask:
        notes.append("mask")
    if m.square_png_only:
        notes.append("square PNG inputs")
    return ", ".join(notes)


def _price_cell(m: ModelSpec) -> str:
    if m.pricing is None:
        return "unknown"
    prices = [
        (quality, sizes["1024x1024"])
        for quality, sizes in m.pricing.per_image.items()
        if "1024x1024" in sizes
    ]
    if not prices:
        return "unknown"
    return " / ".join(f"${usd:g} {quality}" for quality, usd in prices)


def models_markdown_table(models: Iterable[ModelSpec] | None = None) -> str:
    """The README's model table as Markdown.

    Parameters
    ----------
    models : iterable of ModelSpec, optional
        Defaults to :func:`list_models`.
    """
    header = ("model", "status", "operations", "sizes", "quality", "n", "notable params")
    rows = [
        "| " + " | ".join(header) + " | USD per 1024² image |",
        "|---" * (len(header) + 1) + "|",
    ]
    models = list_models() if models is None else list(models)
    for m in models:
        name = f"`{m.name}`" + "".join(f" (alias `{a}`)" for a in m.aliases)
        quality = m.params.get("quality")
        cells = [
            name,
            status_label(m),
            ", ".join(m.operations),
            _sizes_cell(m),
            ", ".join(map(str, quality.choices)) if quality else "",
            _n_cell(m),
            _notable_cell(m),
            _price_cell(m),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    as_of = sorted({m.pricing.as_of for m in models if m.pricing})
    footer = f"\nPrices are OpenAI list prices as of {', '.join(as_of)}." if as_of else ""
    return "\n".join(rows) + "\n" + footer + ("\n" if footer else "")


def replace_readme_block(readme: str, table: str) -> str:
    """``readme`` with the text between the models-table markers replaced by ``table``.

    Raises
    ------
    ValidationError
        When the markers are missing or out of order.
    """
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ValidationError(
            f"README has no {README_START} ... {README_END} block; add both markers",
            param="readme",
        )
    head = readme[: start + len(README_START)]
    return f"{head}\n{table.rstrip()}\n{readme[end:]}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gptimage_widgets.catalog --markdown | --json | --update-readme PATH``."""
    parser = argparse.ArgumentParser(prog="python -m gptimage_widgets.catalog")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print the README model table")
    group.add_argument("--json", action="store_true", help="print every model as JSON")
    group.add_argument("--update-readme", metavar="PATH", help="rewrite the table block in PATH")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(models_markdown_table())
    elif args.json:
        json.dump([m.to_dict() for m in list_models()], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        with open(args.update_readme, encoding="utf-8") as f:
            text = f.read()
        with open(args.update_readme, "w", encoding="utf-8") as f:
            f.write(replace_readme_block(text, models_markdown_table()))
    return 0
