"""Grow/shrink: exact Euclidean dilation of masks on rasters packed 64 pixels to a word.

Owns :func:`grow_mask` and the in-place :func:`_grow_raster` a document's Grow op uses, and the
bit-raster packing (``_pack`` / ``_pixels_from_packed``) undo checkpoints store. The raster is
dilated in cache-sized row tiles, each with ``radius`` rows of context, written back in place.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

#: Row tiles hold about this many 64-pixel words (256 KB: a tile and its scratch arrays stay
#: in a core's L2 cache; whole 4K rasters do not, and dilate ~1.7x slower).
_GROW_TILE_WORDS = 1 << 15
#: Bits are unpacked into the output this many rows at a time.
_UNPACK_ROWS = 64
#: Pixel values of a uint8 raster: selected (stored) and not.
_ON = 255
_OFF = 0

# --------------------------------------------------------------------------- grow / shrink
#
# Bit rasters: (H, N) uint64 words, pixel x of a row in word x // 64 at bit x % 64 (NumPy's
# little-endian bit packing read as native words); the bits past W start out zero. Dilation
# widens rows on the raster flattened into one word stream (contiguous, no per-row slicing),
# so each row has at least ``radius`` spare bits past W: what spills over a row's end (or
# before the next row's start) stays in those spare bits and is dropped on unpacking.


def _pack(pixels: np.ndarray) -> np.ndarray:
    """(H, W) bool or uint8 (nonzero = set) -> (H, ceil(W / 8)) uint8 bits, little-endian."""
    return np.packbits(pixels, axis=1, bitorder="little")


def _words_from_packed(packed: np.ndarray, spare: int = 0) -> np.ndarray:
    """(H, ceil(W / 8)) uint8 bits -> (H, N) uint64 words (a new array), N the fewest words
    holding ``8 * ceil(W / 8) + spare`` bits; the bits past the packed ones are zero."""
    height, row_bytes = packed.shape
    padded = np.zeros((height, -(-(row_bytes * 8 + spare) // 64) * 8), dtype=np.uint8)
    padded[:, :row_bytes] = packed
    return padded.view("<u8").astype(np.uint64, copy=False)


def _packed_from_words(words: np.ndarray, width: int) -> np.ndarray:
    """Inverse of :func:`_words_from_packed`: (H, ceil(W / 8)) uint8."""
    return words.astype("<u8", copy=False).view(np.uint8)[:, : -(-width // 8)]


def _complement(words: np.ndarray, width: int) -> np.ndarray:
    """Bitwise NOT of a bit raster, keeping the bits past ``width`` zero."""
    out = ~words
    full, spare = divmod(width, 64)
    if spare:
        out[:, full] &= np.uint64((1 << spare) - 1)
        full += 1
    out[:, full:] = 0
    return out


def _widen(
    flat: np.ndarray, reach: int, target: int, scratch: tuple[np.ndarray, np.ndarray]
) -> None:
    """Dilate a flattened bit raster, already widened by ``reach`` pixels, to ``target``
    pixels sideways, in place (carries across words); ``scratch`` holds two arrays of the
    same shape.

    ``row | row << s | row >> s`` widens a raster widened by ``reach`` to ``reach + s`` when
    ``s <= 2 * reach + 1`` (the shifted runs touch), so steps grow 1, 3, 9, ... (at most 63,
    one word): about log3(target) passes instead of ``target``.
    """
    while reach < target:
        shift = min(target - reach, 2 * reach + 1, 63)
        _widen_by(flat, shift, *scratch)
        reach += shift


def _widen_by(flat: np.ndarray, shift: int, carry: np.ndarray, part: np.ndarray) -> None:
    """``flat |= flat shifted left | flat shifted right`` by ``shift`` (1..63) pixels, on a
    1-D word stream: 8 contiguous NumPy passes, no temporaries."""
    near, far = np.uint64(shift), np.uint64(64 - shift)
    np.right_shift(flat[:-1], far, out=carry[1:])  # high bits into the next word (x + shift)
    carry[0] = 0
    np.left_shift(flat[1:], far, out=part[:-1])  # low bits into the word before (x - shift)
    part[-1] = 0
    carry |= part
    np.left_shift(flat, near, out=part)  # pixel x -> x + shift
    carry |= part
    np.right_shift(flat, near, out=part)  # pixel x -> x - shift
    carry |= part
    flat |= carry


def _dilate_band(words: np.ndarray, radius: int) -> np.ndarray:
    """Exact Euclidean dilation of a bit raster by the digital disc ``dx² + dy² <= radius²``;
    ``words`` must have at least ``radius`` zero bits past the image in every row.

    The disc is the union over |k| <= radius of the row segments ``|dx| <= w(k)`` at
    ``dy = k``, with ``w(k) = isqrt(radius² - k²)``. For k = radius down to 0 the raster is
    widened to ``w(k)`` (w grows as k falls, so each widening continues the last) and OR-ed
    into the output shifted k rows up and down: O(radius x H x W / 64) word operations, on
    the rows within ``radius`` of a set bit only. Pixels outside the raster are unselected;
    shifting drops them, which no straight path needs.
    """
    out = np.zeros_like(words)
    rows = np.flatnonzero(words.any(axis=1))
    if rows.size == 0:
        return out
    top = max(0, int(rows[0]) - radius)
    bottom = min(words.shape[0], int(rows[-1]) + 1 + radius)
    widened = words[top:bottom].copy()
    flat = widened.reshape(-1)
    total = out[top:bottom]
    scratch = (np.empty_like(flat), np.empty_like(flat))
    reach = 0
    for k in range(radius, -1, -1):
        target = math.isqrt(radius * radius - k * k)
        _widen(flat, reach, target, scratch)
        reach = target
        if k == 0:
            total |= widened
        elif k < total.shape[0]:
            total[k:] |= widened[:-k]
            total[:-k] |= widened[k:]
    return out


def _row_tiles(height: int, row_words: int, radius: int) -> list[tuple[int, int]]:
    """Split ``height`` rows into tiles of about _GROW_TILE_WORDS words (each with its
    ``radius`` rows of context stays in a core's cache); at least 4 x ``radius`` rows each."""
    rows = max(_GROW_TILE_WORDS // row_words, 4 * radius, 1)
    count = max(1, min(-(-height // rows), height // (4 * radius) or 1))
    edges = [height * i // count for i in range(count + 1)]
    return list(itertools.pairwise(edges))


def _unpack_into(words: np.ndarray, out: np.ndarray) -> None:
    """Bit raster (h, N) uint64 -> ``out`` (h, W) bool (True) or uint8 (255), in place, a
    few rows at a time (small temporaries stay in cache and need no fresh pages)."""
    width = out.shape[1]
    packed = _packed_from_words(words, width)
    for start in range(0, packed.shape[0], _UNPACK_ROWS):
        stop = start + _UNPACK_ROWS
        bits = np.unpackbits(packed[start:stop], axis=1, count=width, bitorder="little")
        if out.dtype == bool:
            np.copyto(out[start:stop], bits.view(bool))
        else:
            np.multiply(bits, np.uint8(_ON), out=out[start:stop])


def _grow_raster(raster: np.ndarray, pixels: int, out: np.ndarray) -> None:
    """Grow (``pixels`` > 0) or shrink (< 0) ``raster`` ((H, W) bool or uint8, nonzero = set)
    exactly into ``out`` ((H, W) bool or uint8 0/255; may be ``raster`` itself).

    The raster is packed 64 pixels to a word first, then dilated in row tiles, each with
    ``radius`` rows of context, one after the other (a tile is written into ``out`` only
    after it was read from the packed copy, so ``out`` may be ``raster``).
    """
    height, width = raster.shape
    radius = abs(pixels)
    words = _words_from_packed(_pack(raster), spare=radius)
    if pixels < 0:  # shrink(S, n) == ~grow(~S, n); outside the image stays unselected
        words = _complement(words, width)

    for start, stop in _row_tiles(height, words.shape[1], radius):
        low, high = max(0, start - radius), min(height, stop + radius)
        grown = _dilate_band(words[low:high], radius)[start - low : stop - low]
        if pixels < 0:
            np.invert(grown, out=grown)
        _unpack_into(grown, out[start:stop])


def _pixels_from_packed(packed: np.ndarray, width: int) -> np.ndarray:
    """(H, ceil(W / 8)) uint8 bits -> (H, W) uint8, 1 -> 255."""
    return np.unpackbits(packed, axis=1, count=width, bitorder="little") * np.uint8(_ON)


def grow_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow (``pixels`` > 0) or shrink (< 0) a mask by a Euclidean distance, exactly.

    Parameters
    ----------
    mask : numpy.ndarray
        (H, W) bool, True = selected.
    pixels : int
        Growing selects every pixel whose centre is within ``pixels`` of a selected pixel's
        centre. Shrinking by ``n`` keeps the pixels farther than ``n`` from every unselected
        pixel of the image (outside the image counts as selected).

    Returns
    -------
    numpy.ndarray
        (H, W) bool, a new array.
    """
    mask = np.asarray(mask, dtype=bool)
    out = mask.copy()
    if pixels:
        _grow_raster(mask, pixels, out)
    return out
