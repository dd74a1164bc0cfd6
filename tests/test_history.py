"""The history store: atomic files, a rebuildable index, search, no secrets, concurrency."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from image_helpers import noise

from gptimage_widgets import HistoryStore, ImageResult, ValidationError
from gptimage_widgets.history import HistoryEntry, new_entry_id, scrub_secrets

FAKE_KEY = "sk-test-FAKE-abc123"


def make_result(
    prompt: str = "a red fox", model: str = "gpt-image-2", **meta: object
) -> ImageResult:
    images = meta.pop("images", [noise(12, 16)])
    return ImageResult(
        images,  # type: ignore[arg-type]
        model=model,
        operation="generate",
        request={"prompt": prompt, "size": "1024x1024", "quality": "low"},
        **meta,  # type: ignore[arg-type]
    )


def entry_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*/*") if p.is_dir())


# ---------------------------------------------------------------------- save and load


def test_save_writes_layout_and_sets_result_fields(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "hist")
    assert not (tmp_path / "hist").exists()  # created lazily
    result = make_result(images=[noise(12, 16), noise(10, 14, 4, seed=1)])
    paths = store.save(result)
    assert result.paths == paths and result.entry_id is not None
    (entry,) = entry_dirs(tmp_path / "hist")
    assert entry.name == result.entry_id
    dt.date.fromisoformat(entry.parent.name)  # folder/YYYY-MM-DD/<entry_id>
    assert sorted(p.name for p in entry.iterdir()) == ["image-0.png", "image-1.png", "meta.json"]
    assert paths == [entry / "image-0.png", entry / "image-1.png"]
    assert (tmp_path / "hist" / "index.sqlite").is_file()
    assert len(store) == 1


def test_round_trip_is_pixel_exact_with_metadata(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path))
    images = [noise(33, 17, 3, seed=5), noise(20, 31, 4, seed=6)]
    result = make_result(
        images=images,
        usage={"input_tokens": 12, "output_tokens": 4160, "total_tokens": 4172},
        cost_usd=0.1249,
        revised_prompts=["a red fox, revised", None],
        request_id="req_abc",
        created=1_795_000_000,
        timings={"total_s": 3.5},
        notes=["image 0 downscaled"],
    )
    store.save(result)
    loaded = store.load(result.entry_id or "")
    assert len(loaded) == 2
    for got, want in zip(loaded.images, images, strict=True):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    assert loaded.model == "gpt-image-2" and loaded.operation == "generate"
    assert loaded.request["prompt"] == "a red fox" and loaded.request["quality"] == "low"
    assert loaded.usage == result.usage and loaded.cost_usd == 0.1249
    assert loaded.revised_prompts == ["a red fox, revised", None]
    assert loaded.request_id == "req_abc" and loaded.created == 1_795_000_000
    assert loaded.timings == {"total_s": 3.5} and loaded.notes == ["image 0 downscaled"]
    assert loaded.paths == result.paths and loaded.entry_id == result.entry_id


def test_meta_json_content(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    result = make_result(cost_usd=0.006, cost_is_estimate=True, request_id="req_1")
    store.save(result)
    meta = json.loads((result.paths[0].parent / "meta.json").read_text())
    assert meta["entry_id"] == result.entry_id
    assert meta["prompt"] == "a red fox" and meta["model"] == "gpt-image-2"
    assert meta["params"] == {"prompt": "a red fox", "size": "1024x1024", "quality": "low"}
    assert meta["cost_usd"] == 0.006 and meta["cost_is_estimate"] is True
    assert meta["images"] == [{"file": "image-0.png", "width": 16, "height": 12, "channels": 3}]
    assert dt.datetime.fromisoformat(meta["created"]).timestamp() == pytest.approx(
        meta["created_ts"]
    )


def test_non_json_values_are_described_not_fatal(tmp_path: Path) -> None:
    result = make_result(cost_usd=float("nan"), timings={"total_s": float("inf")})
    result.request["mask"] = np.zeros((4, 4), bool)
    result.request["raw"] = b"abc"
    HistoryStore(tmp_path).save(result)
    meta = json.loads((result.paths[0].parent / "meta.json").read_text())
    assert meta["cost_usd"] is None and meta["timings"] == {"total_s": None}
    assert meta["params"]["mask"] == "<array shape=(4, 4) dtype=bool>"
    assert meta["params"]["raw"] == "<3 bytes>"


def test_load_accepts_an_entry_and_rejects_unknown_ids(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    store.save(make_result())
    (entry,) = store.search()
    assert store.load(entry).entry_id == entry.entry_id
    with pytest.raises(ValidationError, match="search"):
        store.load("20200101-000000-000000-deadbeef")
    with pytest.raises(ValidationError, match="not a history entry id"):
        store.load("../../etc/passwd")


def test_disabled_store_saves_nothing(tmp_path: Path) -> None:
    for store in (HistoryStore(tmp_path / "off", enabled=False), HistoryStore(None)):
        result = make_result()
        assert store.save(result) == []
        assert result.paths == [] and result.entry_id is None
        assert len(store) == 0 and store.search() == [] and not store.enabled
    assert not (tmp_path / "off").exists()


def test_entry_ids_sort_by_time_and_are_unique() -> None:
    start = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.timezone.utc)
    times = [start + dt.timedelta(microseconds=i * 7919) for i in range(200)]
    ids = [new_entry_id(t) for t in times]
    assert ids == sorted(ids)
    same_instant = {new_entry_id(start) for _ in range(1000)}
    assert len(same_instant) == 1000


# ---------------------------------------------------------------------- index


def test_rebuild_after_deleting_index_finds_every_entry(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    saved = [make_result(f"prompt {i}") for i in range(5)]
    for result in saved:
        store.save(result)
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    assert store.rebuild_index() == 5
    found = store.search(limit=None)
    assert {e.entry_id for e in found} == {r.entry_id for r in saved}
    assert {e.prompt for e in found} == {f"prompt {i}" for i in range(5)}
    assert all(p.is_file() for e in found for p in e.paths)


def test_missing_index_is_rebuilt_on_first_use(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    for i in range(3):
        store.save(make_result(f"p{i}"))
    (tmp_path / "index.sqlite").unlink()
    fresh = HistoryStore(tmp_path)
    assert len(fresh) == 3
    fresh.save(make_result("p3"))
    assert len(fresh) == 4


def test_half_written_entry_is_ignored(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    store.save(make_result("complete"))
    day = next(tmp_path.glob("*-*-*"))
    half = day / new_entry_id()
    half.mkdir()
    (half / "image-0.png").write_bytes(b"\x89PNG partial")
    (half / ".meta.json.x.tmp").write_text("{")
    assert store.rebuild_index() == 1
    assert [e.prompt for e in store.search()] == ["complete"]
    with pytest.raises(ValidationError, match="no complete history entry"):
        store.load(half.name)


def test_corrupt_meta_json_is_skipped_with_a_warning(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    good, bad = make_result("good"), make_result("bad")
    store.save(good)
    store.save(bad)
    (bad.paths[0].parent / "meta.json").write_text('{"entry_id": "x", "images": [')
    with pytest.warns(RuntimeWarning, match="unreadable meta.json"):
        assert store.rebuild_index() == 1
    assert [e.entry_id for e in store.search()] == [good.entry_id]


def test_corrupt_index_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    for i in range(3):
        store.save(make_result(f"p{i}"))
    (tmp_path / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        found = store.search(limit=None)
    assert sorted(e.prompt for e in found) == ["p0", "p1", "p2"]
    assert len(list(tmp_path.glob("index.sqlite.corrupt-*"))) == 1


# ---------------------------------------------------------------------- search


def test_search_by_text_model_and_limit(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    store.save(make_result("A Red Fox in snow", model="gpt-image-2"))
    store.save(make_result("a blue whale", model="dall-e-3", cost_usd=0.04))
    store.save(make_result("Große Straße at night", model="gpt-image-1"))
    store.save(make_result("red FOX again", model="dall-e-3"))
    assert [e.prompt for e in store.search("red fox")] == ["red FOX again", "A Red Fox in snow"]
    assert [e.prompt for e in store.search("STRASSE")] == ["Große Straße at night"]
    assert [e.prompt for e in store.search(model="dall-e-3")] == ["red FOX again", "a blue whale"]
    assert [e.prompt for e in store.search("fox", model="dall-e-3")] == ["red FOX again"]
    assert len(store.search(limit=2)) == 2
    assert store.search("zebra") == []
    whale = store.search("whale")[0]
    assert isinstance(whale, HistoryEntry) and whale.cost_usd == 0.04
    assert whale.operation == "generate" and whale.created.tzinfo is not None


def test_search_by_date(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    old, new = make_result("old one"), make_result("new one")
    store.save(old)
    store.save(new)
    # Move "old" 40 days into the past in its files, then rebuild: the files are the truth.
    meta_path = old.paths[0].parent / "meta.json"
    meta = json.loads(meta_path.read_text())
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    meta["created_ts"] = past.timestamp()
    meta_path.write_text(json.dumps(meta))
    store.rebuild_index()

    today = dt.date.today()
    ten_days_ago = today - dt.timedelta(days=10)
    assert [e.prompt for e in store.search(since=ten_days_ago)] == ["new one"]
    assert [e.prompt for e in store.search(until=ten_days_ago.isoformat())] == ["old one"]
    assert [e.prompt for e in store.search(until=today)] == ["new one", "old one"]
    assert store.search(since=today + dt.timedelta(days=1)) == []
    window = (past - dt.timedelta(hours=1), past + dt.timedelta(hours=1))
    assert [e.prompt for e in store.search(since=window[0], until=window[1])] == ["old one"]
    iso = (past - dt.timedelta(minutes=5)).isoformat()
    assert [e.prompt for e in store.search("one", since=iso)] == ["new one", "old one"]
    assert store.search(model="gpt-image-2", since=today)[0].created.date() >= ten_days_ago


@pytest.mark.parametrize(
    "kwargs, param",
    [({"since": "last tuesday"}, "since"), ({"until": 12}, "until"), ({"limit": 0}, "limit")],
)
def test_search_bad_arguments_raise(tmp_path: Path, kwargs: dict[str, object], param: str) -> None:
    store = HistoryStore(tmp_path)
    store.save(make_result())
    with pytest.raises(ValidationError) as info:
        store.search(**kwargs)  # type: ignore[arg-type]
    assert info.value.params == [param]


# ---------------------------------------------------------------------- secrets


def test_secrets_never_written(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    result = ImageResult(
        [noise(8, 8)],
        model="gpt-image-2",
        request={
            "prompt": f"a cat; my key is {FAKE_KEY} oops",
            "api_key": FAKE_KEY,
            "api-key": FAKE_KEY,
            "headers": {"Authorization": f"Bearer {FAKE_KEY}", "X-Trace": "1"},
            "user": FAKE_KEY,
            "extra": [FAKE_KEY, "keep me"],
            "size": "1024x1024",
        },
        notes=[f"used {FAKE_KEY}"],
    )
    store.save(result)
    store.search("cat")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert FAKE_KEY.encode() not in data, path
            assert b"FAKE-abc123" not in data, path
    meta = json.loads((result.paths[0].parent / "meta.json").read_text())
    assert meta["params"]["size"] == "1024x1024"
    assert meta["params"]["headers"] == {"X-Trace": "1"}
    assert meta["params"]["extra"] == ["[redacted]", "keep me"]
    assert "api_key" not in meta["params"] and "user" not in meta["params"]
    assert meta["prompt"] == "a cat; my key is [redacted] oops"


def test_scrub_secrets_keeps_ordinary_values() -> None:
    params = {"prompt": "skyline at dusk", "n": 2, "quality": "high", "mask": None}
    assert scrub_secrets(params) == params


# ---------------------------------------------------------------------- concurrency


def test_two_threads_saving_lose_nothing(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    saved: list[str] = []
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(10):
                result = make_result(f"thread {worker} image {i}", images=[noise(8, 8, seed=i)])
                store.save(result)
                saved.append(result.entry_id or "")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(saved)) == 20
    assert {e.entry_id for e in store.search(limit=None)} == set(saved)
    assert store.rebuild_index() == 20


WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from gptimage_widgets import HistoryStore, ImageResult

    folder, worker = sys.argv[1], sys.argv[2]
    store = HistoryStore(folder)
    for i in range(10):
        image = np.full((8, 8, 3), i, np.uint8)
        store.save(ImageResult([image], model="gpt-image-2",
                               request={"prompt": f"process {worker} image {i}"}))
    """
)


def test_two_processes_saving_lose_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), str(w)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    store = HistoryStore(tmp_path)
    expected = {f"process {w} image {i}" for w in range(2) for i in range(10)}
    assert {e.prompt for e in store.search(limit=None)} == expected
    assert len(store) == 20
    assert store.rebuild_index() == 20
    entry = store.search("process 1 image 7")[0]
    assert (store.load(entry.entry_id).images[0] == 7).all()
