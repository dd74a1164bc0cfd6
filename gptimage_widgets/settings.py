"""User settings that persist between sessions: small JSON files in the user's config folder.

Today one file: ``painter.json``, the mask painter's tool, brush size, overlay opacity and
colour (written whenever one of them changes, read when a painter is built).

Where the folder is (:func:`config_dir`):

- ``$GPTIMAGE_CONFIG_DIR`` when set (tests, or to keep settings with a project);
- Windows: ``%APPDATA%\\gptimage-widgets``;
- elsewhere (Linux, macOS): ``$XDG_CONFIG_HOME/gptimage-widgets``, by default
  ``~/.config/gptimage-widgets``.

A settings file never breaks anything: a missing, unreadable, corrupt or hand-edited file
reads as "no settings" (:func:`load_settings` warns once per problem and returns ``{}``),
unknown keys are ignored and each value is validated or clamped on its own
(:func:`clean_painter_settings`). Files are written atomically (a temporary file in the same
folder, then :func:`os.replace`), so a reader never sees half a file. To start over, delete
the file: :func:`reset_settings`, ``MaskPainter.reset_settings()`` or ``gptimage settings
reset``.

This module is core: standard library only.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_VAR",
    "PAINTER",
    "clean_painter_settings",
    "config_dir",
    "load_settings",
    "reset_settings",
    "save_settings",
    "settings_path",
]

#: Environment variable naming the settings folder (overrides the platform's default).
ENV_VAR = "GPTIMAGE_CONFIG_DIR"
#: The folder's name inside the platform's config folder.
APP_DIR = "gptimage-widgets"
#: The mask painter's settings file name (without ``.json``).
PAINTER = "painter"
#: Every settings file this package writes (what ``reset_settings()`` deletes).
KNOWN = (PAINTER,)
#: Files larger than this are not settings this package wrote: ignored.
MAX_BYTES = 64 * 1024
#: The largest brush diameter kept (image pixels); the painter clamps further to its image.
MAX_BRUSH_SIZE = 16384
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_HEX_COLOR = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def config_dir() -> Path:
    """The folder holding the settings files (it may not exist yet).

    Returns
    -------
    pathlib.Path
        ``$GPTIMAGE_CONFIG_DIR``; else on Windows ``%APPDATA%/gptimage-widgets``; else
        ``$XDG_CONFIG_HOME/gptimage-widgets`` (default ``~/.config/gptimage-widgets``).
    """
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA", "").strip()
        base = Path(appdata) if appdata else Path.home() / "AppData" / "Roaming"
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
        # the XDG spec: a relative $XDG_CONFIG_HOME is invalid and must be ignored
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / APP_DIR


def settings_path(name: str = PAINTER) -> Path:
    """The file of the settings called ``name`` (e.g. ``"painter"`` -> ``painter.json``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"settings name must be lowercase letters, digits, '-' or '_', got {name!r}"
        )
    return config_dir() / f"{name}.json"


def load_settings(name: str = PAINTER) -> dict[str, Any]:
    """The JSON object saved as ``name``, or ``{}`` when there is none or it is unusable.

    Never raises for the file's sake: an unreadable, oversized or corrupt file, or one that
    holds something other than a JSON object, gives ``{}`` and a :class:`UserWarning` naming
    the file and how to reset it. The values are returned as read: validate them (e.g.
    :func:`clean_painter_settings`).
    """
    path = settings_path(name)
    try:
        if path.stat().st_size > MAX_BYTES:
            return _unusable(path, f"larger than {MAX_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return _unusable(path, f"{type(exc).__name__}: {exc}")
    if not isinstance(data, dict):
        return _unusable(path, f"it holds a JSON {type(data).__name__}, not an object")
    return data


def _unusable(path: Path, why: str) -> dict[str, Any]:
    warnings.warn(
        f"ignoring the settings file {path} ({why}); it is replaced when a setting changes, "
        "or delete it: gptimage settings reset",
        UserWarning,
        stacklevel=3,
    )
    return {}


def save_settings(name: str, values: Mapping[str, Any]) -> Path:
    """Write ``values`` as the JSON object ``name``, atomically; returns the file's path.

    Parameters
    ----------
    name : str
        The settings' name (``"painter"``).
    values : Mapping
        JSON-serialisable values.

    Raises
    ------
    OSError
        The folder cannot be created or written (callers that must not fail catch it).
    """
    path = settings_path(name)
    text = json.dumps(dict(values), indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def reset_settings(name: str | None = None) -> list[Path]:
    """Delete the settings file ``name`` (``None``: every file this package writes).

    Returns
    -------
    list of pathlib.Path
        The files that existed and were deleted (empty when there were none).
    """
    deleted = []
    for each in KNOWN if name is None else (name,):
        path = settings_path(each)
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted.append(path)
    return deleted


# --------------------------------------------------------------------------- the painter's


def clean_painter_settings(raw: Mapping[str, Any], tools: Collection[str]) -> dict[str, Any]:
    """The usable painter settings in ``raw``: each valid value, clamped; the rest dropped.

    Parameters
    ----------
    raw : Mapping
        What :func:`load_settings` read (anything a person may have typed).
    tools : collection of str
        The painter's tool values (the painter owns the list).

    Returns
    -------
    dict
        A subset of ``tool`` (one of ``tools``), ``brush_size`` (int in
        ``[1, MAX_BRUSH_SIZE]``, from any finite number), ``opacity`` (float in ``[0, 1]``,
        4 decimals),
        ``color`` (``"#rrggbb"``, lowercase; ``"#rgb"`` is expanded). Unknown keys and
        invalid values (wrong type, NaN, booleans for numbers) are left out.
    """
    clean: dict[str, Any] = {}
    tool = raw.get("tool")
    if isinstance(tool, str) and tool in tools:
        clean["tool"] = tool
    size = _finite(raw.get("brush_size"))
    if size is not None:
        clean["brush_size"] = int(min(max(round(size), 1), MAX_BRUSH_SIZE))
    opacity = _finite(raw.get("opacity"))
    if opacity is not None:
        clean["opacity"] = round(min(max(opacity, 0.0), 1.0), 4)  # 0.35, not 0.35000000000000003
    color = raw.get("color")
    if isinstance(color, str) and (match := _HEX_COLOR.fullmatch(color.strip())):
        digits = match.group(1).lower()
        clean["color"] = "#" + (digits if len(digits) == 6 else "".join(c * 2 for c in digits))
    return clean


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
