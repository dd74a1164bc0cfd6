"""The opt-in request cache: an identical request is answered from history, nothing sent.

Counts what reaches the transport (httpx.MockTransport), so "sends nothing" is exact.
"""

from __future__ import annotations

import base64
import io
import json
import sqlite3
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from gptimage_widgets import history_index
from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import ValidationError
from gptimage_widgets.history import HistoryStore
from gptimage_widgets.request import build_request
from gptimage_widgets.request_cache import cache_key

KEY = "sk-" + "test-FAKE-0123456789abcdef"
USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"text_tokens": 10, "image_tokens": 0},
    "output_tokens": 272,
    "total_tokens": 282,
}


class Counter:
    """A MockTransport handler answering a fresh image per call, counting the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.calls += 1
        buffer = io.BytesIO()
        Image.new("RGB", (8, 6), (self.calls * 20 % 256, 30, 40)).save(buffer, "PNG")
        data = [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}]
        body = {"created": 1_790_000_000, "data": data, "usage": USAGE}
        return httpx.Response(200, json=body, headers={"x-request-id": f"req_{self.calls}"})


def sync_client(counter: Counter, history: Any, **kwargs: Any) -> ImageClient:
    http = httpx.Client(transport=httpx.MockTransport(counter))
    return ImageClient(api_key=KEY, http_client=http, history=history, allow_retired=True, **kwargs)


def async_client(counter: Counter, history: Any, **kwargs: Any) -> AsyncImageClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(counter))
    return AsyncImageClient(
        api_key=KEY, http_client=http, history=history, allow_retired=True, **kwargs
    )


def image(value: int) -> np.ndarray:
    return np.full((16, 16, 3), value, dtype=np.uint8)


def test_second_identical_call_sends_nothing_and_costs_nothing(tmp_path) -> None:
    counter = Counter()
    client = sync_client(counter, tmp_path, cache=True)
    first = client.generate("a red fox", model="gpt-image-1", quality="low")
    assert counter.calls == 1 and first.cost_usd and not first.cached
    second = client.generate("a red fox", model="gpt-image-1", quality="low")
    assert counter.calls == 1  # nothing reached the transport
    assert second.cached and second.cost_usd == 0.0 and not second.cost_is_estimate
    assert second.timings["attempts"] == 0 and second.entry_id == first.entry_id
    assert np.array_equal(np.asarray(second), np.asarray(first))
    assert client.spent_usd == pytest.approx(first.cost_usd)
    assert "cached=True" in repr(second) and any("cached" in n for n in second.notes)
    assert len(HistoryStore(tmp_path)) == 1  # a cached answer is not saved again


def test_defaults_filled_in_are_identical_and_aliases_count_as_their_model(tmp_path) -> None:
    counter = Counter()
    client = sync_client(counter, tmp_path, cache=True)
    client.generate("a red fox", model="gpt-image-1")
    client.generate("a red fox", model="gpt-image-1", quality="auto", n=1)  # the defaults
    assert counter.calls == 1


@pytest.mark.parametrize(
    "change",
    [{"quality": "high"}, {"size": "1024x1536"}, {"n": 2}, {"prompt": "a blue fox"}],
    ids=["quality", "size", "n", "prompt"],
)
def test_a_different_param_misses(tmp_path, change: dict[str, Any]) -> None:
    counter = Counter()
    client = sync_client(counter, tmp_path, cache=True)
    base = {"prompt": "a red fox", "model": "gpt-image-1", "quality": "low"}
    client.generate(**base)
    result = client.generate(**{**base, **change})
    assert counter.calls == 2 and not result.cached


def test_a_different_input_image_or_mask_misses(tmp_path) -> None:
    counter = Counter()
    client = sync_client(counter, tmp_path, cache=True)
    mask = np.zeros((16, 16), dtype=bool)
    mask[:8] = True
    client.edit("make it blue", image(10), mask=mask, model="gpt-image-1")
    assert client.edit("make it blue", image(10), mask=mask, model="gpt-image-1").cached
    assert counter.calls == 1
    assert not client.edit("make it blue", image(11), mask=mask, model="gpt-image-1").cached
    assert counter.calls == 2
    assert not client.edit("make it blue", image(10), mask=~mask, model="gpt-image-1").cached
    assert counter.calls == 3
    assert not client.edit("make it blue", image(10), model="gpt-image-1").cached
    assert counter.calls == 4


def test_cache_is_off_by_default_and_switchable_per_call(tmp_path) -> None:
    counter = Counter()
    client = sync_client(counter, tmp_path)
    assert client.cache is False
    client.generate("a red fox", model="gpt-image-1")
    client.generate("a red fox", model="gpt-image-1")
    assert counter.calls == 2  # default: a new sample every time
    assert client.generate("a red fox", model="gpt-image-1", cache=True).cached
    assert counter.calls == 2
    on = sync_client(counter, tmp_path, cache=True)
    assert not on.generate("a red fox", model="gpt-image-1", cache=False).cached
    assert counter.calls == 3
    with pytest.raises(ValidationError, match="cache"):
        on.generate("a red fox", model="gpt-image-1", cache="yes")


def test_a_new_client_with_the_same_history_is_answered(tmp_path) -> None:
    counter = Counter()
    sync_client(counter, tmp_path).generate("a red fox", model="gpt-image-1")
    other = sync_client(counter, history=False, cache=tmp_path)
    assert other.generate("a red fox", model="gpt-image-1").cached
    assert counter.calls == 1


def test_cache_needs_a_store_and_rejects_other_values(tmp_path) -> None:
    with pytest.raises(ValidationError, match="history=False"):
        sync_client(Counter(), history=False, cache=True)
    with pytest.raises(ValidationError, match="cache"):
        sync_client(Counter(), history=tmp_path, cache=3)


def test_streams_are_never_answered_from_the_cache(tmp_path) -> None:
    counter = Counter()
    client = sync_client(counter, tmp_path, cache=True)
    client.generate("a red fox", model="gpt-image-1")
    call = client._prepare("generate", "gpt-image-1", {"prompt": "a red fox", "stream": True})
    assert call.cached is not None  # stream= alone changes delivery, not identity
    stream_call = client._prepare(
        "generate", "gpt-image-1", {"prompt": "a red fox", "stream": True, "cache": False}
    )
    assert stream_call.cached is None  # what stream_generate passes


async def test_async_client_answers_from_the_cache(tmp_path) -> None:
    counter = Counter()
    client = async_client(counter, tmp_path, cache=True)
    first = await client.generate("a red fox", model="gpt-image-1")
    results = await client.sweep(["a red fox", "a blue fox"], model="gpt-image-1", progress=False)
    assert counter.calls == 2  # only the blue fox was sent
    assert results[0].cached and results[0].entry_id == first.entry_id
    assert not results[1].cached
    await client.close()


async def test_async_cache_lookups_run_off_the_event_loop(tmp_path, monkeypatch) -> None:
    import threading

    counter = Counter()
    client = async_client(counter, tmp_path, cache=True)
    await client.generate("a red fox", model="gpt-image-1")
    lookups: list[int] = []
    find_cached = HistoryStore.find_cached

    def spy(self: HistoryStore, key: str) -> Any:
        lookups.append(threading.get_ident())
        return find_cached(self, key)

    monkeypatch.setattr(HistoryStore, "find_cached", spy)
    results = await client.sweep(["a red fox", "a fox"], model="gpt-image-1", progress=False)
    assert results[0].cached and not results[1].cached
    assert lookups and threading.get_ident() not in lookups  # never on the loop's thread
    uncached = async_client(Counter(), tmp_path)  # cache off: no lookup at all
    await uncached.generate("a red fox", model="gpt-image-1")
    assert len(lookups) == 2
    for each in (client, uncached):
        await each.close()


def test_key_covers_the_rule_and_ignores_delivery() -> None:
    plain = build_request("gpt-image-1", "generate", prompt="x", quality="low")
    streamed = build_request("gpt-image-1", "generate", prompt="x", quality="low", stream=True)
    other = build_request("gpt-image-1", "generate", prompt="x", quality="high")
    key = cache_key(plain, origin="offline")
    assert len(key) == 64
    assert key == cache_key(streamed, origin="offline")
    assert key != cache_key(other, origin="offline")
    assert key != cache_key(plain, origin="openai https://api.openai.com/v1")
    assert key != cache_key(plain, origin="offline", extra_body={"user": "u1"})


def test_an_old_index_gets_the_cache_key_column(tmp_path) -> None:
    path = tmp_path / "index.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE entries (entry_id TEXT PRIMARY KEY, created REAL NOT NULL, model TEXT "
        "NOT NULL, operation TEXT NOT NULL, prompt TEXT NOT NULL, entry_dir TEXT NOT NULL, "
        "files TEXT NOT NULL, cost_usd REAL, request_id TEXT);"
        "INSERT INTO entries VALUES ('e1', 1.0, 'm', 'generate', 'p', 'd', '[]', NULL, NULL);"
    )
    conn.close()
    migrated = history_index.open_index(path)
    columns = [row["name"] for row in migrated.execute("PRAGMA table_info(entries)")]
    assert columns[-1] == "cache_key"
    assert migrated.execute("SELECT cache_key FROM entries").fetchone()[0] is None
    migrated.close()


def test_the_key_is_kept_in_meta_json_and_survives_a_rebuilt_index(tmp_path) -> None:
    counter = Counter()
    client = sync_client(counter, tmp_path, cache=True)
    first = client.generate("a red fox", model="gpt-image-1")
    meta = json.loads((first.paths[0].parent / "meta.json").read_text())
    assert meta["cache_sha256"] == first.cache_key and len(first.cache_key or "") == 64
    (tmp_path / "index.sqlite").unlink()
    assert HistoryStore(tmp_path).rebuild_index() == 1
    assert client.generate("a red fox", model="gpt-image-1").cached
    assert counter.calls == 1
