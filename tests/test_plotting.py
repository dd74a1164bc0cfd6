"""Plotting helpers: bare matplotlib Figures, data drawn unchanged, clear errors."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from gptimage_widgets.errors import ValidationError
from gptimage_widgets.plotting import plot_grid, plot_mask_overlay, plot_sweep
from gptimage_widgets.results import ImageResult

RNG = np.random.default_rng(7)


def rgb(height: int = 24, width: int = 32) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


def rgba(height: int = 24, width: int = 32) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 4), dtype=np.uint8)


def drawn(ax) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The data of the top image of an axes."""
    return np.asarray(ax.images[-1].get_array())


def sweep() -> list[ImageResult]:
    prompts = ["a red fox", "a lighthouse at dusk"]
    qualities = ["low", "medium", "high"]
    return [
        ImageResult([rgb()], model="gpt-image-2", request={"prompt": p, "quality": q, "n": 1})
        for p in prompts
        for q in qualities
    ]


# --------------------------------------------------------------------------- plot_grid


def test_grid_of_a_batch_has_one_axes_per_image_with_the_data_unchanged() -> None:
    batch = np.stack([rgb() for _ in range(5)])
    figure = plot_grid(batch, ncols=2)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 5  # the sixth cell of the 3x2 grid is removed
    for ax, image in zip(figure.axes, batch, strict=True):
        np.testing.assert_array_equal(drawn(ax), image)
    assert figure.axes[0].get_subplotspec().get_gridspec().get_geometry() == (3, 2)


def test_grid_of_a_list_with_titles_and_float_and_gray_images() -> None:
    float_image = RNG.random((10, 12, 3))
    gray = RNG.integers(0, 256, (10, 12), dtype=np.uint8)
    figure = plot_grid([float_image, gray], titles=["float", "gray"])
    assert [ax.get_title() for ax in figure.axes] == ["float", "gray"]
    np.testing.assert_array_equal(drawn(figure.axes[0]), float_image)
    np.testing.assert_array_equal(drawn(figure.axes[1]), gray)
    assert figure.axes[1].images[-1].get_clim() == (0, 255)


def test_rgba_is_drawn_over_a_checkerboard() -> None:
    image = rgba()
    figure = plot_grid(image)
    ax = figure.axes[0]
    assert len(ax.images) == 2
    board = np.asarray(ax.images[0].get_array())
    assert board.ndim == 2 and len(np.unique(board)) == 2
    np.testing.assert_array_equal(drawn(ax), image)
    assert len(plot_grid(rgb()).axes[0].images) == 1


def test_grid_of_one_result_uses_its_images_and_describes_it() -> None:
    images = [rgb(), rgb()]
    result = ImageResult(images, model="gpt-image-2", request={"quality": "high", "size": "32x24"})
    figure = plot_grid(result)
    assert len(figure.axes) == 2
    for ax, image in zip(figure.axes, images, strict=True):
        np.testing.assert_array_equal(drawn(ax), image)
    title = figure.get_suptitle()
    assert "gpt-image-2" in title and "high" in title


def test_grid_of_a_sweep_titles_each_image_by_the_parameters_that_differ() -> None:
    results = sweep()
    figure = plot_grid(results)
    assert len(figure.axes) == len(results)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[0] == "prompt=a red fox, quality=low"
    assert titles[5] == "prompt=a lighthouse at dusk, quality=high"
    assert all("model" not in t and "n=" not in t for t in titles)


def test_grid_accepts_png_bytes_and_pil_images() -> None:
    image = rgb()
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    figure = plot_grid([buffer.getvalue(), Image.fromarray(image)])
    for ax in figure.axes:
        np.testing.assert_array_equal(drawn(ax), image)


