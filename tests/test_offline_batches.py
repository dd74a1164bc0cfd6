"""The official ``openai`` SDK drives the offline server's Files and Batch APIs end to end."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from gptimage_widgets import catalog
from gptimage_widgets.catalog import batch as catalog_batch
from gptimage_widgets.offline import OfflineServer
from gptimage_widgets.offline.batchrun import BATCH_HEADER

GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"
FINAL = ("completed", "failed", "cancelled", "expired")


@pytest.fixture(scope="module")
def server() -> Iterator[OfflineServer]:
    """A zero-latency server of this module's own (its batches list starts empty)."""
    with OfflineServer() as running:
        yield running


@pytest.fixture(scope="module")
def sdk(server: OfflineServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key="sk-test-FAKE", base_url=server.base_url, max_retries=0)
    yield client
    client.close()


def line(custom_id: str, body: dict[str, Any], url: str = GENERATIONS) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def jsonl(lines: list[Any]) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def upload(sdk: openai.OpenAI, lines: list[Any], name: str = "input.jsonl") -> str:
    return sdk.files.create(file=(name, jsonl(lines)), purpose="batch").id


def wait(sdk: openai.OpenAI, batch_id: str) -> Any:
    """Poll until the batch reaches a final status (the poll, not its duration, is tested)."""
    deadline = time.monotonic() + 60
    while True:
        batch = sdk.batches.retrieve(batch_id)
        if batch.status in FINAL or time.monotonic() > deadline:
            return batch
        time.sleep(0.02)


