"""README's model table is generated from the catalog; this fails when the two drift apart.

Fix a failure with ``python -m gptimage_widgets.catalog --update-readme README.md``.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from gptimage_widgets.catalog import lifecycle, load_builtin_models, models_markdown_table
from gptimage_widgets.catalog.table import README_END, README_START

README = Path(__file__).resolve().parents[1] / "README.md"
# Days around every lifecycle date in models.json, and far ahead: the table states dates,
# so it must read the same on any of them.
DAYS = [
    datetime.date(2026, 5, 11), datetime.date(2026, 5, 12), datetime.date(2026, 11, 30),
    datetime.date(2026, 12, 1), datetime.date(2026, 12, 10), datetime.date(2026, 12, 16),
    datetime.date(2031, 1, 1),
]  # fmt: skip


@pytest.fixture(params=DAYS, ids=str)
def day(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> datetime.date:
    """The catalog's clock set to each of :data:`DAYS` in turn."""
    value: datetime.date = request.param
    monkeypatch.setattr(lifecycle, "today", lambda: value)
    return value


def readme_block(readme: str) -> str:
    """The text between the models-table markers (stripped), or ``""`` without markers."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        return ""
    return readme[start + len(README_START) : end].strip()


def test_readme_table_matches_the_catalog(day: datetime.date) -> None:
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
