"""Reliability: an image that was paid for is never lost.

(a) When showing a result fails (the studio's gallery raises, thumbnails cannot be made, the
    result's own ``_repr_html_`` raises) the result is already in the history store, pixel-exact.
(b) A writer process killed with SIGKILL at random points in the middle of history writes
    leaves no half entry behind: after ``rebuild_index()`` search lists only complete entries,
    each loads pixel-exact, and every save the writer had acknowledged is there.
(c) Two client processes saving into one history folder at once lose nothing.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gptimage_widgets import results as results_module
from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.history import META_NAME, HistoryStore
from gptimage_widgets.offline import OfflineServer
from gptimage_widgets.widgets import ImageStudio
from gptimage_widgets.widgets import gallery as gallery_module

FAKE_KEY = "sk-test-FAKE"


class DisplayBroke(RuntimeError):
    """Raised by the patched display code."""


def _raise_display_broke(*_args: Any, **_kwargs: Any) -> Any:
    raise DisplayBroke("display failed on purpose")


def _assert_stored_pixel_exact(folder: Path, result: Any) -> None:
    """`result` is the one complete entry of the store at `folder`, with identical pixels."""
    store = HistoryStore(folder)
    entries = store.search(limit=None)
    assert [entry.entry_id for entry in entries] == [result.entry_id]
    loaded = store.load(result.entry_id)
    assert len(loaded.images) == len(result.images) >= 1
    for saved, shown in zip(loaded.images, result.images, strict=True):
        np.testing.assert_array_equal(saved, shown)


# --------------------------------------------------------------------------- (a) display fails


@pytest.fixture
async def studio_in(
    offline_server: OfflineServer, tmp_path: Path
) -> AsyncIterator[Callable[[], ImageStudio]]:
    clients: list[AsyncImageClient] = []

    def make() -> ImageStudio:
        client = AsyncImageClient(
            api_key=FAKE_KEY, base_url=offline_server.base_url, history=tmp_path / "history"
        )
        clients.append(client)
        studio = ImageStudio(client)
        studio.prompt = "a red fox in the snow"
        return studio

    yield make
    for client in clients:
        await client.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("broken", ["gallery.add", "thumbnail encoding"])
async def test_studio_keeps_result_when_display_fails(
    broken: str,
    studio_in: Callable[[], ImageStudio],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    studio = studio_in()
    if broken == "gallery.add":
        monkeypatch.setattr(studio.gallery, "add", _raise_display_broke)
    else:
        monkeypatch.setattr(gallery_module, "display_bytes", _raise_display_broke)
    result = await studio.generate()
    assert result is not None
    assert studio.result is result and studio.history == [result]
    assert "display failed on purpose" in studio._errors.value
    assert result.paths and all(path.is_file() for path in result.paths)
    _assert_stored_pixel_exact(tmp_path / "history", result)


@pytest.mark.timeout(60)
def test_client_result_is_stored_before_any_display(
    offline_server: OfflineServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(results_module.ImageResult, "_repr_html_", _raise_display_broke)
    monkeypatch.setattr(results_module.ImageResult, "_repr_mimebundle_", _raise_display_broke)
    with ImageClient(
        api_key=FAKE_KEY, base_url=offline_server.base_url, history=tmp_path / "history"
    ) as client:
        result = client.generate("a blue heron", quality="low")
    with pytest.raises(DisplayBroke):
        result._repr_html_()
    with pytest.raises(DisplayBroke):
        result._repr_mimebundle_()
    _assert_stored_pixel_exact(tmp_path / "history", result)


# --------------------------------------------------------------------------- (b) SIGKILL


def expected_pixels(seed: int, index: int) -> np.ndarray:
    """Incompressible test pixels for image `index` of the entry saved with `seed`.

    Image 0 is (640, 768, 3) uint8, image 1 is (512, 512, 4) uint8: both big enough that a
    PNG write takes a while, so random kills land in the middle of writes.
    """
    rng = np.random.default_rng([seed, index])
    shape = (640, 768, 3) if index == 0 else (512, 512, 4)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


WRITER = """
import itertools
import sys

import numpy as np

from gptimage_widgets.history import HistoryStore
from gptimage_widgets.results import ImageResult

{expected_pixels}

