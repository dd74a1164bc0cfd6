"""Batch API jobs from the client, against an in-memory fake of the files/batches endpoints."""

from __future__ import annotations

import gc
import json
import tracemalloc
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from fake_batch_api import FAKE_KEY, FakeBatchAPI, make_client, prompt_image
from image_helpers import box_mask, noise

from gptimage_widgets import catalog, load_sweep, retry
from gptimage_widgets.catalog import batch as catalog_batch
from gptimage_widgets.client import ImageClient
from gptimage_widgets.errors import ModerationError, ValidationError


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "sleep", lambda seconds: None)


def photo() -> np.ndarray:
    return noise(64, 64)


def square_mask() -> np.ndarray:
    return box_mask(64, 64, (16, 16, 48, 48))


def test_two_prompts_and_a_masked_edit_come_back_in_input_order(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    client = make_client(fake, tmp_path)
    items = [
        "a lighthouse",
        {"operation": "edit", "prompt": "a red square", "images": [photo()], "mask": square_mask()},
        {"prompt": "a kite", "quality": "low"},
    ]
    job = client.submit_batch(items, size="1024x1024")
    assert len(job.batch_ids) == 2  # generations and edits: one endpoint per batch
    assert job.wait(progress=False).status == "completed"
    results = job.results()
    assert results.errors == {}
    assert np.array_equal(results[0].images[0], prompt_image("a lighthouse"))
    assert np.array_equal(results[2].images[0], prompt_image("a kite"))
    edited = results[1].images[0]
    keep = ~square_mask()
    assert np.array_equal(edited[keep], photo()[keep])
    assert (edited[square_mask()] == (255, 0, 0)).all()
    assert results[1].operation == "edit" and results[2].request["quality"] == "low"
    # the edit travelled as the JSON edits body with data URLs
    edit_lines = [line for lines in fake.uploaded_lines for line in lines if "edits" in line["url"]]
    assert edit_lines[0]["body"]["images"][0]["image_url"].startswith("data:image/png;base64,")
    assert edit_lines[0]["body"]["mask"]["image_url"].startswith("data:image/png;base64,")
    assert all(r.entry_id for r in results)


def test_a_bad_item_is_named_by_index_and_nothing_is_uploaded(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    client = make_client(fake, tmp_path)
    with pytest.raises(ValidationError) as caught:
        client.submit_batch(["fine", {"prompt": "bad", "size": "13x13"}, "also fine"])
    assert "item 1" in str(caught.value)
    assert any(p.param == "items[1].size" for p in caught.value.problems)
    assert fake.calls["total"] == 0


def test_refused_in_a_batch(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    client = make_client(fake, tmp_path)
    with pytest.raises(ValidationError) as caught:
        client.submit_batch(
            [{"prompt": "p", "partial_images": 2}, {"operation": "variation", "images": [photo()]}]
        )
    params = {p.param for p in caught.value.problems}
    assert {"items[0].partial_images", "items[1].operation"} <= params
    assert fake.calls["total"] == 0


def test_image_url_limit_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limits = replace(catalog.batch_limits(), max_image_url_chars=100)
    monkeypatch.setattr(catalog_batch, "_LIMITS", limits)
    fake = FakeBatchAPI()
    client = make_client(fake, tmp_path)
    with pytest.raises(ValidationError) as caught:
        client.submit_batch([{"prompt": "x", "images": [photo()]}])
    assert caught.value.problems[0].param == "items[0].images[0]"
    assert fake.calls["total"] == 0


def test_failed_items_are_none_with_a_typed_error(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    client = make_client(fake, tmp_path)
    job = client.submit_batch(["ok", "FAIL please", "ok too"]).wait(progress=False)
    results = job.results()
    assert results[1] is None and results[0] is not None and results[2] is not None
    assert isinstance(results.errors[1], ModerationError)
    assert job.errors[1].request_id == "req-item-1"
    assert job.counts == {"total": 3, "completed": 2, "failed": 1}


def test_second_results_and_a_new_process_read_the_history_not_the_network(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    job = make_client(fake, tmp_path).submit_batch(["one", "two", "FAIL"]).wait(progress=False)
    first = job.results()
    before = fake.calls["total"]
    second = job.results()
    assert fake.calls["total"] == before
    resumed = make_client(fake, tmp_path).get_batch(job.id)
    third = resumed.results()
    assert fake.calls["total"] == before
    for a, b, c in zip(first, second, third, strict=True):
        if a is None:
            assert b is None and c is None
        else:
            assert np.array_equal(a.images[0], c.images[0]) and np.array_equal(
                b.images[0], c.images[0]
            )
    assert isinstance(resumed.errors[2], ModerationError)
    # each result was saved once
    assert len(list(tmp_path.glob("*/*/meta.json"))) == 2


def test_resume_before_done_by_job_or_batch_id(tmp_path: Path) -> None:
    fake = FakeBatchAPI(steps=3)
    job = make_client(fake, tmp_path).submit_batch(["one", "two"])
    other = make_client(fake, tmp_path)
    assert other.get_batch(job.batch_ids[0]).id == job.id
    assert [j.id for j in other.list_batches()] == [job.id]
    resumed = other.get_batch(job.id)
    with pytest.raises(Exception, match="wait"):
        resumed.results()
    assert resumed.wait(progress=False).status == "completed"
    assert [r.images[0][0, 0].tolist() for r in resumed.results()] == [
        prompt_image(p)[0, 0].tolist() for p in ("one", "two")
    ]


def test_splitting_beyond_file_limits_keeps_one_job(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    client = make_client(fake, tmp_path)
    prompts = [f"prompt {i}" for i in range(7)]
    job = client.submit_batch(prompts, max_lines=3)
    assert len(job.batch_ids) == 3 and [len(lines) for lines in fake.uploaded_lines] == [3, 3, 1]
    results = job.wait(progress=False).results()
    assert [r.request["prompt"] for r in results] == prompts
    job2 = client.submit_batch(prompts[:4], max_bytes=400)
    assert len(job2.batch_ids) >= 2
    job3 = client.submit_batch(["a", {"prompt": "b", "model": "gpt-image-1.5"}, "c"])
    assert len(job3.batch_ids) == 2  # one model per input file


def test_cancel_and_estimate(tmp_path: Path) -> None:
    fake = FakeBatchAPI(steps=10)
    client = make_client(fake, tmp_path)
    job = client.submit_batch(["a", "b"], quality="low", size="1024x1024")
    single = client._estimate(
        __import__("gptimage_widgets.request", fromlist=["x"]).build_request(
            "gpt-image-2", prompt="a", quality="low", size="1024x1024"
        )
    )
    estimate = job.estimate()
    assert estimate is not None and single is not None
    assert estimate.usd == pytest.approx(single.usd)  # two requests at half price
    assert job.cancel().status == "cancelled"
    results = job.results()
    assert results == [None, None] and "cancelled" in str(results.errors[0])


def test_wait_timeout(tmp_path: Path) -> None:
    fake = FakeBatchAPI(steps=1000)
    job = make_client(fake, tmp_path).submit_batch(["a"])
    with pytest.raises(Exception, match="still"):
        job.wait(timeout=5, progress=False, poll_interval=1)


def test_output_is_read_line_by_line_with_bounded_memory(tmp_path: Path) -> None:
    fake = FakeBatchAPI(line_payload=400)  # each line ~ 0.65 MB of base64
    client = make_client(fake, tmp_path)
    job = client.submit_batch([f"noise {i}" for i in range(48)]).wait(progress=False)
    output = fake.files[job.record.batches[0]["output_file_id"]]
    assert len(output) > 24 * 1024 * 1024
    longest = max(len(line) for line in output.splitlines())
    whole = len(output)
    del output
    gc.collect()
    tracemalloc.start()
    try:
        assert job.fetch() == 48
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the whole file stays in the fake (not traced before start); reading holds about one line
    # (a few copies while decoding it). tracemalloc also counts other threads' allocations (a
    # full suite leaves some running), hence the margin; reading the file whole would be > 30 MB.
    assert peak < 12 * longest < whole / 3


def test_history_off_keeps_results_in_memory(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    client = make_client(fake, False)
    job = client.submit_batch(["x"]).wait(progress=False)
    assert job.results()[0] is not None
    before = fake.calls["total"]
    assert job.results()[0] is not None and fake.calls["total"] == before
    # nothing remembered here: the server still knows the job (its batches' metadata)
    assert client.get_batch(job.id).batch_ids == job.batch_ids
    with pytest.raises(ValidationError):
        client.get_batch("not-a-job")


def test_job_record_has_no_key(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    job = make_client(fake, tmp_path).submit_batch(["x"]).wait(progress=False)
    job.results()
    for path in (tmp_path / "batches").iterdir():
        assert FAKE_KEY not in path.read_text()
    record = json.loads((tmp_path / "batches" / f"{job.id}.json").read_text())
    assert record["items"][0]["custom_id"] == "item-0"


# --------------------------------------------------------------------------- CLI


def test_cli_batch_commands_against_the_fake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gptimage_widgets import cli_batch
    from gptimage_widgets.cli import main

    fake = FakeBatchAPI(steps=2)
    monkeypatch.setattr(cli_batch, "make_client", lambda args: make_client(fake, args.history))
    history = str(tmp_path / "hist")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a lighthouse\n\n# a comment\nFAIL this one\na kite\n")
    assert main(["batch", "submit", str(prompts), "--size", "1024x1024", "--history", history]) == 0
    out = capsys.readouterr().out
    job_id = out.split("submitted ", 1)[1].split(":", 1)[0]
    assert job_id.startswith("batchjob_") and "of 3" in out
    assert main(["batch", "list", "--history", history]) == 0
    assert job_id in capsys.readouterr().out
    assert main(["batch", "status", job_id, "--history", history]) == 0
    assert "in_progress" in capsys.readouterr().out
    assert main(["batch", "wait", job_id, "--history", history]) == 0
    assert "completed, 2 completed, 1 failed" in capsys.readouterr().out
    target = tmp_path / "out"
    assert main(["batch", "fetch", job_id, "-o", str(target), "--history", history]) == 1
    captured = capsys.readouterr()
    assert "item 1:" in captured.err and "wrote 2 image(s)" in captured.out
    assert sorted(p.name for p in target.iterdir()) == [
        "item-00000-0.png",
        "item-00002-0.png",
        "manifest.jsonl",
    ]
    saved = load_sweep(target)  # the same folder as job.export writes
    assert [type(item).__name__ for item in saved] == [
        "ImageResult",
        "GPTImageError",
        "ImageResult",
    ]
    assert "rejected by the safety system" in str(saved[1])
    assert main(["batch", "cancel", job_id, "--history", history]) == 0
    assert main(["batch", "status", "nonsense", "--history", history]) == 2


def test_cli_reads_jsonl_items_with_relative_paths(tmp_path: Path) -> None:
    from PIL import Image

    from gptimage_widgets.cli_batch import read_items

    Image.fromarray(photo()).save(tmp_path / "photo.png")
    file = tmp_path / "items.jsonl"
    file.write_text(
        '"a plain prompt"\n{"operation": "edit", "prompt": "x", "images": ["photo.png"]}\n'
    )
    items = read_items(file)
    assert items[0] == "a plain prompt"
    assert items[1]["images"] == [str(tmp_path / "photo.png")]
    with pytest.raises(ValidationError, match=r"bad\.jsonl:1"):
        (tmp_path / "bad.jsonl").write_text("{nope\n")
        read_items(tmp_path / "bad.jsonl")


def test_budget_refuses_before_upload_and_results_count_as_spent(tmp_path: Path) -> None:
    from gptimage_widgets.errors import BudgetExceededError

    fake = FakeBatchAPI()
    http = httpx.Client(transport=httpx.MockTransport(fake))
    client = ImageClient(
        api_key=FAKE_KEY,
        base_url="https://fake.test/v1",
        http_client=http,
        history=tmp_path,
        budget_usd=0.01,
    )
    with pytest.raises(BudgetExceededError):
        client.submit_batch(["a"] * 5, quality="high", size="1024x1024")
    assert fake.calls["total"] == 0
    job = client.submit_batch(["a"], quality="low", size="1024x1024").wait(progress=False)
    result = job.results()[0]
    assert result is not None and result.cost_is_estimate  # the fake sends no usage
    assert client.spent_usd == pytest.approx(result.cost_usd)


def test_wait_shows_a_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    job = make_client(FakeBatchAPI(), tmp_path).submit_batch(["a", "b"])
    job.wait()
    assert "2/2" in capsys.readouterr().err


# --------------------------------------------------------------------------- listing


def test_list_batches_pages_the_server_and_merges_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gptimage_widgets import batch_listing

    fake = FakeBatchAPI()
    here = make_client(fake, tmp_path / "here")
    local = here.submit_batch(["one", "two"], max_lines=1)  # two batches behind one job
    elsewhere = make_client(fake, tmp_path / "there").submit_batch(["three", {"prompt": "four"}])
    fake.add_foreign()  # another tool's chat batch: not an image job
    monkeypatch.setattr(batch_listing, "_PAGE", 2)  # pages of two: the listing follows `after`
    jobs = here.list_batches()
    assert fake.list_pages == 2  # four batches
    listed = {job.id: job.batch_ids for job in jobs}
    assert listed == {elsewhere.id: elsewhere.batch_ids, local.id: local.batch_ids}
    assert {job.id for job in here.list_batches(limit=0)} == set(listed)  # remembered now
    assert fake.list_pages == 2
    results = here.get_batch(elsewhere.id).wait(progress=False).results()
    # the items were read back from the input file: prompts in input order
    assert [r.request["prompt"] for r in results] == ["three", "four"]
    assert np.array_equal(results[1].images[0], prompt_image("four"))


def test_get_batch_finds_a_job_of_another_machine_on_the_server(tmp_path: Path) -> None:
    fake = FakeBatchAPI()
    job = make_client(fake, tmp_path / "a").submit_batch(["x", "y"], max_lines=1)
    fresh = make_client(fake, tmp_path / "b")
    assert fresh.get_batch(job.id).batch_ids == job.batch_ids
    by_batch = make_client(fake, tmp_path / "c").get_batch(job.batch_ids[1])
    assert by_batch.id == job.id and by_batch.batch_ids == job.batch_ids  # siblings listed
    with pytest.raises(ValidationError, match="no batch job"):
        make_client(fake, tmp_path / "d").get_batch("batchjob_20000101_000000_00000000")
