"""Remembered settings: where the file is, reading anything a person may have typed, atomic
writes, reset (module, painter and command line)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from gptimage_widgets import settings
from gptimage_widgets.cli import main
from gptimage_widgets.widgets.painter import MaskPainter

TOOLS = ("brush", "eraser", "rect", "lasso")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cfg"
    monkeypatch.setenv(settings.ENV_VAR, str(folder))
    return folder


def write(config: Path, text: str) -> Path:
    config.mkdir(parents=True, exist_ok=True)
    path = config / "painter.json"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- where


def test_the_env_var_wins(config: Path) -> None:
    assert settings.config_dir() == config
    assert settings.settings_path() == config / "painter.json"


def test_xdg_and_home_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    monkeypatch.setattr(settings.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert settings.config_dir() == tmp_path / "xdg" / "gptimage-widgets"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/path")  # invalid per the XDG spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert settings.config_dir() == tmp_path / "home" / ".config" / "gptimage-widgets"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert settings.config_dir() == tmp_path / "home" / ".config" / "gptimage-widgets"


def test_windows_uses_appdata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    monkeypatch.setattr(settings.sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    assert settings.config_dir() == tmp_path / "Roaming" / "gptimage-widgets"


def test_settings_names_are_checked() -> None:
    with pytest.raises(ValueError, match="lowercase"):
        settings.settings_path("../evil")


# --------------------------------------------------------------------------- load / save


def test_save_then_load_round_trips_and_leaves_no_temporary_file(config: Path) -> None:
    assert settings.load_settings() == {}  # no file yet, no folder yet
    path = settings.save_settings("painter", {"tool": "rect", "brush_size": 12})
    assert path == config / "painter.json"
    assert settings.load_settings() == {"tool": "rect", "brush_size": 12}
    settings.save_settings("painter", {"tool": "lasso"})
    assert settings.load_settings() == {"tool": "lasso"}
    assert os.listdir(config) == ["painter.json"]


def test_a_failed_write_keeps_the_old_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.save_settings("painter", {"tool": "rect"})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(settings.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        settings.save_settings("painter", {"tool": "lasso"})
    assert settings.load_settings() == {"tool": "rect"}
    assert os.listdir(config) == ["painter.json"]  # the temporary file is gone


@pytest.mark.parametrize(
    "text",
    ["{not json", "[1, 2, 3]", '"brush"', "", "\xff\xfe garbage", "null"],
)
def test_corrupt_files_read_as_nothing_with_a_warning(config: Path, text: str) -> None:
    path = write(config, text)
    with pytest.warns(UserWarning, match="gptimage settings reset") as caught:
        assert settings.load_settings() == {}
    assert str(path) in str(caught[0].message)


def test_oversized_files_are_ignored(config: Path) -> None:
    write(config, json.dumps({"tool": "rect", "pad": "x" * settings.MAX_BYTES}))
    with pytest.warns(UserWarning, match="larger than"):
        assert settings.load_settings() == {}


def test_a_folder_in_place_of_the_file_is_ignored(config: Path) -> None:
    (config / "painter.json").mkdir(parents=True)
    with pytest.warns(UserWarning):
        assert settings.load_settings() == {}


def test_reset_deletes_the_file(config: Path) -> None:
    assert settings.reset_settings() == []
    settings.save_settings("painter", {"tool": "rect"})
    assert settings.reset_settings("painter") == [config / "painter.json"]
    assert not (config / "painter.json").exists()


# --------------------------------------------------------------------------- validation


def test_clean_keeps_valid_values_and_normalises() -> None:
    raw = {"tool": "lasso", "brush_size": 40, "opacity": 0.25, "color": "#0F8", "extra": 1}
    assert settings.clean_painter_settings(raw, TOOLS) == {
        "tool": "lasso",
        "brush_size": 40,
        "opacity": 0.25,
        "color": "#00ff88",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"brush_size": 0}, {"brush_size": 1}),
        ({"brush_size": -5}, {"brush_size": 1}),
        ({"brush_size": 1e12}, {"brush_size": settings.MAX_BRUSH_SIZE}),
        ({"brush_size": 12.6}, {"brush_size": 13}),
        ({"opacity": 7}, {"opacity": 1.0}),
        ({"opacity": -1}, {"opacity": 0.0}),
        ({"opacity": 0.35000000000000003}, {"opacity": 0.35}),
        ({"color": "00FF00"}, {"color": "#00ff00"}),
        ({"color": " #abc "}, {"color": "#aabbcc"}),
    ],
)
def test_clean_clamps(raw: dict, expected: dict) -> None:
    assert settings.clean_painter_settings(raw, TOOLS) == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"tool": "spray"},
        {"tool": 3},
        {"tool": ["brush"]},
        {"brush_size": True},
        {"brush_size": "40"},
        {"brush_size": float("nan")},
        {"brush_size": None},
        {"opacity": float("inf")},
        {"opacity": "0.5"},
        {"opacity": False},
        {"color": "red"},
        {"color": "#12345"},
        {"color": 0xFF0000},
        {"nonsense": {"deep": [1, 2]}},
    ],
)
def test_clean_drops_what_it_cannot_use(raw: dict) -> None:
    assert settings.clean_painter_settings(raw, TOOLS) == {}


# --------------------------------------------------------------------------- the painter


def image() -> np.ndarray:
    return np.zeros((600, 800, 3), np.uint8)


def test_the_painter_remembers_tool_size_opacity_and_colour(config: Path) -> None:
    first = MaskPainter(image())
    assert not (config / "painter.json").exists()  # building a painter writes nothing
    first.tool_buttons.value = "lasso"
    first.brush_size = 33
    first.opacity_slider.value = 0.75
    first.color_picker.value = "#00ff00"
    saved = json.loads((config / "painter.json").read_text())
    assert saved == {
        "version": 1,
        "tool": "lasso",
        "brush_size": 33,
        "opacity": 0.75,
        "color": "#00ff00",
    }
    second = MaskPainter(image())
    assert second.tool_buttons.value == "lasso"
    assert second.brush_size == 33
    assert second.opacity_slider.value == 0.75
    assert second.color_picker.value == "#00ff00"


def test_only_what_the_user_changed_is_remembered(config: Path) -> None:
    painter = MaskPainter(image(), brush_size=40, opacity=0.3)
    painter.tool_buttons.value = "rect"
    assert json.loads((config / "painter.json").read_text()) == {"version": 1, "tool": "rect"}
    big = MaskPainter(np.zeros((2160, 3840, 3), np.uint8))
    assert big.brush_size == 120  # the image's own default: 3840 / 32
    assert big.opacity_slider.value == 0.5
    big.opacity_slider.value = 0.8
    assert settings.load_settings() == {"version": 1, "tool": "rect", "opacity": 0.8}


def test_arguments_win_over_remembered_values(config: Path) -> None:
    settings.save_settings("painter", {"brush_size": 33, "opacity": 0.75, "color": "#00ff00"})
    painter = MaskPainter(image(), brush_size=10, opacity=0.2, color="#0000ff")
    assert (painter.brush_size, painter.opacity_slider.value) == (10, 0.2)
    assert painter.color_picker.value == "#0000ff"
    assert settings.load_settings()["brush_size"] == 33  # arguments are not saved


def test_a_remembered_size_is_clamped_to_a_small_image(config: Path) -> None:
    settings.save_settings("painter", {"brush_size": 5000})
    painter = MaskPainter(np.zeros((64, 96, 3), np.uint8))
    assert painter.brush_size == painter.size_slider.max == 24
    assert settings.load_settings()["brush_size"] == 5000  # clamping is not a user change


def test_set_image_keeps_the_remembered_size(config: Path) -> None:
    painter = MaskPainter(image())
    painter.brush_size = 21
    painter.set_image(np.zeros((1000, 1200, 3), np.uint8))
    assert painter.brush_size == 21


def test_remember_settings_false_reads_and_writes_nothing(config: Path) -> None:
    settings.save_settings("painter", {"tool": "rect", "brush_size": 33})
    painter = MaskPainter(image(), remember_settings=False)
    assert painter.tool_buttons.value == "brush" and painter.brush_size == 25
    painter.tool_buttons.value = "eraser"
    assert settings.load_settings() == {"tool": "rect", "brush_size": 33}


def test_a_corrupt_or_hand_edited_file_never_breaks_the_painter(config: Path) -> None:
    write(config, "{ this is not json")
    with pytest.warns(UserWarning, match="ignoring the settings file"):
        painter = MaskPainter(image())
    assert painter.tool_buttons.value == "brush"
    painter.tool_buttons.value = "rect"  # replaces the bad file
    assert settings.load_settings()["tool"] == "rect"
    write(config, json.dumps({"tool": "spray", "brush_size": "big", "opacity": 9, "x": [1]}))
    painter = MaskPainter(image())
    assert painter.tool_buttons.value == "brush" and painter.brush_size == 25
    assert painter.opacity_slider.value == 1.0


def test_an_unwritable_folder_warns_once_and_stops_saving(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("a file where the folder should be")
    painter = MaskPainter(image())
    with pytest.warns(UserWarning, match="could not save the painter settings"):
        painter.tool_buttons.value = "rect"
    assert painter.remember_settings is False
    painter.tool_buttons.value = "lasso"  # no second warning (pytest would fail on error)


def test_painter_reset_settings(config: Path) -> None:
    painter = MaskPainter(image())
    painter.brush_size = 40
    assert MaskPainter.settings_path() == config / "painter.json"
    assert MaskPainter.reset_settings() is True
    assert MaskPainter.reset_settings() is False
    assert MaskPainter(image()).brush_size == 25


def test_cli_settings_show_path_and_reset(config: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["settings", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(config / "painter.json")
    assert main(["settings", "show"]) == 0
    assert "no painter settings saved" in capsys.readouterr().out
    settings.save_settings("painter", {"tool": "rect", "brush_size": 12})
    assert main(["settings", "show"]) == 0
    out = capsys.readouterr().out
    assert '"tool": "rect"' in out and str(config / "painter.json") in out
    assert main(["settings", "reset"]) == 0
    assert "deleted" in capsys.readouterr().out
    assert not (config / "painter.json").exists()
    assert main(["settings", "reset"]) == 0
    assert "nothing to reset" in capsys.readouterr().out
