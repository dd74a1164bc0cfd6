"""The mask document: an operation list with lazy batched rasterising and exact undo/redo.

Owns :class:`MaskDocument`: appending operations (rasterised in one batch on the next read),
undo checkpoints (packed rasters taken by cost, replayed from on undo), redo, and the cheap
emptiness answer :meth:`MaskDocument.is_empty`. A document may be used from several threads at
once (JupyterLab >= 4.4 runs widget messages on a kernel subshell thread while a cell runs): every
public method holds the document's lock, since even a read rasterizes pending operations.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageChops

from ..errors import ValidationError
from .grow import _ON
from .ops import (
    _RESETS,
    Clear,
    Fill,
    Grow,
    Invert,
    Lasso,
    LoadMask,
    MaskOp,
    Rect,
    Stroke,
    _check_op,
)
from .raster import _apply_op, _Canvas, _stroke_shape_queue, rasterize_ops

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _locked(method: _Method) -> _Method:
    """Run ``method`` holding its document's lock (re-entrant: methods call each other)."""

    @functools.wraps(method)
    def locked(self: MaskDocument, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


#: Replay at most about this much rasterization time on undo (seconds): a checkpoint is taken
#: once the operations since the last one cost more (a 4K checkpoint costs ~1-3 ms, 1 MB).
CHECKPOINT_BUDGET_S = 0.03
#: ... and at least every this many operations, whatever they cost.
CHECKPOINT_EVERY_OPS = 128


class MaskDocument:
    """An editable mask: operations, exact undo/redo and a full-resolution raster.

    Appending is lazy: operations are rasterized in one batch when the mask is next read
    (:attr:`mask`, :meth:`mask_image`, :meth:`is_empty`), each exactly once.

    Parameters
    ----------
    width, height : int
        The image's full size in pixels; the mask is (height, width).
    ops : iterable of MaskOp
        Operations to apply at once (each can be undone).

    Attributes
    ----------
    version : int
        Increases on every change (apply, undo, redo); observers compare it.
    """

    def __init__(self, width: int, height: int, ops: Iterable[MaskOp] = ()) -> None:
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValidationError(
                    f"mask {name} must be a positive integer, got {value!r}", param=name
                )
        self.width = int(width)
        self.height = int(height)
        self._lock = threading.RLock()
        self.version = 0
        self._ops: list[MaskOp] = []
        self._redo: list[MaskOp] = []
        self._canvas = _Canvas.blank(self.width, self.height)
        self._rasterized = 0  # the canvas shows the first this many ops
        self._checkpoints: dict[int, tuple[np.ndarray, bool]] = {}  # op count -> packed canvas
        self._cost_since_checkpoint = 0.0
        # _empty[n]: whether the mask after the first n ops is empty, None until known
        self._empty: list[bool | None] = [True]
        for op in ops:
            self.apply(op)

    @_locked
    def __repr__(self) -> str:
        return (
            f"MaskDocument({self.width}x{self.height}, {len(self._ops)} ops, "
            f"{len(self._redo)} redoable)"
        )

    # ------------------------------------------------------------------ state

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the mask."""
        return (self.height, self.width)

    @property
    @_locked
    def ops(self) -> tuple[MaskOp, ...]:
        """The applied operations, oldest first (undone ones excluded)."""
        return tuple(self._ops)

    @property
    @_locked
    def can_undo(self) -> bool:
        """Whether :meth:`undo` has an operation to undo."""
        return bool(self._ops)

    @property
    @_locked
    def can_redo(self) -> bool:
        """Whether :meth:`redo` has an undone operation to re-apply."""
        return bool(self._redo)

    @property
    @_locked
    def mask(self) -> np.ndarray:
        """The current mask, (H, W) bool, True = replace (a fresh copy)."""
        # one pass over the raster: no cached copy (copying it would cost as much)
        return self._current().mask()

    @_locked
    def mask_image(self) -> Image.Image:
        """The current mask as a Pillow "L" image, 255 = replace, 0 = keep (a copy)."""
        canvas = self._current()
        return ImageChops.invert(canvas.image) if canvas.inverted else canvas.image.copy()

    @_locked
    def is_empty(self) -> bool:
        """True when no pixel is selected.

        Cheap: most operations decide it from the answer before them (a brush stroke on a
        non-empty mask leaves it non-empty, Clear empties it, undo returns the earlier
        answer), with no rasterizing and no pass over the pixels. Only when an operation
        leaves it open (the first stroke on an empty mask, an eraser stroke, a shrink, a
        loaded mask) is the raster read, once, in C (no copy), and the answer is kept.
        """
        known = self._empty[-1]
        if known is None:
            known = self._empty[-1] = _raster_is_empty(self._current())
        return known

    # ------------------------------------------------------------------ editing

    @_locked
    def apply(self, op: MaskOp) -> None:
        """Append ``op`` (rasterized on the next read); clears the redo stack."""
        op = _check_op(op, self.width, self.height)
        self._forget_future()
        self._push(op)

    @_locked
    def undo(self) -> MaskOp | None:
        """Undo the last operation exactly; returns it, or None when there is nothing to undo."""
        if not self._ops:
            return None
        op = self._ops.pop()
        self._empty.pop()
        self._redo.append(op)
        if self._rasterized > len(self._ops):
            self._restore(len(self._ops))
        self._changed()
        return op

    @_locked
    def redo(self) -> MaskOp | None:
        """Re-apply the last undone operation; returns it, or None when there is none."""
        if not self._redo:
            return None
        op = self._redo.pop()
        self._push(op)
        return op

    def clear(self) -> None:
        """Clear the whole mask (undoable)."""
        self.apply(Clear())

    def fill(self) -> None:
        """Select the whole image (undoable)."""
        self.apply(Fill())

    def invert(self) -> None:
        """Swap selected and unselected pixels (undoable)."""
        self.apply(Invert())

    def grow(self, pixels: int) -> None:
        """Grow by ``pixels`` (negative shrinks)."""
        self.apply(Grow(pixels))

    def load(self, mask: np.ndarray) -> None:
        """Replace the mask by ``mask`` (H, W), nonzero = replace (undoable)."""
        self.apply(LoadMask(mask))

    @_locked
    def rasterize(self) -> np.ndarray:
        """Rasterize every applied operation from scratch (no caches): (H, W) bool."""
        return rasterize_ops(self.width, self.height, self._ops)

    # ------------------------------------------------------------------ internals

    def _push(self, op: MaskOp) -> None:
        """Append ``op`` with the emptiness it leaves (when the ops decide it)."""
        self._empty.append(_emptiness_after(self._empty[-1], op, self.width, self.height))
        self._ops.append(op)
        self._changed()

    def _changed(self) -> None:
        self.version += 1

    def _forget_future(self) -> None:
        """A new op after undo: redo is gone and checkpoints past the present are stale."""
        self._redo.clear()
        count = len(self._ops)
        for key in [k for k in self._checkpoints if k > count]:
            del self._checkpoints[key]

    def _current(self) -> _Canvas:
        """The canvas with every applied op rasterized (the pending ones in one batch)."""
        if self._rasterized < len(self._ops):
            self._rasterize_pending()
        return self._canvas

    def _rasterize_pending(self) -> None:
        """Rasterize the ops not yet on the canvas, stroke geometry in one batch."""
        started = time.perf_counter()
        pending = self._ops[self._rasterized :]
        shapes = _stroke_shape_queue(pending)
        geometry_per_op = (time.perf_counter() - started) / len(pending)  # shared by the batch
        for op in pending:
            started = time.perf_counter()
            _apply_op(self._canvas, op, next(shapes) if isinstance(op, Stroke) else None)
            self._rasterized += 1
            self._cost_since_checkpoint += time.perf_counter() - started + geometry_per_op
            self._maybe_checkpoint(op)

    def _maybe_checkpoint(self, op: MaskOp) -> None:
        """Store a packed canvas after ``op`` when replay since the last one got costly."""
        count = self._rasterized
        if count in self._checkpoints or isinstance(op, _RESETS):
            self._cost_since_checkpoint = 0.0  # replay can start at a reset op itself
            return
        since = count - max((k for k in self._checkpoints if k <= count), default=0)
        if (
            isinstance(op, Grow)
            or self._cost_since_checkpoint > CHECKPOINT_BUDGET_S
            or since >= CHECKPOINT_EVERY_OPS
        ):
            self._checkpoints[count] = self._canvas.packed()
            self._cost_since_checkpoint = 0.0

    def _restore(self, count: int) -> None:
        """Reset the canvas to the latest checkpoint or reset op at or before ``count``; the
        ops after it are replayed on the next read."""
        checkpoint = max((k for k in self._checkpoints if k <= count), default=0)
        reset = max(
            (i for i in range(checkpoint, count) if isinstance(self._ops[i], _RESETS)),
            default=None,
        )
        if reset is not None or checkpoint == 0:
            self._canvas = _Canvas.blank(self.width, self.height)
            self._rasterized = reset or 0
        else:
            self._canvas = _Canvas.unpack(self._checkpoints[checkpoint], self.width)
            self._rasterized = checkpoint
        self._cost_since_checkpoint = 0.0


def _raster_is_empty(canvas: _Canvas) -> bool:
    """Whether ``canvas`` selects no pixel: one pass over the raster in Pillow's C, no copy."""
    if canvas.inverted:
        return bool(canvas.image.getextrema()[0] == _ON)
    return canvas.image.getbbox() is None


def _emptiness_after(before: bool | None, op: MaskOp, width: int, height: int) -> bool | None:
    """Whether the mask is empty after ``op``, from whether it was before (None: unknown),
    without drawing: None when only the pixels can tell."""
    if isinstance(op, (Clear, Fill)):
        return isinstance(op, Clear)
    if isinstance(op, Invert):
        return False if before else None  # empty inverts to full (the image has pixels)
    if isinstance(op, Grow):
        return before if op.pixels >= 0 or before else None  # growing keeps every pixel
    if isinstance(op, (Stroke, Rect, Lasso)):
        if op.erase:
            return True if before else None  # erasing can only empty the mask
        if before is False or (isinstance(op, Rect) and _rect_hits(op, width, height)):
            return False  # adding pixels to a non-empty mask, or a rect inside the image
        return before if isinstance(op, Rect) else None
    return None  # LoadMask: read the raster when asked


def _rect_hits(op: Rect, width: int, height: int) -> bool:
    """Whether ``op`` covers a pixel centre inside the image (as ``raster._draw_rect`` draws)."""
    left, right = (
        max(math.ceil(min(op.x0, op.x1)), 0),
        min(math.floor(max(op.x0, op.x1)), width - 1),
    )
    top, bottom = (
        max(math.ceil(min(op.y0, op.y1)), 0),
        min(math.floor(max(op.y0, op.y1)), height - 1),
    )
    return left <= right and top <= bottom
