"""Matplotlib views of results: image grids, mask overlays and parameter sweeps.

Every function builds a :class:`matplotlib.figure.Figure` directly (never ``pyplot``), so it
works headless, leaves no global pyplot state behind and shows inline in Jupyter when it is
the last expression of a cell. Image data is drawn unchanged: ``ax.images[-1].get_array()``
equals the input (RGBA images get a checkerboard drawn underneath).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from .errors import ValidationError
from .sweeps import SweepResults


class InlineFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that shows itself in Jupyter.

    The helpers build figures without pyplot (no global state, safe headless), and a bare
    ``Figure`` displays only as ``<Figure size ...>`` unless pyplot's inline backend is
    active; this subclass renders itself as PNG for IPython's display system.
    """

    def _repr_png_(self) -> bytes:
        import io

        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(self)
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi)
        return buffer.getvalue()


__all__ = ["plot_grid", "plot_mask_overlay", "plot_sweep"]

#: Width in inches of one image cell when ``figsize`` is not given.
CELL_INCHES = 3.0
#: Most columns :func:`plot_grid` uses when ``ncols`` is not given.
MAX_COLUMNS = 4
#: Longest label before it is shortened with an ellipsis.
LABEL_CHARS = 60
CHECKER_LIGHT, CHECKER_DARK = 0.9, 0.7

_ACCEPTED = (
    "an ImageResult, a list of ImageResults, a list of images (arrays, PIL images, paths, "
    "bytes), an (n, H, W, C) array or a single (H, W) / (H, W, 3|4) array"
)


# --------------------------------------------------------------------------- inputs


def _is_result(value: Any) -> bool:
    """Whether ``value`` looks like an :class:`~gptimage_widgets.results.ImageResult`."""
    return hasattr(value, "images") and hasattr(value, "request")


def _check_image_array(image: np.ndarray, what: str) -> np.ndarray:
    """Validate one image array for display and return it unchanged.

    Accepted: ``(H, W)``, ``(H, W, 1|3|4)``; uint8 (0..255) or float in [0, 1] (bool too).
    """
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValidationError(
            f"{what} has shape {image.shape}; use (H, W), (H, W, 3) or (H, W, 4)",
            param="images",
            value=image.shape,
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValidationError(f"{what} is empty {image.shape}", param="images", value=image.shape)
    if image.dtype == np.uint8 or (image.dtype == np.bool_ and image.ndim == 2):
        return image
    if np.issubdtype(image.dtype, np.floating):
        low, high = float(np.nanmin(image)), float(np.nanmax(image))
        if low >= 0.0 and high <= 1.0:
            return image
        raise ValidationError(
            f"{what} is float with values in [{low:g}, {high:g}]; floats must lie in [0, 1] "
            "(divide by 255, or pass uint8)",
            param="images",
            value=(low, high),
        )
    raise ValidationError(
        f"{what} has dtype {image.dtype}; use uint8 (0..255) or float in [0, 1]",
        param="images",
        value=str(image.dtype),
    )


def _to_display_array(image: Any, what: str) -> np.ndarray:
    """One image as an array drawn as-is; non-arrays go through ``imaging.to_array``."""
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        return _check_image_array(image, what)
    if isinstance(image, (str, bytes, bytearray)) or hasattr(image, "__fspath__"):
        return _decode_other(image, what)
    if type(image).__module__.startswith("PIL."):
        return _decode_other(image, what)
    raise ValidationError(
        f"{what} is a {type(image).__name__}; plot functions accept {_ACCEPTED}",
        param="images",
        value=type(image).__name__,
    )


def _decode_other(image: Any, what: str) -> np.ndarray:
    from . import imaging  # core module; loaded only for PIL images, paths and bytes

    try:
        return np.asarray(imaging.to_array(image))
    except ValidationError as exc:
        raise ValidationError(f"{what}: {exc.message}", param="images", value=None) from exc


def _flatten(source: Any) -> tuple[list[np.ndarray], list[Any]]:
    """The images to draw and, for each, the result it came from (or ``None``)."""
    if _is_result(source):
        return _from_result(source, 0)
    if isinstance(source, np.ndarray):
        if source.ndim == 4:
            return [_to_display_array(im, f"image {i}") for i, im in enumerate(source)], [
                None
            ] * len(source)
        return [_to_display_array(source, "the image")], [None]
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes, bytearray)):
        images: list[np.ndarray] = []
        origins: list[Any] = []
        for index, item in enumerate(source):
            if _is_result(item):
                more, sources = _from_result(item, index)
            else:
                more, sources = [_to_display_array(item, f"item {index}")], [None]
            images += more
            origins += sources
        return images, origins
    return [_to_display_array(source, "the input")], [None]


