"""The painter's remembered settings: which controls are remembered, when they are saved.

:class:`RememberedSettings` reads ``painter.json`` once (:mod:`gptimage_widgets.settings`
owns where it lives, the atomic write and what a value may hold) and, for each watched
control, merges the value the user just set into the file. Values set by the painter itself
(while building, or a new image's default brush size) are not saved: see :meth:`quiet`.
A failed write warns once and stops remembering.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets

from .. import settings

__all__ = ["RememberedSettings"]


class RememberedSettings:
    """The tool, brush size, opacity and colour of the last session, saved as they change.

    Parameters
    ----------
    enabled : bool
        False: neither read nor write the file.
    tools : sequence of str
        The tool names a remembered tool may be.
    """

    def __init__(self, enabled: bool, tools: Sequence[str]) -> None:
        self.enabled = bool(enabled)
        self._tools = list(tools)
        self.values: dict[str, Any] = self._load() if self.enabled else {}
        self._quiet = 0

    def get(self, key: str, default: Any = None) -> Any:
        """The remembered value of ``key`` ("tool", "brush_size", "opacity", "color")."""
        return self.values.get(key, default)

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Changes made inside are the painter's, not the user's: nothing is saved."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def watch(self, controls: Mapping[str, widgets.ValueWidget]) -> None:
        """Save each control's ``value`` under its key whenever the user changes it."""
        for key, control in controls.items():
            control.observe(lambda change, key=key: self.save(key, change["new"]), "value")

    def save(self, key: str, value: Any) -> None:
        """Remember that the user set ``key`` to ``value`` (merged into the file).

        Only values the user set are remembered: a size never touched stays the image's
        default (1/32 of its side) in the next session.
        """
        if self._quiet or not self.enabled:
            return
        values = settings.clean_painter_settings({**self.values, key: value}, self._tools)
        if values == self.values:
            return
        try:
            settings.save_settings(settings.PAINTER, {"version": 1, **values})
        except OSError as exc:
            warnings.warn(
                f"could not save the painter settings ({exc}); they are not remembered "
                "(MaskPainter(..., remember_settings=False) stops trying)",
                UserWarning,
                stacklevel=2,
            )
            self.enabled = False
            return
        self.values = values

    def _load(self) -> dict[str, Any]:
        """The remembered settings this painter can use (never raises for the file)."""
        try:
            raw = settings.load_settings(settings.PAINTER)
        except OSError:  # e.g. no home folder: nothing remembered
            return {}
        return settings.clean_painter_settings(raw, self._tools)
