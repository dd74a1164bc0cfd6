"""model_listing: a server's GET /v1/models listing compared with the catalog."""

from __future__ import annotations

import datetime as dt

import pytest

from gptimage_widgets.catalog import list_models
from gptimage_widgets.model_listing import compare_listing, model_stem

DAY = dt.date(2026, 12, 6)


@pytest.mark.parametrize(
    ("model_id", "stem"),
    [
        ("gpt-image-2.6-flare", "gpt-image"),
        ("gpt-image-1-mini", "gpt-image"),
        ("dall-e-3", "dall-e"),
        ("chatgpt-image-latest", "chatgpt-image"),
        ("GPT-Image-9-test", "gpt-image"),
        ("whisper", "whisper"),
    ],
)
def test_model_stem(model_id: str, stem: str) -> None:
    assert model_stem(model_id) == stem


def test_catalog_models_are_matched_by_name_or_alias() -> None:
    report = compare_listing([{"id": "gpt-image-2-2026-04-21"}, {"id": "dall-e-3"}], DAY)
    assert [(s.name, listed) for s, listed in report.usable] == [
        ("gpt-image-2", "gpt-image-2-2026-04-21"),
        ("dall-e-3", "dall-e-3"),
    ]
    assert len(report.unlisted) == len(list_models(include_shutdown=True)) - 2
    assert report.missing == () and report.listed == 2


def test_only_image_looking_unknown_ids_are_suggested() -> None:
    ids = ["gpt-4o", "tts-1", "gpt-image-7", "dall-e-4", "gpt-image-2.6-flare-2026-11-04", 42]
    report = compare_listing(ids, DAY)
    suggested = {s.model_id: s.base for s in report.missing}
    assert set(suggested) == {"gpt-image-7", "dall-e-4", "gpt-image-2.6-flare-2026-11-04"}
    assert suggested["gpt-image-2.6-flare-2026-11-04"] == "gpt-image-2.6-flare"  # a snapshot
    assert suggested["dall-e-4"].startswith("dall-e")
    assert report.missing[0].entry == {"name": "gpt-image-7", "base": suggested["gpt-image-7"]}


def test_a_suggested_base_is_not_shut_down_when_its_family_has_a_live_model() -> None:
    report = compare_listing(["gpt-image-1-maxi"], DAY)
    base = report.missing[0].base
    spec = next(s for s in list_models(include_shutdown=True) if s.name == base)
    assert spec.status_on(DAY) != "shutdown"