def _from_result(result: Any, index: int) -> tuple[list[np.ndarray], list[Any]]:
    images = [
        _to_display_array(np.asarray(im), f"image {j} of result {index}")
        for j, im in enumerate(result.images)
    ]
    return images, [result] * len(images)


# --------------------------------------------------------------------------- labels


def _shorten(value: Any, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _request_params(result: Any) -> dict[str, Any]:
    params = {"model": getattr(result, "model", None)}
    params.update(dict(getattr(result, "request", None) or {}))
    return params


def _differing_keys(results: Sequence[Any]) -> list[str]:
    """Request parameters whose values differ between ``results``, in first-seen order."""
    all_params = [_request_params(r) for r in results]
    keys = list(dict.fromkeys(k for p in all_params for k in p))
    return [k for k in keys if len({repr(p.get(k)) for p in all_params}) > 1]


def _titles_from_results(origins: list[Any]) -> list[str] | None:
    """Titles naming the parameters that differ between the results the images came from."""
    results = list({id(r): r for r in origins if r is not None}.values())
    if len(results) < 2 or any(r is None for r in origins):
        return None
    keys = _differing_keys(results) or ["model"]
    counts: dict[int, int] = {}
    titles = []
    for result in origins:
        params = _request_params(result)
        label = ", ".join(f"{k}={_shorten(params.get(k), 30)}" for k in keys)
        if len(result.images) > 1:
            counts[id(result)] = counts.get(id(result), 0) + 1
            label += f" #{counts[id(result)]}"
        titles.append(label)
    return titles


def _describe(result: Any) -> str:
    params = _request_params(result)
    parts = [str(params[k]) for k in ("model", "quality", "size") if params.get(k)]
    return " · ".join(parts)


# --------------------------------------------------------------------------- drawing


def _checkerboard(height: int, width: int) -> np.ndarray:
    """A small ``(rows, cols)`` float board in [0, 1], stretched over the image by ``extent``."""
    cell = max(8, min(height, width) // 16)
    rows, cols = math.ceil(height / cell), math.ceil(width / cell)
    board = (np.add.outer(np.arange(rows), np.arange(cols)) % 2).astype(np.float32)
    return np.where(board == 1, CHECKER_DARK, CHECKER_LIGHT)


def _draw_image(ax: Axes, image: np.ndarray) -> None:
    """Draw ``image`` unchanged as the axes' last image; RGBA over a checkerboard."""
    height, width = image.shape[:2]
    if image.ndim == 3 and image.shape[2] == 4:
        extent = (-0.5, width - 0.5, height - 0.5, -0.5)
        board = _checkerboard(height, width)
        ax.imshow(board, cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="nearest")
    if image.ndim == 2:
        high = 255 if image.dtype == np.uint8 else 1
        ax.imshow(image, cmap="gray", vmin=0, vmax=high)
    else:
        ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])


def _grid_shape(count: int, ncols: int | None) -> tuple[int, int]:
    if ncols is None:
        ncols = min(count, MAX_COLUMNS)
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValidationError(
            f"ncols {ncols!r} is not a positive int; pass e.g. ncols=4", param="ncols", value=ncols
        )
    ncols = min(ncols, count)
    return math.ceil(count / ncols), ncols


def _default_figsize(first: np.ndarray, nrows: int, ncols: int) -> tuple[float, float]:
    aspect = min(max(first.shape[0] / first.shape[1], 0.25), 4.0)
    return CELL_INCHES * ncols, CELL_INCHES * aspect * nrows + 0.4


def _check_titles(titles: Any, count: int) -> list[str] | None:
    if titles is None:
        return None
    if isinstance(titles, str) or not isinstance(titles, Sequence) or len(titles) != count:
        raise ValidationError(
            f"titles must be a list of {count} strings (one per image), got {titles!r}",
            param="titles",
            value=titles,
        )
    return [str(t) for t in titles]


# --------------------------------------------------------------------------- public


