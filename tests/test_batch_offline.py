"""Acceptance: Batch API jobs from the client against the offline server, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from cli_serve import GPTIMAGE, gptimage_serve
from image_helpers import box_mask, noise
from PIL import Image

from gptimage_widgets import load_sweep, retry
from gptimage_widgets.client import ImageClient
from gptimage_widgets.errors import ModerationError
from gptimage_widgets.offline import Fault, OfflineServer


@pytest.fixture(scope="module")
def server():  # type: ignore[no-untyped-def]
    with OfflineServer() as running:
        yield running


def photo() -> np.ndarray:
    return noise(256, 256, seed=7)


def mask() -> np.ndarray:
    return box_mask(256, 256, (96, 64, 160, 192))


def test_two_prompts_and_a_masked_edit(
    server: OfflineServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "sleep", lambda s: __import__("time").sleep(min(s, 0.05)))
    client = ImageClient(base_url=server.base_url, api_key="sk-test-FAKE", history=tmp_path)
    items = [
        "a lighthouse at dusk",
        {"operation": "edit", "prompt": "a red door", "images": [photo()], "mask": mask()},
        {"prompt": "a kite", "size": "1024x1536"},
    ]
    job = client.submit_batch(items, quality="low")
    assert job.wait(progress=False).status == "completed"
    results = job.results()
    assert results.errors == {} and len(results) == 3
    assert [r.operation for r in results] == ["generate", "edit", "generate"]
    assert [r.request["prompt"] for r in results] == [
        "a lighthouse at dusk",
        "a red door",
        "a kite",
    ]
    assert results[2].images[0].shape[:2] == (1536, 1024)
    edited = results[1].images[0]
    assert edited.shape[:2] == (256, 256)
    keep = ~mask()
    assert np.array_equal(edited[..., :3][keep], photo()[keep])
    assert not np.array_equal(edited[..., :3][mask()], photo()[mask()])

    # a new process with the same history gets identical arrays, without the server
    arrays = tmp_path / "arrays.npz"
    script = textwrap.dedent(
        f"""
        import numpy as np
        from gptimage_widgets.client import ImageClient
        client = ImageClient(base_url="http://127.0.0.1:9/v1", api_key="sk-test-FAKE",
                             history={str(tmp_path)!r}, max_retries=0)
        job = client.get_batch({job.id!r})
        results = job.results()
        np.savez({str(arrays)!r}, *[r.images[0] for r in results])
        print(job.status)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "completed"
    with np.load(arrays) as loaded:
        again = [loaded[f"arr_{i}"] for i in range(3)]
    for first, second in zip(results, again, strict=True):
        assert np.array_equal(first.images[0], second)


def test_a_failed_line_is_a_typed_error(tmp_path: Path) -> None:
    fault = Fault("moderation", times=1, path="/images/generations")
    with OfflineServer(faults=[fault]) as faulty:
        client = ImageClient(base_url=faulty.base_url, api_key="sk-test-FAKE", history=tmp_path)
        job = client.submit_batch(["refused", "fine"], quality="low")
        job.wait(progress=False, poll_interval=0.02)
        results = job.results()
        assert client.list_batches()[0].id == job.id
    assert results[0] is None and results[1] is not None
    assert isinstance(results.errors[0], ModerationError)
    assert job.counts == {"total": 2, "completed": 1, "failed": 1}
    assert client.list_batches(limit=0)[0].id == job.id  # the history alone, no request


ROOT = Path(__file__).resolve().parent.parent


