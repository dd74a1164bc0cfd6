"""The ``gptimage`` CLI: in-process through ``main([...])``, and once as a real subprocess."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from cli_serve import gptimage_serve
from PIL import Image

from gptimage_widgets import cli
from gptimage_widgets.catalog import get_model, lifecycle, list_models
from gptimage_widgets.cli import main
from gptimage_widgets.client import ImageClient
from gptimage_widgets.offline import Fault

FAKE_KEY = "sk-" + "test-FAKE-cli-0123456789"  # split so leak scanners see no key


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run every test in its own folder (the history goes to ./gptimage-outputs), keyless."""
    monkeypatch.chdir(tmp_path)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def write_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_generate_offline_writes_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "a lighthouse at dusk", "--offline", "-o", "out.png"]) == 0
    out = capsys.readouterr().out
    assert read(Path("out.png")).shape == (1024, 1024, 3)
    assert "wrote out.png (1024x1024)" in out and "req_offline_" in out
    assert list(Path("gptimage-outputs").rglob("meta.json"))  # also saved to the history


def test_generate_several_images_with_options(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "generate",
        "a red kite",
        "--offline",
        "--model",
        "gpt-image-1.5",
        "--n",
        "2",
        "--size",
        "1536x1024",
        "--background",
        "transparent",
        "-o",
        "kite.png",
        "--no-history",
    ]
    assert main(argv) == 0
    first, second = read(Path("kite-0.png")), read(Path("kite-1.png"))
    assert first.shape == second.shape == (1024, 1536, 4)
    assert not np.array_equal(first, second)
    assert not Path("gptimage-outputs").exists()


def test_validation_errors_list_every_problem_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["generate", "x", "--offline", "--quality", "ultra", "--size", "1000x1000"])
    err = capsys.readouterr().err
    assert code == 2
    assert "2 problems" in err and "quality" in err and "multiples of 16" in err
    assert not Path("gptimage-outputs").exists()