store = HistoryStore(sys.argv[1])
for seed in itertools.count(int(sys.argv[2])):
    images = [expected_pixels(seed, 0), expected_pixels(seed, 1)]
    request = {{"prompt": f"seed {{seed}}"}}
    store.save(ImageResult(images=images, model="gpt-image-2", request=request))
    print(seed, flush=True)
"""

KILL_ROUNDS = 6


def _writer_script() -> str:
    return WRITER.format(expected_pixels=textwrap.dedent(inspect.getsource(expected_pixels)))


def _run_and_kill(script: str, folder: Path, first_seed: int, pause: float) -> list[int]:
    """Start a writer, let it acknowledge one save, wait `pause` s, SIGKILL it.

    Returns the seeds whose save had returned (printed) before the kill.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(folder), str(first_seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    acknowledged = [int(process.stdout.readline())]
    try:
        process.wait(timeout=pause)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    acknowledged += [int(line) for line in process.stdout.read().split()]
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    return acknowledged


def _complete_entry_dirs(folder: Path) -> dict[str, Path]:
    return {path.parent.name: path.parent for path in folder.glob(f"*/*/{META_NAME}")}


def _assert_entry_is_exact(store: HistoryStore, entry: Any) -> None:
    seed = int(entry.prompt.removeprefix("seed "))
    loaded = store.load(entry.entry_id)
    assert len(loaded.images) == 2
    for index, image in enumerate(loaded.images):
        np.testing.assert_array_equal(image, expected_pixels(seed, index))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigkill_during_history_writes_leaves_only_complete_entries(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    script = _writer_script()
    chooser = random.Random(20261122)
    acknowledged: list[int] = []
    for round_number in range(KILL_ROUNDS):
        pause = chooser.uniform(0.0, 0.6)
        acknowledged += _run_and_kill(script, folder, 1000 * round_number, pause)

    store = HistoryStore(folder)
    complete = _complete_entry_dirs(folder)
    for entry in store.search(limit=None):  # the index as the killed writers left it
        assert entry.entry_id in complete
        _assert_entry_is_exact(store, entry)

    assert store.rebuild_index() == len(complete)
    entries = store.search(limit=None)
    assert sorted(entry.entry_id for entry in entries) == sorted(complete)
    assert len(store) == len(complete)
    for entry in entries:
        _assert_entry_is_exact(store, entry)
    listed_seeds = {int(entry.prompt.removeprefix("seed ")) for entry in entries}
    assert set(acknowledged) <= listed_seeds
    assert len(listed_seeds) == len(entries)  # no entry is listed twice
    one_seed = acknowledged[0]
    assert [e.prompt for e in store.search(f"seed {one_seed}")] == [f"seed {one_seed}"]


# --------------------------------------------------------------------------- (c) two processes

CLIENT_WRITER = """
import hashlib
import json
import sys

from gptimage_widgets.client import ImageClient

base_url, folder, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with ImageClient(api_key="sk-test-FAKE", base_url=base_url, history=folder) as client:
    for number in range(count):
        result = client.generate(f"{name} image {number}", quality="low")
        digest = hashlib.sha256(result.images[0].tobytes()).hexdigest()
        print(json.dumps({"entry_id": result.entry_id, "sha256": digest}), flush=True)
"""

PER_PROCESS = 10


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_client_processes_share_one_history_folder(
    offline_server: OfflineServer, tmp_path: Path
) -> None:
    folder = tmp_path / "history"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLIENT_WRITER,
                offline_server.base_url,
                str(folder),
                name,
                str(PER_PROCESS),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    reports: dict[str, str] = {}
    for process in processes:
        out, _ = process.communicate(timeout=150)
        assert process.returncode == 0
        for line in out.splitlines():
            item = json.loads(line)
            reports[item["entry_id"]] = item["sha256"]

    expected_prompts = {f"{n} image {i}" for n in ("alpha", "beta") for i in range(PER_PROCESS)}
    store = HistoryStore(folder)
    entries = store.search(limit=None)
    assert len(reports) == 2 * PER_PROCESS
    assert {e.prompt for e in entries} == expected_prompts
    assert {e.entry_id for e in entries} == set(reports)
    assert store.rebuild_index() == 2 * PER_PROCESS
    assert len(list(folder.glob("*/*/image-*.png"))) == 2 * PER_PROCESS
    for entry in entries:
        image = store.load(entry.entry_id).images[0]
        assert hashlib.sha256(image.tobytes()).hexdigest() == reports[entry.entry_id]
