"""The Batch API's limits and price live once, in the catalog (models.json ``batch_api``)."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import pytest

from gptimage_widgets import catalog
from gptimage_widgets.batch_lines import Chunker, batch_operations
from gptimage_widgets.catalog import batch as catalog_batch
from gptimage_widgets.catalog.batch import limits_from_dict
from gptimage_widgets.errors import ValidationError
from gptimage_widgets.offline import batchrun


def section() -> dict:
    text = resources.files("gptimage_widgets").joinpath("models.json").read_text("utf-8")
    return dict(json.loads(text)["batch_api"])


def test_the_limits_are_models_json_data_with_their_date() -> None:
    limits = catalog.batch_limits()
    assert limits.max_requests_per_file == 50_000
    assert limits.max_file_bytes == 200 * 1024 * 1024
    assert limits.max_image_url_chars == 20_971_520
    assert (limits.completion_window, limits.completion_window_s) == ("24h", 24 * 3600)
    assert limits.price_factor == 0.5
    assert limits.as_of == section()["as_of"] and limits.source
    assert batch_operations() == ("generate", "edit")
    assert set(batchrun.ENDPOINTS) == set(limits.endpoints)


def test_a_malformed_section_names_every_bad_field() -> None:
    bad = {**section(), "max_file_bytes": -1, "completion_window": "1 day", "price_factor": 2}
    with pytest.raises(ValidationError) as caught:
        limits_from_dict({**bad, "max_lines": 3})
    params = {p.param for p in caught.value.problems}
    assert {
        "batch_api.max_file_bytes",
        "batch_api.completion_window",
        "batch_api.price_factor",
        "batch_api.max_lines",
    } <= params


def test_client_and_offline_server_ask_the_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    small = replace(catalog.batch_limits(), max_requests_per_file=2, max_file_bytes=100)
    monkeypatch.setattr(catalog_batch, "_LIMITS", small)
    chunker = Chunker()
    assert (chunker.max_lines, chunker.max_bytes) == (2, 100)
    line = b'{"custom_id":"a","method":"POST","url":"/v1/images/generations","body":{}}\n'
    count, _, errors = batchrun.scan_input(line * 3, "/v1/images/generations")
    assert count == 0 and errors[0]["code"] == "file_too_large"
    monkeypatch.setattr(catalog_batch, "_LIMITS", replace(small, max_file_bytes=10_000))
    _, _, errors = batchrun.scan_input(line * 3, "/v1/images/generations")
    assert errors[0]["code"] == "too_many_tasks"