def test_api_errors_exit_1_without_printing_the_key(
    make_offline_server: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_offline_server(faults=[Fault("quota", times=None)])
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    code = main(["generate", "x", "--base-url", server.base_url, "-o", "x.png"])
    captured = capsys.readouterr()
    assert code == 1
    assert "quota" in captured.err.lower()
    assert FAKE_KEY not in captured.out + captured.err
    assert not Path("x.png").exists()


def test_edit_with_mask_changes_only_the_masked_area(capsys: pytest.CaptureFixture[str]) -> None:
    base = np.random.default_rng(0).integers(0, 256, (192, 256, 3), dtype=np.uint8)
    area = np.zeros((192, 256), bool)
    area[20:100, 30:120] = True
    mask = np.dstack([np.zeros((192, 256, 3), np.uint8), np.where(area, 0, 255).astype(np.uint8)])
    write_png(Path("base.png"), base)
    write_png(Path("mask.png"), mask)
    argv = [
        "edit",
        "a boat",
        "base.png",
        "--mask",
        "mask.png",
        "--model",
        "gpt-image-1.5",
        "--offline",
        "-o",
        "edited.png",
    ]
    assert main(argv) == 0
    edited = read(Path("edited.png"))
    assert np.array_equal(edited[~area], base[~area])
    assert np.any(edited[area] != base[area], axis=-1).mean() > 0.9


def test_edit_with_several_images(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    write_png(Path("a.png"), rng.integers(0, 256, (128, 160, 3), dtype=np.uint8))
    write_png(Path("b.png"), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert main(["edit", "merge them", "a.png", "b.png", "--offline", "-o", "merged.png"]) == 0
    assert read(Path("merged.png")).shape == (128, 160, 3)


def test_missing_input_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["edit", "x", "nowhere.png", "--offline"]) == 2
    assert "nowhere.png" in capsys.readouterr().err


def test_variations(capsys: pytest.CaptureFixture[str]) -> None:
    write_png(Path("sq.png"), np.random.default_rng(2).integers(0, 256, (256, 256, 3), np.uint8))
    assert main(["variations", "sq.png", "--offline", "--size", "256x256", "-o", "v.png"]) == 0
    assert read(Path("v.png")).shape == (256, 256, 3)


def test_models_table_comes_from_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "STATUS", "SHUTDOWN"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    for spec in list_models():
        assert rows[spec.name][1] == spec.status
    assert "2026-05-12" in rows["dall-e-2"]


def test_models_marks_retired_models_by_todays_date(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(lifecycle, "today", lambda: dt.date(2026, 11, 30))
    assert main(["models"]) == 0
    before = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert before["gpt-image-1.5"].split()[1] == "deprecated"
    assert "RETIRED" not in before["gpt-image-1.5"]
    assert "use gpt-image-2.6-flare or gpt-image-2.6-sunburst" in before["gpt-image-1.5"]
    monkeypatch.setattr(lifecycle, "today", lambda: dt.date(2026, 12, 2))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    after = {line.split()[0]: line for line in out.splitlines()}
    assert after["gpt-image-1.5"].split()[1] == "shutdown"
    assert "RETIRED at OpenAI" in after["gpt-image-1.5"]
    assert "Azure OpenAI: 2026-12-16" in after["gpt-image-1.5"]
    assert "gpt-image-2.6-sunburst" in after["gpt-image-1-mini"]
    assert "RETIRED" not in after["gpt-image-2.6-flare"]
    assert "allow_retired=True" in out


def test_models_refresh_against_the_offline_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--refresh", "--offline"]) == 0
    out = capsys.readouterr().out
    count = len(list_models(include_shutdown=True))
    assert f"Catalog models this key can use ({count}):" in out
    assert "lists no image model that the catalog lacks" in out


def test_models_refresh_needs_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--refresh"]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err


def test_models_refresh_lists_usable_models_and_the_overlay_entries_to_add(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = ["gpt-image-2", "gpt-image-2.5-flare-2026-09-08", "gpt-image-9", "gpt-4o"]
    listing += ["dall-e-2", "chatgpt-image-2", "whisper-1"]
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        data = [{"id": name, "object": "model", "owned_by": "system"} for name in listing]
        return httpx.Response(200, json={"object": "list", "data": data})

    def client(args: Any) -> ImageClient:
        http = httpx.Client(transport=httpx.MockTransport(answer))
        return ImageClient(api_key=FAKE_KEY, http_client=http, history=False)

    monkeypatch.setattr(cli, "_models_client", client)
    assert main(["models", "--refresh"]) == 0
    out = capsys.readouterr().out
    assert [(r.method, r.url.path) for r in seen] == [("GET", "/v1/models")]
    assert seen[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert "Catalog models this key can use (3):" in out
    assert "gpt-image-2.5-flare-2026-09-08" in out  # listed under an alias
    assert "Catalog models not listed for this key" in out and "gpt-image-1.5" in out
    entries = json.loads(out[out.index("[") : out.index("]") + 1])
    assert entries == [
        {"name": "gpt-image-9", "base": entries[0]["base"]},
        {"name": "chatgpt-image-2", "base": "chatgpt-image-latest"},
    ]
    assert get_model(entries[0]["base"]).family == "gpt-image"
    assert "gpt-4o" not in out and "whisper-1" not in out
    assert "GPTIMAGE_MODELS" in out and FAKE_KEY not in out


def test_history_list_and_search(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "a lighthouse at dusk", "--offline"]) == 0
    assert main(["generate", "a forest", "--offline", "--model", "gpt-image-1.5"]) == 0
    capsys.readouterr()
    assert main(["history"]) == 0
    listing = capsys.readouterr().out
    assert "a lighthouse at dusk" in listing and "a forest" in listing
    assert main(["history", "search", "lighthouse"]) == 0
    found = capsys.readouterr().out
    assert "a lighthouse at dusk" in found and "a forest" not in found
    assert main(["history", "list", "--model", "gpt-image-1.5"]) == 0
    assert "a lighthouse" not in capsys.readouterr().out
    assert main(["history", "search", "zebra"]) == 0
    assert "no saved results" in capsys.readouterr().out
    assert main(["history", "search"]) == 2


def _gptimage() -> list[str]:
    script = shutil.which("gptimage")
    assert script is not None, "the gptimage entry point is not installed (pip install -e .)"
    return [script]


def test_generate_as_a_subprocess(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    done = subprocess.run(
        [*_gptimage(), "generate", "a lighthouse at dusk", "--offline", "-o", "out.png"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote out.png" in done.stdout
    assert Image.open(tmp_path / "out.png").size == (1024, 1024)


def test_serve_runs_until_interrupted(tmp_path: Path) -> None:
    with gptimage_serve(cwd=tmp_path) as base_url:  # then Ctrl-C: exit code 0
        assert httpx.get(f"{base_url}/models", timeout=10).status_code == 200