def _gptimage(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GPTIMAGE, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


def test_cli_batch_commands_against_gptimage_serve(tmp_path: Path) -> None:
    """`gptimage serve` in its own process (a free port); every `gptimage batch` command
    in a process of its own, talking to it over HTTP."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_"))},
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OPENAI_API_KEY": "sk-test-FAKE",
    }
    with gptimage_serve("--latency", "0.2", cwd=tmp_path, env=env) as base_url:
        where = ["--base-url", base_url, "--history", str(tmp_path / "h")]
        (tmp_path / "prompts.txt").write_text("one\n# a comment\ntwo\n")
        submitted = _gptimage(
            "batch", "submit", "prompts.txt", "--quality", "low", *where, env=env, cwd=tmp_path
        )
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.split("submitted ", 1)[1].split(":", 1)[0]
        assert job_id.startswith("batchjob_") and "of 2" in submitted.stdout
        status = _gptimage("batch", "status", job_id, *where, env=env, cwd=tmp_path)
        assert status.returncode == 0 and job_id in status.stdout, status.stderr
        waited = _gptimage("batch", "wait", job_id, *where, env=env, cwd=tmp_path)
        assert "completed, 2 completed, 0 failed" in waited.stdout, waited.stderr
        out = tmp_path / "out"
        fetched = _gptimage("batch", "fetch", job_id, "-o", str(out), *where, env=env, cwd=tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        assert sorted(p.name for p in out.iterdir()) == [
            "item-00000-0.png",
            "item-00001-0.png",
            "manifest.jsonl",
        ]
        assert Image.open(out / "item-00000-0.png").size == (1024, 1024)
        assert [r.request["prompt"] for r in load_sweep(out)] == ["one", "two"]
        # a long job, cancelled while it runs
        (tmp_path / "many.txt").write_text("".join(f"prompt {i}\n" for i in range(30)))
        long = _gptimage("batch", "submit", "many.txt", *where, env=env, cwd=tmp_path)
        long_id = long.stdout.split("submitted ", 1)[1].split(":", 1)[0]
        cancelled = _gptimage("batch", "cancel", long_id, *where, env=env, cwd=tmp_path)
        assert cancelled.returncode == 0, cancelled.stderr
        assert f"{long_id}: cancel" in cancelled.stdout  # cancelling, then cancelled
        # another history folder (another machine) lists both jobs from the server
        elsewhere = ["--base-url", base_url, "--history", str(tmp_path / "elsewhere")]
        listed = _gptimage("batch", "list", *elsewhere, env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert job_id in listed.stdout and long_id in listed.stdout


def test_a_job_from_another_machine_is_listed_and_resumed(
    server: OfflineServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "sleep", lambda s: __import__("time").sleep(min(s, 0.05)))
    there = ImageClient(base_url=server.base_url, api_key="sk-test-FAKE", history=tmp_path / "a")
    job = there.submit_batch(["a fox", "a hen"], quality="low").wait(progress=False)
    mine = job.results()
    here = ImageClient(base_url=server.base_url, api_key="sk-test-FAKE", history=tmp_path / "b")
    listed = {j.id: j for j in here.list_batches()}
    assert job.id in listed and listed[job.id].status == "completed"
    again = here.get_batch(job.id).results()
    assert [r.request["prompt"] for r in again] == ["a fox", "a hen"]
    for first, second in zip(mine, again, strict=True):
        assert np.array_equal(first.images[0], second.images[0])


async def test_the_async_client_runs_a_job_on_the_offline_server(
    server: OfflineServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gptimage_widgets import load_sweep
    from gptimage_widgets.async_client import AsyncImageClient

    async with AsyncImageClient(
        base_url=server.base_url, api_key="sk-test-FAKE", history=tmp_path
    ) as client:
        job = await client.submit_batch(
            ["a kite", {"operation": "edit", "prompt": "a door", "images": [photo()]}],
            quality="low",
        )
        await job.wait(progress=False, poll_interval=0.02)
        results = await job.results()
        assert [r.operation for r in results] == ["generate", "edit"]
        manifest = await job.export(tmp_path / "export")
    loaded = load_sweep(manifest.parent)
    assert [r.request["prompt"] for r in loaded] == ["a kite", "a door"]
    assert np.array_equal(loaded[1].images[0], results[1].images[0])


def test_sync_results_export_like_a_sweep(tmp_path: Path) -> None:
    from gptimage_widgets import SweepResults, load_sweep

    fault = Fault("moderation", times=1, path="/images/generations")
    with OfflineServer(faults=[fault]) as faulty:
        client = ImageClient(base_url=faulty.base_url, api_key="sk-test-FAKE", history=tmp_path)
        job = client.submit_batch(["refused", "a cat", "a dog"], quality="low")
        results = job.wait(progress=False, poll_interval=0.02).results()
    sweep = SweepResults.from_batch(results)
    assert isinstance(sweep[0], ModerationError) and sweep.ok == results[1:]
    assert results.arrays().shape[0] == 2
    assert [row["error"] is not None for row in results.params] == [True, False, False]
    manifest = job.export(tmp_path / "out")
    loaded = load_sweep(manifest.parent)
    assert "ModerationError" in str(loaded[0])
    assert np.array_equal(loaded.arrays(), results.arrays())
    rows = results.to_csv(tmp_path / "rows.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("item,image,file,prompt")


def test_a_batch_made_by_another_tool_is_listed_and_read(
    server: OfflineServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import openai

    monkeypatch.setattr(retry, "sleep", lambda s: __import__("time").sleep(min(s, 0.05)))
    sdk = openai.OpenAI(api_key="sk-test-FAKE", base_url=server.base_url)
    lines = [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/images/generations", "body": body}
        for i, body in enumerate(
            [{"model": "gpt-image-2", "prompt": "a crow"}, {"model": "gpt-image-2", "prompt": "x"}]
        )
    ]
    lines[1]["body"]["size"] = "13x13"  # fails in the batch: an error line
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    uploaded = sdk.files.create(file=("input.jsonl", data), purpose="batch")
    made = sdk.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
    )
    client = ImageClient(base_url=server.base_url, api_key="sk-test-FAKE", history=tmp_path)
    assert made.id in [job.id for job in client.list_batches()]  # one job per foreign batch
    job = client.get_batch(made.id).wait(progress=False, poll_interval=0.02)
    results = job.results()  # the items are read back from the input file
    assert [item["custom_id"] for item in job.record.items] == ["r0", "r1"]
    assert results[0] is not None and results[0].request["prompt"] == "a crow"
    assert results[1] is None and results.errors[1].status_code == 400