def read_lines(sdk: openai.OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    """A result file's lines by custom_id (never by position)."""
    assert file_id is not None
    text = sdk.files.content(file_id).text
    rows = [json.loads(x) for x in text.splitlines()]
    return {row["custom_id"]: row for row in rows}


def decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def data_url(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_generations_batch_end_to_end(sdk: openai.OpenAI, server: OfflineServer) -> None:
    common = {"model": "gpt-image-1-mini", "quality": "low"}
    lines = [
        line("wide", {**common, "prompt": "a lighthouse", "size": "1536x1024"}),
        line("bad-size", {**common, "prompt": "a fox", "size": "17x3"}),
        line("square", {**common, "prompt": "a boat", "size": "1024x1024", "n": 2}),
    ]
    uploaded = sdk.files.create(file=("prompts.jsonl", jsonl(lines)), purpose="batch")
    assert (uploaded.object, uploaded.purpose, uploaded.filename) == (
        "file",
        "batch",
        "prompts.jsonl",
    )
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(jsonl(lines))
    assert sdk.files.retrieve(uploaded.id).id == uploaded.id

    created = sdk.batches.create(
        input_file_id=uploaded.id,
        endpoint=GENERATIONS,
        completion_window="24h",
        metadata={"run": "e2e"},
    )
    assert created.id.startswith("batch_") and created.object == "batch"
    assert created.status == "validating"
    batch = wait(sdk, created.id)

    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (3, 2)
    assert batch.request_counts.failed == 1
    assert batch.in_progress_at and batch.finalizing_at and batch.completed_at
    assert batch.metadata == {"run": "e2e"} and batch.model == "gpt-image-1-mini"
    assert batch.errors is None

    outputs = read_lines(sdk, batch.output_file_id)
    assert sorted(outputs) == ["square", "wide"]
    wide = outputs["wide"]
    assert wide["id"].startswith("batch_req_") and wide["error"] is None
    assert wide["response"]["status_code"] == 200
    assert wide["response"]["request_id"].startswith("req_offline_")
    assert decode(wide["response"]["body"]["data"][0]["b64_json"]).shape == (1024, 1536, 3)
    assert len(outputs["square"]["response"]["body"]["data"]) == 2

    errors = read_lines(sdk, batch.error_file_id)
    assert list(errors) == ["bad-size"]
    response = errors["bad-size"]["response"]
    assert response["status_code"] == 400
    assert response["body"]["error"]["param"] == "size"
    assert response["body"]["error"]["type"] == "invalid_request_error"

    # every line went through the server's own images endpoint, once
    ran = [r for r in server.requests if r.headers.get(BATCH_HEADER) == batch.id]
    assert sorted(r.status for r in ran if r.status) == [200, 200, 400]
    assert {r.path for r in ran} == {GENERATIONS}
    output_file = sdk.files.retrieve(batch.output_file_id)
    assert output_file.purpose == "batch_output"

    listed = [b.id for b in sdk.batches.list()]
    assert batch.id in listed


def test_edits_batch_uses_the_json_edits_body(sdk: openai.OpenAI) -> None:
    y, x = np.mgrid[0:192, 0:256]
    image = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    area = np.zeros((192, 256), bool)
    area[40:120, 50:200] = True
    mask = np.zeros((192, 256, 4), np.uint8)
    mask[..., 3] = np.where(area, 0, 255)  # OpenAI: alpha 0 = edit here
    body = {
        "model": "gpt-image-1.5",
        "prompt": "a red kite",
        "images": [{"image_url": data_url(image)}],
        "mask": {"image_url": data_url(mask)},
    }
    file_id = upload(sdk, [line("kite", body, EDITS)])
    batch = wait(
        sdk, sdk.batches.create(input_file_id=file_id, endpoint=EDITS, completion_window="24h").id
    )
    assert batch.status == "completed" and batch.error_file_id is None
    out = decode(
        read_lines(sdk, batch.output_file_id)["kite"]["response"]["body"]["data"][0]["b64_json"]
    )
    assert out.shape == image.shape
    assert np.array_equal(out[~area], image[~area])
    assert np.any(out[area] != image[area], axis=-1).mean() > 0.9


def test_a_streaming_line_is_an_error_line(sdk: openai.OpenAI) -> None:
    body = {"model": "gpt-image-2", "prompt": "x", "stream": True}
    file_id = upload(sdk, [line("s", body)])
    batch = wait(
        sdk,
        sdk.batches.create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h").id,
    )
    assert batch.status == "completed" and batch.output_file_id is None
    error = read_lines(sdk, batch.error_file_id)["s"]["response"]
    assert (error["status_code"], error["body"]["error"]["param"]) == (400, "stream")


def test_cancel_stops_a_slow_batch_between_lines(
    make_offline_server: Callable[..., OfflineServer],
) -> None:
    server = make_offline_server(latency=0.2)
    sdk = openai.OpenAI(api_key="sk-test-FAKE", base_url=server.base_url, max_retries=0)
    lines = [line(f"r{i}", {"model": "gpt-image-1-mini", "prompt": f"p{i}"}) for i in range(40)]
    file_id = upload(sdk, lines)
    created = sdk.batches.create(
        input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h"
    )

    cancelling = sdk.batches.cancel(created.id)
    assert cancelling.status in ("cancelling", "cancelled")
    batch = wait(sdk, created.id)

    assert batch.status == "cancelled"
    assert batch.cancelling_at and batch.cancelled_at and batch.completed_at is None
    counts = batch.request_counts
    assert counts is not None and counts.failed == 0
    assert counts.completed < counts.total == 40
    ran = [r for r in server.requests if r.headers.get(BATCH_HEADER) == batch.id]
    assert len(ran) == counts.completed  # the lines not yet processed were never run
    if counts.completed:
        assert len(read_lines(sdk, batch.output_file_id)) == counts.completed
    assert sdk.batches.cancel(batch.id).status == "cancelled"  # cancelling again: no change
    sdk.close()


def test_a_finished_batch_cannot_be_cancelled(sdk: openai.OpenAI) -> None:
    file_id = upload(sdk, [line("one", {"model": "gpt-image-1-mini", "prompt": "x"})])
    batch = wait(
        sdk,
        sdk.batches.create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h").id,
    )
    with pytest.raises(openai.ConflictError):
        sdk.batches.cancel(batch.id)


@pytest.mark.parametrize(
    ("lines", "codes"),
    [
        (
            [
                "{not json",
                line("b", {"prompt": "x"}, url=EDITS),
                {"custom_id": "c", "method": "POST", "url": GENERATIONS},
            ],
            [("invalid_json_line", 1), ("url_mismatch", 2), ("missing_required_parameter", 3)],
        ),
        (
            [line("a", {"prompt": "x"}), line("a", {"prompt": "y"})],
            [("duplicate_custom_id", 2)],
        ),
        (
            [line("a", {"model": "gpt-image-2", "prompt": "x"}), line("b", {"prompt": "y"})],
            [("model_mismatch", 2)],
        ),
        ([" "], [("empty_file", None)]),
    ],
)
def test_a_bad_input_file_fails_the_batch(
    sdk: openai.OpenAI, lines: list[Any], codes: list[tuple[str, int | None]]
) -> None:
    file_id = upload(sdk, lines)
    batch = wait(
        sdk,
        sdk.batches.create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h").id,
    )
    assert batch.status == "failed" and batch.failed_at
    assert batch.errors is not None and batch.errors.data is not None
    assert [(e.code, e.line) for e in batch.errors.data] == codes
    assert all(e.message for e in batch.errors.data)
    assert batch.output_file_id is None and batch.error_file_id is None


def test_file_limits_fail_the_batch(sdk: openai.OpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [line(f"r{i}", {"prompt": "x"}) for i in range(3)]
    limits = catalog.batch_limits()
    monkeypatch.setattr(catalog_batch, "_LIMITS", replace(limits, max_requests_per_file=2))
    file_id = upload(sdk, lines)
    create = sdk.batches.create
    batch = wait(
        sdk, create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h").id
    )
    assert batch.status == "failed" and batch.errors and batch.errors.data
    assert batch.errors.data[0].code == "too_many_tasks"
    monkeypatch.setattr(catalog_batch, "_LIMITS", replace(limits, max_file_bytes=10))
    batch = wait(
        sdk, create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h").id
    )
    assert batch.status == "failed" and batch.errors and batch.errors.data
    assert batch.errors.data[0].code == "file_too_large"


def test_create_refuses_bad_requests(sdk: openai.OpenAI) -> None:
    file_id = upload(sdk, [line("a", {"prompt": "x"})])
    with pytest.raises(openai.BadRequestError) as endpoint:
        sdk.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert endpoint.value.param == "endpoint"
    with pytest.raises(openai.BadRequestError) as window:
        sdk.batches.create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="1h")  # type: ignore[arg-type]
    assert window.value.param == "completion_window"
    with pytest.raises(openai.NotFoundError):
        sdk.batches.create(
            input_file_id="file-nothere", endpoint=GENERATIONS, completion_window="24h"
        )
    other = sdk.files.create(file=("notes.jsonl", b"{}\n"), purpose="user_data").id
    with pytest.raises(openai.BadRequestError) as purpose:
        sdk.batches.create(input_file_id=other, endpoint=GENERATIONS, completion_window="24h")
    assert purpose.value.param == "input_file_id"
    with pytest.raises(openai.BadRequestError) as name:
        sdk.files.create(file=("prompts.txt", b"{}\n"), purpose="batch")
    assert name.value.param == "file"
    with pytest.raises(openai.NotFoundError):
        sdk.batches.retrieve("batch_nothere")
    with pytest.raises(openai.NotFoundError):
        sdk.files.content("file-nothere")


def test_list_pages_newest_first(make_offline_server: Callable[..., OfflineServer]) -> None:
    server = make_offline_server()
    sdk = openai.OpenAI(api_key="sk-test-FAKE", base_url=server.base_url, max_retries=0)
    file_id = upload(sdk, [line("a", {"prompt": "x"})])
    ids = [
        sdk.batches.create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h").id
        for _ in range(3)
    ]
    first = sdk.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2]
    assert first.has_more and first.last_id == ids[1]
    pages = [[b.id for b in page.data] for page in sdk.batches.list(limit=2).iter_pages()]
    assert pages == [ids[::-1][:2], ids[:1]]
    assert [b.id for b in sdk.batches.list(limit=2)] == ids[::-1]  # auto-paging follows `after`
    with pytest.raises(openai.BadRequestError):
        sdk.batches.list(limit=0)
    sdk.close()


def test_file_content_is_streamed_chunked(sdk: openai.OpenAI, server: OfflineServer) -> None:
    lines = [line(f"r{i}", {"model": "gpt-image-1-mini", "prompt": f"p{i}"}) for i in range(3)]
    batch = wait(
        sdk,
        sdk.batches.create(
            input_file_id=upload(sdk, lines), endpoint=GENERATIONS, completion_window="24h"
        ).id,
    )
    url = f"{server.base_url}/files/{batch.output_file_id}/content"
    with httpx.stream("GET", url) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        rows = [json.loads(x) for x in response.iter_lines() if x]
    assert sorted(row["custom_id"] for row in rows) == ["r0", "r1", "r2"]
    deleted = sdk.files.delete(batch.output_file_id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(batch.output_file_id)
