"""Deterministic, fast synthetic images for the offline server.

Every picture is a function of ``(prompt, width, height, index)`` only, seeded with a stable
hash (:mod:`hashlib`, never :func:`hash`, which changes between processes). Pictures look
like something — a sky gradient, a sun or moon, layered hills, a few shapes coloured after
the words of the prompt and the prompt itself written small in a corner — so a person
trying the kit offline sees plausible results, and tests can tell images apart.

Edits change only the masked pixels and copy every other pixel byte for byte; variations
are deterministic perturbations of their input. Arrays are ``(H, W, 3)`` or ``(H, W, 4)``
``uint8`` in ``[0, 255]`` throughout. numpy, Pillow and the kit's ``imaging``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .. import imaging

__all__ = [
    "SceneStyle",
    "blur_for_partial",
    "edit_image",
    "encode",
    "generate_image",
    "scene_style",
    "stable_seed",
    "vary_image",
]

RGB = tuple[int, int, int]

#: Colour words a prompt may contain, and the colour each one gives the shapes and hills.
COLOUR_WORDS: dict[str, RGB] = {
    "red": (200, 40, 40),
    "orange": (240, 140, 30),
    "yellow": (240, 210, 50),
    "gold": (212, 175, 55),
    "green": (50, 150, 60),
    "forest": (30, 100, 40),
    "teal": (30, 140, 140),
    "cyan": (40, 200, 220),
    "blue": (40, 80, 200),
    "ocean": (20, 90, 160),
    "sea": (20, 90, 160),
    "purple": (120, 50, 160),
    "violet": (140, 80, 200),
    "pink": (240, 130, 180),
    "magenta": (200, 40, 160),
    "brown": (120, 80, 40),
    "desert": (210, 170, 110),
    "white": (240, 240, 240),
    "snow": (235, 240, 250),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "silver": (190, 190, 200),
    "black": (25, 25, 25),
    "lighthouse": (230, 60, 50),
    "cat": (200, 130, 60),
    "otter": (120, 80, 50),
}

#: Sky palettes: (top colour, horizon colour, draws a moon instead of a sun).
SKIES: dict[str, tuple[RGB, RGB, bool]] = {
    "day": ((70, 130, 205), (185, 215, 240), False),
    "dusk": ((45, 45, 110), (250, 145, 75), False),
    "dawn": ((110, 120, 190), (255, 195, 150), False),
    "night": ((6, 10, 32), (35, 45, 90), True),
}
SKY_WORDS: dict[str, str] = {
    "dusk": "dusk",
    "sunset": "dusk",
    "evening": "dusk",
    "dawn": "dawn",
    "sunrise": "dawn",
    "morning": "dawn",
    "night": "night",
    "moon": "night",
    "stars": "night",
    "midnight": "night",
}

#: Largest prompt excerpt written in the corner of a picture.
CAPTION_CHARS = 60


# --------------------------------------------------------------------------- seeding


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the ``repr`` of ``parts``, identical in every process."""
    digest = hashlib.sha256("\x1f".join(repr(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(stable_seed(*parts))


# --------------------------------------------------------------------------- style


@dataclass(frozen=True)
class SceneStyle:
    """What a prompt asks for, reduced to a few drawing choices."""

    sky_top: RGB
    sky_horizon: RGB
    night: bool
    colours: tuple[RGB, ...]


def scene_style(prompt: str) -> SceneStyle:
    """Choose sky and colours from the words of ``prompt`` (hash-derived when none match)."""
    words = [w.strip(".,;:!?\"'()") for w in prompt.lower().split()]
    sky_name = next((SKY_WORDS[w] for w in words if w in SKY_WORDS), None)
    rng = _rng("style", prompt)
    if sky_name is None:
        sky_name = ("day", "day", "dusk", "dawn")[int(rng.integers(4))]
    top, horizon, night = SKIES[sky_name]
    colours = tuple(dict.fromkeys(COLOUR_WORDS[w] for w in words if w in COLOUR_WORDS))
    if not colours:
        colours = tuple(_hsv_colour(float(h), 0.65, 0.8) for h in rng.random(3))
    return SceneStyle(top, horizon, night, colours)


def _hsv_colour(hue: float, saturation: float, value: float) -> RGB:
    """An RGB triple from hue, saturation and value in ``[0, 1]``."""
    image = Image.new(
        "HSV", (1, 1), (int(hue * 255) % 256, int(saturation * 255), int(value * 255))
    )
    r, g, b = image.convert("RGB").getpixel((0, 0))  # type: ignore[misc]
    return int(r), int(g), int(b)


def _shade(colour: RGB, factor: float) -> RGB:
    """``colour`` scaled by ``factor`` (< 1 darker, > 1 lighter), clipped to ``[0, 255]``."""
    r, g, b = (int(min(255, max(0, c * factor))) for c in colour)
    return r, g, b


def _mix(first: RGB, second: RGB) -> RGB:
    """The colour halfway between ``first`` and ``second``."""
    r, g, b = ((x + y) // 2 for x, y in zip(first, second, strict=True))
    return r, g, b


# --------------------------------------------------------------------------- generation


def generate_image(
    prompt: str, width: int, height: int, index: int = 0, *, transparent: bool = False
) -> np.ndarray:
    """Draw the picture for ``prompt`` at ``width`` x ``height``.

    Parameters
    ----------
    prompt : str
        Chooses the sky, the colours and the layout; written small in the lower-left corner.
    width, height : int
        Output size in pixels (>= 1).
    index : int
        Which of the ``n`` images of one request; each index gives a different picture.
    transparent : bool
        When True the sky is fully transparent (alpha 0) and everything drawn is opaque.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8, or ``(height, width, 4)`` when ``transparent``.
    """
    style = scene_style(prompt)
    rng = _rng("scene", prompt, width, height, index)
    image = Image.fromarray(_sky(style, width, height, transparent))
    draw = ImageDraw.Draw(image)
    if style.night:
        _draw_stars(draw, rng, width, height)
    _draw_sun_or_moon(draw, rng, style, width, height)
    _draw_hills(draw, rng, style, width, height)
    _draw_shapes(draw, rng, style, width, height)
    _draw_caption(draw, prompt, width, height)
    # Pillow drops the alpha channel in one C pass; a strided NumPy slice costs ~3x as much.
    return np.asarray(image if transparent else image.convert("RGB"))


def _opaque(colour: RGB) -> tuple[int, int, int, int]:
    return (*colour, 255)


def _sky(style: SceneStyle, width: int, height: int, transparent: bool) -> np.ndarray:
    """A vertical gradient from ``sky_top`` to ``sky_horizon``, ``(H, W, 4)`` uint8.

    Each row is one RGBA value repeated: written as one ``uint32`` per pixel, which NumPy
    broadcasts far faster than four separate bytes (a 3840x2160 sky in a few ms).
    """
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    top = np.asarray(style.sky_top, np.float32)
    horizon = np.asarray(style.sky_horizon, np.float32)
    column = np.empty((height, 4), np.uint8)
    column[:, :3] = np.round(top + (horizon - top) * t).astype(np.uint8)
    column[:, 3] = 0 if transparent else 255
    sky = np.empty((height, width, 4), np.uint8)
    sky.view(np.uint32)[..., 0] = column.view(np.uint32)
    return sky


def _draw_stars(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int, height: int
) -> None:
    count = 20 + (width * height) // 40_000
    xs = rng.integers(0, width, count)
    ys = rng.integers(0, max(1, height // 2), count)
    radius = max(1, min(width, height) // 400)
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(255, 255, 230, 255))


def _draw_sun_or_moon(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    style: SceneStyle,
    width: int,
    height: int,
) -> None:
    radius = min(width, height) * float(rng.uniform(0.06, 0.11))
    cx = width * float(rng.uniform(0.15, 0.85))
    cy = height * float(rng.uniform(0.15, 0.4))
    disc = (235, 235, 215) if style.night else (255, 230, 120)
    halo = _mix(disc, style.sky_horizon)
    draw.ellipse(
        (cx - radius * 1.6, cy - radius * 1.6, cx + radius * 1.6, cy + radius * 1.6),
        fill=_opaque(halo),
    )
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=_opaque(disc))


def _ridge(rng: np.random.Generator, width: int, base: float, amplitude: float) -> np.ndarray:
    """Heights (in pixels) of a hill ridge at 96 evenly spaced x positions."""
    x = np.linspace(0.0, 1.0, 96)
    heights = np.full_like(x, base)
    for octave in (1, 2, 5):
        phase = float(rng.uniform(0, 2 * np.pi))
        heights += (
            amplitude / octave * np.sin(2 * np.pi * octave * x * rng.uniform(0.6, 1.4) + phase)
        )
    return heights


def _draw_hills(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    style: SceneStyle,
    width: int,
    height: int,
) -> None:
    xs = np.linspace(0, width, 96)
    for layer in range(3):
        colour = _shade(style.colours[layer % len(style.colours)], 0.55 + 0.2 * (2 - layer))
        ridge = _ridge(rng, width, height * (0.55 + 0.12 * layer), height * 0.06)
        points = [(float(x), float(y)) for x, y in zip(xs, ridge, strict=True)]
        draw.polygon([*points, (width, height), (0, height)], fill=_opaque(colour))


def _draw_shapes(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    style: SceneStyle,
    width: int,
    height: int,
) -> None:
    unit = min(width, height)
    for i in range(int(rng.integers(2, 5))):
        colour = _opaque(style.colours[i % len(style.colours)])
        size = unit * float(rng.uniform(0.05, 0.14))
        cx = width * float(rng.uniform(0.1, 0.9))
        cy = height * float(rng.uniform(0.6, 0.85))
        kind = int(rng.integers(3))
        box = (cx - size, cy - size, cx + size, cy + size)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(
                (cx - size * 0.4, cy - size * 1.6, cx + size * 0.4, cy + size), fill=colour
            )
        else:
            draw.polygon(
                [(cx, cy - size), (cx + size, cy + size), (cx - size, cy + size)], fill=colour
            )


def _draw_caption(draw: ImageDraw.ImageDraw, prompt: str, width: int, height: int) -> None:
    text = " ".join(prompt.split())
    if len(text) > CAPTION_CHARS:
        text = text[: CAPTION_CHARS - 1] + "…"
    if not text or min(width, height) < 48:
        return
    size = max(8, min(width, height) // 48)
    font = _font(size)
    margin = max(2, size // 2)
    left, top, right, bottom = draw.textbbox((margin, height - margin - size), text, font=font)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0, 255))
    draw.text((margin, height - margin - size), text, fill=(255, 255, 255, 255), font=font)


_FONTS: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if size not in _FONTS:
        try:
            _FONTS[size] = ImageFont.load_default(size=size)
        except (OSError, ImportError):  # Pillow without FreeType: fixed bitmap font
            _FONTS[size] = ImageFont.load_default()
    return _FONTS[size]


# --------------------------------------------------------------------------- edits, variations


def _resize(image: np.ndarray, width: int, height: int, *, nearest: bool = False) -> np.ndarray:
    """``image`` resized to ``width`` x ``height`` (a no-op when the size already matches)."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize((width, height), resample))


def _rgb(image: np.ndarray) -> np.ndarray:
    """The colour channels of ``image`` as ``(H, W, 3)`` uint8."""
    return image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)


def edit_image(
    base: np.ndarray,
    prompt: str,
    *,
    references: Sequence[np.ndarray] = (),
    mask: np.ndarray | None = None,
    size: tuple[int, int] | None = None,
    index: int = 0,
    transparent: bool = False,
) -> np.ndarray:
    """Edit ``base`` where ``mask`` is True; leave every other pixel byte-identical.

    Parameters
    ----------
    base : numpy.ndarray
        ``(H, W, 3)`` or ``(H, W, 4)`` uint8: the first input image.
    prompt : str
        Seeds the new content (the same scene :func:`generate_image` draws).
    references : sequence of numpy.ndarray
        The other input images, ``(h, w, 3|4)`` uint8 of any size; blended into the new content.
    mask : numpy.ndarray or None
        ``(H, W)`` bool, True = replace. None: the whole image changes (a deterministic blend).
    size : (width, height) or None
        Output size; None keeps the size of ``base``. Otherwise ``base`` and ``mask`` are
        resized first, and "unchanged" refers to the resized base.
    index : int
        Which of the ``n`` outputs.
    transparent : bool
        ``background="transparent"``: the output is RGBA and the new content's sky (as drawn
        by :func:`generate_image` with ``transparent=True``) is alpha 0; pixels outside the
        mask keep their colour, and their alpha (255 for an RGB ``base``).

    Returns
    -------
    numpy.ndarray
        uint8 ``(height, width, C)``: the channels of ``base``, or 4 when ``transparent``.
    """
    width, height = size if size is not None else (base.shape[1], base.shape[0])
    base = _resize(base, width, height)
    if transparent and base.shape[2] == 3:
        base = np.dstack([base, np.full(base.shape[:2], 255, np.uint8)])
    fill = _new_content(prompt, width, height, index, references).astype(np.uint8)
    sky = _sky_alpha(prompt, width, height, index) if transparent else None
    out = base.copy()
    if mask is None:
        blended = (_rgb(base).astype(np.uint16) * 11 + fill.astype(np.uint16) * 9) // 20
        out[..., :3] = blended.astype(np.uint8)
        if sky is not None:
            out[..., 3] = np.minimum(out[..., 3], sky)
        return out
    mask = _resize(mask.astype(np.uint8), width, height, nearest=True).astype(bool)
    out[mask, :3] = fill[mask]
    if out.shape[2] == 4:
        out[mask, 3] = 255 if sky is None else sky[mask]
    return out


def _sky_alpha(prompt: str, width: int, height: int, index: int) -> np.ndarray:
    """``(height, width) uint8`` alpha of the transparent scene for ``prompt``: 0 = sky."""
    return generate_image(prompt, width, height, index, transparent=True)[..., 3]


def _new_content(
    prompt: str, width: int, height: int, index: int, references: Sequence[np.ndarray]
) -> np.ndarray:
    """The scene for ``prompt``, 40 % mixed with the mean of ``references``: ``(H, W, 3)``."""
    scene = generate_image(prompt, width, height, index).astype(np.float32)
    if not references:
        return scene
    refs = [_rgb(_resize(r, width, height)).astype(np.float32) for r in references]
    mixed = 0.6 * scene + 0.4 * np.mean(refs, axis=0)
    return np.clip(mixed + 0.5, 0, 255)


def vary_image(image: np.ndarray, width: int, height: int, index: int = 0) -> np.ndarray:
    """A deterministic variation of ``image``: a colour remix and a mirrored layout.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3|4)`` uint8 input.
    width, height : int
        Output size.
    index : int
        Which of the ``n`` variations; each index differs.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8.
    """
    rgb = _rgb(_resize(image, width, height)).astype(np.float32)
    rng = _rng("variation", hashlib.sha256(image.tobytes()).hexdigest(), width, height, index)
    remix = np.eye(3, dtype=np.float32) * 0.75 + rng.uniform(0, 0.25, (3, 3)).astype(np.float32)
    out = rgb @ remix.T + rng.uniform(-20, 20, 3).astype(np.float32)
    if index % 2 == 1:
        out = out[:, ::-1]
    return np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))


def blur_for_partial(image: np.ndarray, partial_index: int, partials: int) -> np.ndarray:
    """A blurred preview of ``image``; later ``partial_index`` values are sharper.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, C)`` uint8 final image.
    partial_index : int
        0-based index among ``partials`` previews.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``image``.
    """
    factor = 2 ** (partials - partial_index + 1)
    height, width = image.shape[:2]
    small = Image.fromarray(image).reduce(max(1, min(factor, width, height)))
    return np.asarray(small.resize((width, height), Image.Resampling.BILINEAR))


# --------------------------------------------------------------------------- codecs


def encode(image: np.ndarray, output_format: str = "png", compression: int | None = None) -> bytes:
    """Encode ``image`` as PNG or JPEG (through :func:`imaging.encode_image`) or WebP.

    PNG and JPEG use the kit's own encoder, so the server's PNGs are the client's: level 1
    with zlib's run-length strategy (about Pillow's default bytes at a fraction of its time;
    ``benchmarks/RESULTS.md``). WebP is saved here with Pillow's fastest ``method=0``, a
    speed knob ``encode_image`` does not offer.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3|4)`` uint8. JPEG drops the alpha channel.
    output_format : {"png", "jpeg", "webp"}
    compression : int or None
        OpenAI's ``output_compression``, 0–100 (100 = best quality); JPEG/WebP only.
    """
    if output_format == "png":
        return imaging.encode_image(image, "png")
    quality = 95 if compression is None else max(1, min(100, int(compression)))
    if output_format == "jpeg":
        return imaging.encode_image(np.ascontiguousarray(image[..., :3]), "jpeg", quality=quality)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="WEBP", quality=quality, method=0)
    return buffer.getvalue()
