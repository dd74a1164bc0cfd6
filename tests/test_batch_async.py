"""Batch API jobs from the async client (``AsyncImageClient.submit_batch``), against the
in-memory fake of the files/batches endpoints; the job logic is the sync job's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_batch_api import FakeBatchAPI, make_async_client, make_client, prompt_image
from image_helpers import box_mask, noise

from gptimage_widgets import load_sweep, retry
from gptimage_widgets.batch_async import AsyncBatchJob
from gptimage_widgets.errors import ModerationError, ValidationError


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instantly(seconds: float) -> None:
        return None

    monkeypatch.setattr(retry, "async_sleep", instantly)
    monkeypatch.setattr(retry, "sleep", lambda seconds: None)


def photo() -> np.ndarray:
    return noise(64, 64)


def square_mask() -> np.ndarray:
    return box_mask(64, 64, (16, 16, 48, 48))


async def test_async_job_prompts_and_a_masked_edit_in_input_order(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    client = make_async_client(fake, tmp_path)
    items = [
        "a lighthouse",
        {"operation": "edit", "prompt": "a red square", "images": [photo()], "mask": square_mask()},
        "FAIL this one",
    ]
    job = await client.submit_batch(items, size="1024x1024")
    assert isinstance(job, AsyncBatchJob) and len(job.batch_ids) == 2
    assert (await job.wait(progress=False)).status == "completed"
    results = await job.results()
    assert np.array_equal(results[0].images[0], prompt_image("a lighthouse"))
    edited = results[1].images[0]
    assert np.array_equal(edited[~square_mask()], photo()[~square_mask()])
    assert results[2] is None and isinstance(results.errors[2], ModerationError)
    # the sync client resumes the same job from the history: nothing downloaded again
    before = fake.calls["total"]
    again = make_client(fake, tmp_path).get_batch(job.id).results()
    assert fake.calls["total"] == before
    assert np.array_equal(again[1].images[0], edited)
    await client.close()


async def test_async_validation_names_the_item_and_uploads_nothing(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    client = make_async_client(fake, tmp_path)
    with pytest.raises(ValidationError) as caught:
        await client.submit_batch(["fine", {"prompt": "bad", "size": "13x13"}])
    assert any(p.param == "items[1].size" for p in caught.value.problems)
    assert fake.calls["total"] == 0
    await client.close()


async def test_async_list_get_cancel_estimate_and_export(tmp_path: Path) -> None:
    fake = FakeBatchAPI(steps=10)
    there = make_async_client(fake, tmp_path / "there")
    job = await there.submit_batch(["a", "b"], quality="low", size="1024x1024")
    assert job.estimate() is not None
    here = make_async_client(fake, tmp_path / "here")
    assert [j.id for j in await here.list_batches()] == [job.id]
    resumed = await here.get_batch(job.id)
    assert (await resumed.cancel()).status == "cancelled"
    results = await resumed.results()
    assert results == [None, None] and "cancelled" in str(results.errors[0])
    finished = FakeBatchAPI()
    other = make_async_client(finished, tmp_path / "other")
    done = await (await other.submit_batch(["x", "y"])).wait(progress=False)
    manifest = await done.export(tmp_path / "export")
    loaded = load_sweep(manifest.parent)
    assert np.array_equal(loaded.arrays(), (await done.results()).arrays())
    for client in (there, here, other):
        await client.close()


async def test_async_output_is_read_line_by_line_with_bounded_memory(tmp_path: Path) -> None:
    import tracemalloc

    fake = FakeBatchAPI(line_payload=400)  # each line ~ 0.65 MB of base64
    client = make_async_client(fake, tmp_path)
    job = await (await client.submit_batch([f"noise {i}" for i in range(48)])).wait(progress=False)
    output = fake.files[job.record.batches[0]["output_file_id"]]
    longest = max(len(line) for line in output.splitlines())
    whole = len(output)
    del output
    tracemalloc.start()
    try:
        assert await job.fetch() == 48
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # about one line, not the file; the margin covers other threads' allocations (tracemalloc
    # counts them: a full suite leaves some running)
    assert peak < 12 * longest < whole / 3
    await client.close()