def test_figure_renders_headless_without_pyplot() -> None:
    code = (
        "import sys, numpy as np\n"
        "from gptimage_widgets.plotting import plot_grid\n"
        "from matplotlib.backends.backend_agg import FigureCanvasAgg\n"
        "fig = plot_grid(np.zeros((2, 8, 8, 3), np.uint8))\n"
        "FigureCanvasAgg(fig).draw()\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ([], "nothing to plot"),
        (np.zeros((4, 4, 2), np.uint8), "(H, W, 3)"),
        (np.full((4, 4, 3), 2.5), "[0, 1]"),
        (np.zeros((4, 4, 3), np.int64), "uint8"),
        ({"not": "an image"}, "ImageResult"),
        ([rgb(), 42], "item 1"),
    ],
)
def test_grid_rejects_bad_input_with_a_clear_message(bad: object, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        plot_grid(bad)
    assert words in str(info.value)


def test_grid_rejects_titles_of_the_wrong_length_and_bad_ncols() -> None:
    with pytest.raises(ValidationError, match="list of 2 strings"):
        plot_grid([rgb(), rgb()], titles=["only one"])
    with pytest.raises(ValidationError, match="ncols"):
        plot_grid([rgb()], ncols=0)


# --------------------------------------------------------------------------- overlay


def test_overlay_tints_exactly_the_masked_pixels() -> None:
    image = rgb()
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[5:12, 3:20] = True
    figure = plot_mask_overlay(image, mask, alpha=0.25, color=(0.0, 0.0, 1.0))
    assert len(figure.axes) == 1
    shown = drawn(figure.axes[0])
    base = image / 255.0
    np.testing.assert_allclose(shown[~mask], base[~mask])
    np.testing.assert_allclose(shown[mask], 0.75 * base[mask] + 0.25 * np.array([0, 0, 1.0]))
    assert f"{100 * mask.mean():.1f}%" in figure.axes[0].get_title()


def test_overlay_accepts_a_numeric_mask_and_a_colour_name() -> None:
    image = rgb()
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    mask[0, 0] = 255
    shown = drawn(plot_mask_overlay(image, mask, alpha=1.0, color="red").axes[0])
    np.testing.assert_allclose(shown[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(shown[1, 1], image[1, 1] / 255.0)


def test_overlay_reads_an_openai_rgba_mask_alpha_zero_means_replace() -> None:
    image = rgb()
    openai_mask = np.full((*image.shape[:2], 4), 255, dtype=np.uint8)
    openai_mask[:4, :4, 3] = 0
    shown = drawn(plot_mask_overlay(image, openai_mask, alpha=1.0).axes[0])
    np.testing.assert_allclose(shown[:4, :4], np.broadcast_to([1.0, 0.0, 0.0], (4, 4, 3)))
    np.testing.assert_allclose(shown[10, 10], image[10, 10] / 255.0)


def test_overlay_rejects_mismatched_sizes_bad_alpha_and_bad_colour() -> None:
    image = rgb(24, 32)
    with pytest.raises(ValidationError, match="32x24") as info:
        plot_mask_overlay(image, np.zeros((10, 10), bool))
    assert info.value.params == ["mask"]
    with pytest.raises(ValidationError, match="alpha"):
        plot_mask_overlay(image, np.zeros((24, 32), bool), alpha=1.5)
    with pytest.raises(ValidationError, match="colour"):
        plot_mask_overlay(image, np.zeros((24, 32), bool), color="not-a-colour")


# --------------------------------------------------------------------------- sweep


def test_sweep_is_a_prompt_by_parameter_grid_labelled_from_params() -> None:
    results = sweep()
    figure = plot_sweep(results, "prompt", "quality")
    assert len(figure.axes) == 6
    grid = np.array(figure.axes).reshape(2, 3)
    assert [ax.get_title() for ax in grid[0]] == [
        "quality=low",
        "quality=medium",
        "quality=high",
    ]
    assert "a red fox" in grid[0, 0].get_ylabel()
    assert "lighthouse" in grid[1, 0].get_ylabel()
    for index, result in enumerate(results):
        np.testing.assert_array_equal(drawn(grid.ravel()[index]), result.images[0])
    FigureCanvasAgg(figure).draw()


def test_sweep_leaves_missing_cells_blank() -> None:
    results = sweep()[:-1]
    figure = plot_sweep(results, "prompt", "quality")
    assert len(figure.axes) == 6
    assert len(figure.axes[-1].images) == 0
    assert figure.axes[-1].texts[0].get_text() == "no result"


def test_sweep_of_batch_results_skips_the_failed_items() -> None:
    from gptimage_widgets.batch import BatchResults
    from gptimage_widgets.errors import BadRequestError

    results = sweep()
    batch = BatchResults([*results[:-1], None])
    batch.errors = {len(results) - 1: BadRequestError("bad size", status_code=400)}
    figure = plot_sweep(batch, "prompt", "quality")
    assert len(figure.axes) == 6
    assert figure.axes[-1].texts[0].get_text() == "no result"
    np.testing.assert_array_equal(drawn(figure.axes[0]), results[0].images[0])


def test_sweep_errors_name_the_missing_parameter_and_duplicates() -> None:
    results = sweep()
    with pytest.raises(ValidationError, match="'style'") as info:
        plot_sweep(results, "prompt", "style")
    assert "quality" in str(info.value)  # lists what the requests do have
    with pytest.raises(ValidationError, match="two results"):
        plot_sweep([*results, results[0]], "prompt", "quality")
    with pytest.raises(ValidationError, match="non-empty"):
        plot_sweep([], "prompt", "quality")
    with pytest.raises(ValidationError, match="list of ImageResults"):
        plot_sweep(results[0], "prompt", "quality")


def test_figures_render_as_png_for_jupyter_without_pyplot() -> None:
    """A notebook shows the figure itself, not ``<Figure size ...>``."""
    from gptimage_widgets.plotting import plot_grid, plot_mask_overlay

    image = np.zeros((16, 24, 3), np.uint8)
    image[:, :12] = 255
    for figure in (plot_grid([image]), plot_mask_overlay(image, np.ones((16, 24), bool))):
        png = figure._repr_png_()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(png) > 500