def plot_grid(
    result_or_arrays: Any,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Show images in a grid.

    Parameters
    ----------
    result_or_arrays : ImageResult, list of ImageResult, list of images, or ndarray
        An ImageResult; a list of them (e.g. a sweep: titles then name the request
        parameters that differ); a list of images (arrays, PIL images, paths, bytes); an
        ``(n, H, W, C)`` array; or one ``(H, W)`` / ``(H, W, 3|4)`` array. Arrays are uint8
        (0..255) or float in [0, 1]; they are drawn unchanged.
    titles : list of str, optional
        One per image.
    ncols : int, optional
        Columns of the grid (default: up to 4).
    figsize : (float, float), optional
        Inches; default 3 inches per column, rows by the first image's aspect ratio.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per image (no empty axes); RGBA images over a checkerboard.

    Raises
    ------
    ValidationError
        On an empty input, an unsupported type, shape or dtype, or titles of the wrong length.
    """
    images, origins = _flatten(result_or_arrays)
    if not images:
        raise ValidationError(
            f"nothing to plot: got no images; pass {_ACCEPTED}", param="images", value=0
        )
    shown_titles = _check_titles(titles, len(images)) or _titles_from_results(origins)
    nrows, columns = _grid_shape(len(images), ncols)
    figure = InlineFigure(
        figsize=figsize or _default_figsize(images[0], nrows, columns), layout="constrained"
    )
    axes = figure.subplots(nrows, columns, squeeze=False).ravel()
    for index, (ax, image) in enumerate(zip(axes, images, strict=False)):
        _draw_image(ax, image)
        if shown_titles:
            ax.set_title(shown_titles[index], fontsize="small")
    for ax in axes[len(images) :]:
        figure.delaxes(ax)
    if _is_result(result_or_arrays):
        figure.suptitle(_describe(result_or_arrays), fontsize="medium")
    return figure


def _rgb_float(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float64 in [0, 1]; RGBA composited over the checkerboard."""
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    data = image.astype(np.float64) / scale
    if data.ndim == 2:
        data = np.repeat(data[..., None], 3, axis=2)
    if data.shape[2] == 4:
        height, width = data.shape[:2]
        board = _checkerboard(height, width)
        cell = max(8, min(height, width) // 16)
        under = np.repeat(np.repeat(board, cell, axis=0), cell, axis=1)[:height, :width]
        alpha = data[..., 3:]
        data = data[..., :3] * alpha + under[..., None] * (1 - alpha)
    return data


def _to_mask(mask: Any, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` bool, True = replace, matching ``shape`` = (H, W).

    Read by ``imaging.mask_to_array`` (the package's one mask convention, ``masks.py``):
    2-D arrays nonzero/True = replace (floats threshold at 0.5), RGBA alpha 0 = replace.
    """
    from . import imaging

    return imaging.mask_to_array(mask, (shape[1], shape[0]))


def _check_overlay_style(alpha: Any, color: Any) -> tuple[float, np.ndarray]:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValidationError(
            f"alpha {alpha!r} must be a number in [0, 1], e.g. 0.5", param="alpha", value=alpha
        )
    try:
        rgb = np.array(to_rgb(color), dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"color {color!r} is not a colour; use an (r, g, b) tuple in [0, 1] or a name "
            "like 'red'",
            param="color",
            value=color,
        ) from exc
    return float(alpha), rgb


def plot_mask_overlay(
    image: Any,
    mask: Any,
    alpha: float = 0.5,
    color: Any = (1.0, 0.0, 0.0),
) -> Figure:
    """Show a mask tinted over its image.

    Parameters
    ----------
    image : ndarray, PIL image, path or bytes
        ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, uint8 or float in [0, 1]; RGBA is
        composited over a checkerboard first.
    mask : ndarray or image
        Anything :func:`gptimage_widgets.imaging.mask_to_array` reads: an ``(H, W)`` array,
        nonzero/True = replace (floats in [0, 1] from 0.5); or an RGBA image/PNG whose alpha
        0 marks the area to replace (OpenAI's convention). Must match the image's size.
    alpha : float
        Opacity of the tint in [0, 1].
    color : (r, g, b) in [0, 1] or a matplotlib colour name

    Returns
    -------
    matplotlib.figure.Figure
        One axes whose image is ``(H, W, 3)`` float64 in [0, 1]: the image where the mask is
        False, ``(1 - alpha) * image + alpha * color`` where it is True. The title gives the
        masked share of pixels.

    Raises
    ------
    ValidationError
        On an unsupported image or mask, a size mismatch, a bad alpha or colour.
    """
    picture = _to_display_array(image, "the image")
    selected = _to_mask(mask, picture.shape[:2])
    weight, tint = _check_overlay_style(alpha, color)
    shown = _rgb_float(picture)
    shown[selected] = (1 - weight) * shown[selected] + weight * tint
    height, width = picture.shape[:2]
    figure = InlineFigure(figsize=_default_figsize(picture, 1, 1), layout="constrained")
    ax = figure.subplots()
    ax.imshow(shown, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    share = 100.0 * selected.mean()
    ax.set_title(f"mask: {share:.1f}% of {width}x{height} to replace", fontsize="small")
    return figure


def _param_value(result: Any, name: str) -> Any:
    params = _request_params(result)
    if name in params:
        return params[name]
    raise ValidationError(
        f"parameter {name!r} is not in a result's request; it has {sorted(map(str, params))}",
        param=name,
        value=None,
    )


def _key(value: Any) -> Hashable:
    return value if isinstance(value, Hashable) else repr(value)


def _sweep_cells(
    results: Sequence[Any], row_param: str, col_param: str
) -> tuple[list[Any], list[Any], dict[tuple[Hashable, Hashable], Any]]:
    """Row values, column values (first-seen order) and the result of each cell."""
    rows: dict[Hashable, Any] = {}
    cols: dict[Hashable, Any] = {}
    cells: dict[tuple[Hashable, Hashable], Any] = {}
    for result in results:
        row, col = _param_value(result, row_param), _param_value(result, col_param)
        rows.setdefault(_key(row), row)
        cols.setdefault(_key(col), col)
        cell = (_key(row), _key(col))
        if cell in cells:
            raise ValidationError(
                f"two results have {row_param}={_shorten(row, 40)!r} and {col_param}={col!r}; "
                "plot_sweep shows one result per cell: filter the results or use plot_grid",
                param=col_param,
                value=col,
            )
        cells[cell] = result
    return list(rows.values()), list(cols.values()), cells


def plot_sweep(results: Sequence[Any], row_param: str, col_param: str) -> Figure:
    """Compare a sweep: one row per value of ``row_param``, one column per ``col_param``.

    Parameters
    ----------
    results : list of ImageResult, SweepResults or BatchResults
        E.g. from ``AsyncImageClient.sweep``, :func:`~gptimage_widgets.sweeps.load_sweep` or
        ``BatchJob.results()`` (failed items are skipped); each result fills one cell with its
        first image.
    row_param, col_param : str
        Request parameter names (``"prompt"``, ``"quality"``, ``"size"``...) or ``"model"``.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(rows) * len(cols)`` axes in first-seen order; column values as titles of the
        top row, row values as labels of the first column; cells with no result are blank.

    Raises
    ------
    ValidationError
        On no results, a parameter missing from a request, or two results for one cell.
    """
    to_sweep = getattr(results, "to_sweep", None)
    if callable(to_sweep):  # BatchResults: exported as a sweep
        results = to_sweep()
    if isinstance(results, SweepResults):  # failed items leave their cell blank
        results = results.ok
    if isinstance(results, Mapping) or _is_result(results) or not isinstance(results, Sequence):
        raise ValidationError(
            f"results must be a list of ImageResults, got {type(results).__name__}",
            param="results",
            value=type(results).__name__,
        )
    if not results or not all(_is_result(r) for r in results):
        raise ValidationError(
            "results must be a non-empty list of ImageResults (e.g. from a sweep)",
            param="results",
            value=len(results),
        )
    rows, cols, cells = _sweep_cells(results, row_param, col_param)
    first = _to_display_array(np.asarray(results[0].images[0]), "image 0 of result 0")
    figure = InlineFigure(
        figsize=_default_figsize(first, len(rows), len(cols)), layout="constrained"
    )
    axes = figure.subplots(len(rows), len(cols), squeeze=False)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            _draw_cell(axes[i, j], cells.get((_key(row), _key(col))))
        label = textwrap.fill(_shorten(row), 24)
        axes[i, 0].set_ylabel(f"{row_param}=\n{label}" if row_param != "prompt" else label)
    for j, col in enumerate(cols):
        axes[0, j].set_title(f"{col_param}={_shorten(col, 30)}", fontsize="small")
    return figure


def _draw_cell(ax: Axes, result: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if result is None or not result.images:
        ax.text(0.5, 0.5, "no result", ha="center", va="center", transform=ax.transAxes)
        return
    _draw_image(ax, _to_display_array(np.asarray(result.images[0]), "a sweep image"))
    if len(result.images) > 1:
        ax.set_xlabel(f"+{len(result.images) - 1} more", fontsize="small")
