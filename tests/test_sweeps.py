"""Sweep export: SweepResults (a list) -> arrays, params, records, CSV, save / load_sweep."""

from __future__ import annotations

import csv
import json
from typing import Any

import numpy as np
import pytest

import gptimage_widgets as giw
from gptimage_widgets.client import AsyncImageClient
from gptimage_widgets.errors import GPTImageError, ValidationError
from gptimage_widgets.plotting import plot_sweep
from gptimage_widgets.results import ImageResult
from gptimage_widgets.sweeps import MANIFEST_NAME, SweepResults, load_sweep


@pytest.fixture
async def sweep(offline_server: Any, tmp_path) -> SweepResults:
    async with AsyncImageClient(base_url=offline_server.base_url, history=tmp_path) as client:
        return await client.sweep(
            ["a red fox", "a blue fox"],
            grid={"quality": ["low", "high"]},
            model="gpt-image-1",
            size="1024x1024",
            progress=False,
        )


def fake(value: int, size: int = 8, **request: Any) -> ImageResult:
    image = np.full((size, size, 3), value, dtype=np.uint8)
    return ImageResult([image], model="gpt-image-1", request={"prompt": "p", **request})


async def test_sweep_returns_a_list_that_exports_itself(sweep: SweepResults) -> None:
    assert isinstance(sweep, list) and len(sweep) == 4
    arrays = sweep.arrays()
    assert isinstance(arrays, np.ndarray)
    assert arrays.shape == (4, 1024, 1024, 3) and arrays.dtype == np.uint8
    assert np.array_equal(arrays[2], sweep[2].images[0])
    params = sweep.params
    assert [p["prompt"] for p in params] == ["a red fox"] * 2 + ["a blue fox"] * 2
    assert [p["request"]["quality"] for p in params] == ["low", "high", "low", "high"]
    assert all(p["request"]["size"] == "1024x1024" for p in params)
    assert all(p["error"] is None and p["latency_s"] > 0 for p in params)
    assert all(p["request_id"] and isinstance(p["cost_usd"], float) for p in params)


async def test_records_csv_save_and_load_round_trip(sweep: SweepResults, tmp_path) -> None:
    records = sweep.to_records()
    assert [r["item"] for r in records] == [0, 1, 2, 3]
    assert records[1]["quality"] == "high" and records[1]["image"] == 0
    csv_path = sweep.to_csv(tmp_path / "out" / "sweep.csv")
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [row["quality"] for row in rows] == ["low", "high", "low", "high"]
    assert rows[0]["prompt"] == "a red fox" and rows[0]["error"] == ""
    manifest = sweep.save(tmp_path / "export")
    assert manifest.name == MANIFEST_NAME
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [line["file"] for line in lines] == [f"item-{i:05d}-0.png" for i in range(4)]
    loaded = load_sweep(tmp_path / "export")
    assert isinstance(loaded, SweepResults) and len(loaded) == 4
    assert np.array_equal(loaded.arrays(), sweep.arrays())
    assert [r.request["quality"] for r in loaded] == ["low", "high", "low", "high"]
    assert loaded.params[3]["request_id"] == sweep[3].request_id
    figure = plot_sweep(loaded, "prompt", "quality")
    assert len(figure.axes) == 4


def test_failures_and_mixed_sizes() -> None:
    results = SweepResults(
        [fake(1, quality="low"), GPTImageError("boom"), fake(2, size=4, quality="high")]
    )
    arrays = results.arrays()
    assert isinstance(arrays, list) and [a.shape for a in arrays] == [(8, 8, 3), (4, 4, 3)]
    assert results.errors[0][0] == 1 and len(results.ok) == 2
    assert results.params[1]["error"] == "GPTImageError: boom"
    records = results.to_records()
    assert [(r["item"], r["image"]) for r in records] == [(0, 0), (1, None), (2, 0)]
    assert len(plot_sweep(results, "prompt", "quality").axes) == 2  # the failure is skipped


def test_save_load_keeps_failures_and_several_images(tmp_path) -> None:
    two = ImageResult(
        [np.zeros((4, 4, 4), np.uint8), np.full((4, 4, 4), 9, np.uint8)],
        model="gpt-image-1",
        request={"prompt": "two", "n": 2},
        cost_usd=0.5,
    )
    results = SweepResults([two, GPTImageError("nope")])
    records = results.to_records()
    assert [r["cost_usd"] for r in records] == [0.25, 0.25, None]
    results.save(tmp_path)
    loaded = load_sweep(tmp_path)
    assert len(loaded[0].images) == 2 and loaded[0].cost_usd == pytest.approx(0.5)
    assert np.array_equal(loaded.arrays(), results.arrays())
    assert isinstance(loaded[1], GPTImageError) and "nope" in str(loaded[1])


def test_empty_sweep_and_bad_folder(tmp_path) -> None:
    assert SweepResults().arrays().shape == (0, 0, 0, 3)
    with pytest.raises(ValidationError, match="not a sweep manifest"):
        load_sweep(tmp_path)


def test_public_names() -> None:
    assert giw.load_sweep is load_sweep and giw.SweepResults is SweepResults
