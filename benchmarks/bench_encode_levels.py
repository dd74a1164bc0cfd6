"""PNG encode level: time and bytes of Pillow's compress_level 0..9 and of our default.

Rows: Pillow's default ``save(..., "PNG")`` (zlib level 6, the reference), Pillow's
``compress_level`` 0..9 with zlib's default strategy, and "ours": ``encode_image``'s default,
level 1 with zlib's run-length strategy (``compress_type=3``, ``zlib.Z_RLE``). Images are built
procedurally to look like a photograph (smooth light, soft shapes with edges, fine texture,
sensor noise), not pure noise and not flat colour, at 3840x2160 (gpt-image-2's largest
output) and 1024x1024. Each row is timed side by side in one run (best of ``--repeat``); the
table prints ratios against Pillow's default, which is what matters on noisy machines.

Run: ``python benchmarks/bench_encode_levels.py`` (under a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import zlib
from collections.abc import Callable

import _common
import numpy as np
from PIL import Image, ImageFilter

from gptimage_widgets.imaging import DEFAULT_PNG_COMPRESS_LEVEL, decode_image, encode_image


def photo_like(width: int, height: int, seed: int = 0, noise: float = 3.0) -> np.ndarray:
    """A procedural photograph stand-in.

    Returns
    -------
    np.ndarray
        ``(height, width, 3)`` ``uint8`` in ``[0, 255]``: low-frequency lighting gradients,
        soft-edged shapes, mid-frequency texture and Gaussian sensor noise (sigma ``noise``
        levels; 0 gives a clean render, like a generated image).
    """
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    base = np.empty((height, width, 3), dtype=np.float32)
    for c, (fx, fy, phase) in enumerate(rng.uniform(0.5, 2.5, size=(3, 3))):
        base[:, :, c] = 0.45 + 0.25 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    base *= 1.0 - 0.35 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)[:, :, None]  # vignette

    shapes = Image.fromarray(np.clip(base * 255, 0, 255).astype(np.uint8))
    _common.draw_shapes(shapes, rng)
    shapes = shapes.filter(ImageFilter.GaussianBlur(radius=max(1.0, width / 1500)))

    texture_small = rng.normal(0.0, 1.0, size=(height // 8, width // 8)).astype(np.float32)
    texture = Image.fromarray(texture_small, mode="F").resize(
        (width, height), Image.Resampling.BICUBIC
    )
    pixels = np.asarray(shapes, dtype=np.float32)
    pixels += 6.0 * np.asarray(texture)[:, :, None]
    if noise:
        pixels += rng.normal(0.0, noise, size=pixels.shape).astype(np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)


#: The label of ``encode_image``'s default in the tables.
OURS = f"{DEFAULT_PNG_COMPRESS_LEVEL} + Z_RLE (ours)"


def pillow_level(arr: np.ndarray, level: int) -> Callable[[], bytes]:
    """Pillow at ``compress_level=level`` with zlib's default strategy, no ``optimize``."""
    return lambda: _common.png_bytes(arr, compress_level=level)


def variants(arr: np.ndarray) -> dict[str, Callable[[], bytes]]:
    """Pillow's default, Pillow at every compress_level, then ``encode_image``'s default."""
    out: dict[str, Callable[[], bytes]] = {"Pillow default": lambda: _common.png_bytes(arr)}
    for level in range(10):
        out[str(level)] = pillow_level(arr, level)
    out[OURS] = lambda: encode_image(arr, "png")
    return out


def interleaved_best(
    funcs: dict[str, Callable[[], bytes]], repeat: int
) -> dict[str, tuple[float, int]]:
    """Best time and output size of each function, timed round-robin so drift hits all alike."""
    best: dict[str, tuple[float, int]] = {name: (float("inf"), 0) for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            start = time.perf_counter()
            size = len(func())
            elapsed = time.perf_counter() - start
            best[name] = (min(best[name][0], elapsed), size)
    return best


def bench(name: str, arr: np.ndarray, repeat: int, check: bool) -> None:
    contenders = variants(arr)
    if check:  # lossless at every level and with the run-length strategy
        for func in contenders.values():
            assert np.array_equal(decode_image(func()), arr)
    results = interleaved_best(contenders, repeat)
    ref_t, ref_size = results["Pillow default"]
    raw = arr.nbytes
    print(f"\n{name}: {arr.shape[1]}x{arr.shape[0]} RGB, raw {raw / 1e6:.1f} MB, best of {repeat}")
    print("| compress_level | time (s) | MB | bytes/raw | time vs default | bytes vs default |")
    print("|---|---|---|---|---|---|")
    for label, (t, size) in results.items():
        print(
            f"| {label} | {t:.3f} | {size / 1e6:.2f} | {size / raw:.3f} "
            f"| {t / ref_t:.2f} | {size / ref_size:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat-4k", type=int, default=1)
    parser.add_argument("--repeat-1k", type=int, default=3)
    args = parser.parse_args()
    print(f"Pillow {Image.__version__}, NumPy {np.__version__}, Python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}; ours = compress_type={zlib.Z_RLE}")
    start = time.perf_counter()
    bench("photo-like 4K", photo_like(3840, 2160, seed=1), args.repeat_4k, check=False)
    bench("photo-like 1024²", photo_like(1024, 1024, seed=2), args.repeat_1k, check=True)
    clean = photo_like(1024, 1024, seed=2, noise=0.0)
    bench("clean render 1024² (no sensor noise)", clean, max(1, args.repeat_1k - 1), check=False)
    print(
        f"\ntotal {time.perf_counter() - start:.1f} s, load average after: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
