"""README's model table is generated from the catalog; this fails when the two drift apart.

Fix a failure with ``python -m gptimage_widgets.catalog --update-readme README.md``.
"""

from __future__ import annotations

from pathlib import Path

from gptimage_widgets.catalog import load_builtin_models, models_markdown_table
from gptimage_widgets.catalog.table import README_END, README_START

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(readme: str) -> str:
    """The text between the models-table markers (stripped), or ``""`` without markers."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        return ""
    return readme[start + len(README_START) : end].strip()


def test_readme_table_matches_the_catalog() -> None:
    block = readme_block(README.read_text(encoding="utf-8"))
    expected = models_markdown_table(load_builtin_models()).strip()
    assert block, "README.md lacks the <!-- models-table:start/end --> block"
    assert block == expected, (
        "README's model table drifted from models.json; run "
        "`python -m gptimage_widgets.catalog --update-readme README.md`"
    )


def test_every_builtin_model_has_a_readme_row() -> None:
    block = readme_block(README.read_text(encoding="utf-8"))
    for spec in load_builtin_models():
        assert f"| `{spec.name}`" in block
