"""SSE parser: one streamed event carrying tens of MB of base64, fed in 64 KiB chunks.

Contenders, timed side by side (rounds alternate them, median kept):

- ``SSEDecoder`` — ``gptimage_widgets.sse``'s incremental parser: ``feed`` every chunk as a
  socket would deliver it, then ``flush``; yields the one message with its ``data`` string;
- ``base64.b64decode`` (stdlib) of the same base64 — the "plain base64 decode" of the target;
- ``pybase64.b64decode`` — what the client really uses to decode the payload afterwards;
- a naive parser that appends each chunk to a buffer and re-scans the whole buffer for a
  newline (``while b"\\n" in buffer``), as many hand-written SSE clients do: quadratic.

Targets (issue "Benchmarks ... and the reliability suite"): the parse of a 40 MB event takes
<= 2x a plain base64 decode of the same bytes, and is linear: t(40 MB) / t(10 MB) ~ 4. A
plain copy of the bytes (``b"".join``) is timed too, because on glibc the memory system
alone makes 40 MB copies cost more than 4x 10 MB ones; linear means our growth is within
1.25x of max(4, one copy's growth). A quadratic parser grows ~16x or more.

Run: ``python benchmarks/bench_sse_parser.py`` (about 20 s on 2 busy cores).
"""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from _common import (
    Report,
    Target,
    Timing,
    fmt_s,
    fmt_x,
    measure_interleaved,
    paired_ratio,
    ratio,
)

from gptimage_widgets.sse import SSEDecoder, SSEMessage

pybase64: Any
try:
    import pybase64
except ImportError:  # pragma: no cover - pybase64 is in the test extra
    pybase64 = None

CHUNK = 64 * 1024
EVENT = "image_generation.completed"
OURS = "SSEDecoder (ours)"
PLAIN = "base64.b64decode (stdlib)"
NAIVE = "naive re-scanning parser"
COPY = "one copy: b''.join(chunks)"


def event_body(b64: bytes) -> bytes:
    """One SSE event as the images API streams it: ``event:``, one ``data:`` JSON line."""
    head = f'event: {EVENT}\ndata: {{"type":"{EVENT}","b64_json":"'.encode()
    return head + b64 + b'","usage":{"total_tokens":1}}\n\n'


def base64_payload(megabytes: float, seed: int = 0) -> bytes:
    """``megabytes`` (10**6 bytes) of base64 text encoding random bytes."""
    raw_len = int(megabytes * 1e6) // 4 * 3
    raw = np.random.default_rng(seed).integers(0, 256, size=raw_len, dtype=np.uint8)
    return base64.b64encode(raw.tobytes())


def split_chunks(body: bytes, size: int = CHUNK) -> list[bytes]:
    """The body cut into ``size``-byte pieces, made before timing (the socket's work)."""
    return [body[i : i + size] for i in range(0, len(body), size)]


def parse_with_decoder(chunks: Sequence[bytes]) -> list[SSEMessage]:
    """Our parser, fed chunk by chunk, then flushed."""
    decoder = SSEDecoder()
    messages: list[SSEMessage] = []
    for chunk in chunks:
        messages += decoder.feed(chunk)
    messages += decoder.flush()
    return messages


def parse_naively(chunks: Sequence[bytes]) -> list[str]:
    """The baseline: grow one buffer and re-scan all of it for a newline after every chunk.

    Returns the ``data`` of each event (one string per event).
    """
    buffer = b""
    data: list[str] = []
    events: list[str] = []
    for chunk in chunks:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if not line:
                events.append("\n".join(data))
                data = []
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" ").decode("utf-8"))
    return events


def _decoder_contender(chunks: Sequence[bytes], payload_len: int) -> Callable[[], object]:
    def run() -> object:
        messages = parse_with_decoder(chunks)
        assert len(messages) == 1 and len(messages[0].data) >= payload_len
        return messages

    return run


def contenders(payload: bytes, chunks: Sequence[bytes]) -> dict[str, Callable[[], object]]:
    """The fast contenders timed for one payload size."""
    out: dict[str, Callable[[], object]] = {
        OURS: _decoder_contender(chunks, len(payload)),
        PLAIN: lambda: base64.b64decode(payload),
        COPY: lambda: b"".join(chunks),
    }
    if pybase64 is not None:
        out["pybase64.b64decode"] = lambda: pybase64.b64decode(payload, validate=True)
    return out


def _naive_timing(chunks: Sequence[bytes], runs: int) -> Timing:
    return measure_interleaved({NAIVE: lambda: parse_naively(chunks)}, runs=runs, warmup=0)[NAIVE]


def _key(name: str, size: float) -> str:
    return f"{name} @ {size:g} MB"


def _paired(numerator: Timing, denominator: Timing) -> float:
    """Same-round ratio when both were timed in the same rounds, else ratio of medians."""
    if len(numerator.runs) == len(denominator.runs):
        return paired_ratio(numerator, denominator)
    return ratio(numerator.median, denominator.median)


def run(sizes_mb: Sequence[float] = (10.0, 40.0), *, runs: int = 7, naive_runs: int = 1) -> Report:
    """Measure every size; the last size is the headline one, the first the linearity base.

    Parameters
    ----------
    sizes_mb : sequence of float
        Base64 payload sizes in MB (10**6 bytes), small to large.
    runs : int
        Timed rounds of the fast contenders (median kept).
    naive_runs : int
        Timed rounds of the quadratic baseline (0 leaves it out).
    """
    report = Report("SSE parser")
    funcs: dict[str, Callable[[], object]] = {}
    all_chunks: dict[float, list[bytes]] = {}
    for size in sizes_mb:
        payload = base64_payload(size)
        all_chunks[size] = split_chunks(event_body(payload))
        for name, func in contenders(payload, all_chunks[size]).items():
            funcs[_key(name, size)] = func
    timings = measure_interleaved(funcs, runs=runs)  # every size in the same rounds
    if naive_runs:
        for size, chunks in all_chunks.items():
            timings[_key(NAIVE, size)] = _naive_timing(chunks, naive_runs)
    rows = []
    for size in sizes_mb:
        plain, copy = timings[_key(PLAIN, size)], timings[_key(COPY, size)]
        for name in [*contenders(b"", []), *([NAIVE] if naive_runs else [])]:
            timing = timings[_key(name, size)]
            rows.append(
                (
                    f"{size:g} MB",
                    name,
                    fmt_s(timing.median),
                    fmt_x(_paired(timing, plain)),
                    fmt_x(_paired(timing, copy)),
                )
            )
    report.add_table(
        f"One SSE event, 64 KiB chunks, median of {runs} (naive: {naive_runs})",
        ("base64 payload", "contender", "time", "vs stdlib b64decode", "vs one copy"),
        rows,
    )
    small, large = sizes_mb[0], sizes_mb[-1]
    vs_plain = _paired(timings[_key(OURS, large)], timings[_key(PLAIN, large)])
    growth = _paired(timings[_key(OURS, large)], timings[_key(OURS, small)])
    copy_growth = _paired(timings[_key(COPY, large)], timings[_key(COPY, small)])
    relative_growth = ratio(growth, max(copy_growth, large / small))
    scale = large / small
    names = [*contenders(b"", []), *([NAIVE] if naive_runs else [])]
    report.add_table(
        f"Linearity: time({large:g} MB) / time({small:g} MB), ideal {scale:g}",
        ("contender", "growth"),
        [
            (name, fmt_x(_paired(timings[_key(name, large)], timings[_key(name, small)])))
            for name in names
        ],
    )
    report.targets = [
        Target(f"SSEDecoder vs plain base64 decode at {large:g} MB", vs_plain, 2.0),
        Target(
            f"growth {small:g}->{large:g} MB relative to max(x{scale:g}, one copy's growth)",
            relative_growth,
            1.25,
        ),
    ]
    report.notes.append(
        f"Linearity: a single copy of the same bytes (b''.join) is linear by construction, yet "
        f"grows x{copy_growth:.1f} here: above 32 MB (glibc's largest mmap threshold) every "
        "allocation is a fresh mmap (page faults + kernel zeroing) while 10 MB blocks are "
        "recycled from the heap. The target therefore compares our growth with max(size "
        "ratio, one copy's growth); the 'vs one copy' column shows ours as a steady multiple "
        "of that copy. Run with MALLOC_MMAP_THRESHOLD_=2000000000 "
        "MALLOC_TRIM_THRESHOLD_=4000000000 (glibc keeps and reuses the pages) and every "
        "contender, ours included, grows ~4x. The naive parser's growth shows quadratic."
    )
    report.notes.append(
        "'plain base64 decode' is the stdlib's; pybase64 (what the client decodes with) is "
        "shown for scale: the parser only frames the event, the decode comes after it."
    )
    report.headline = (
        f"{large:g} MB event parsed in {fmt_x(vs_plain)} the stdlib base64 decode time; "
        f"growth x{growth:.2f} for x{scale:g} the bytes (one copy: x{copy_growth:.2f})"
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--naive-runs", type=int, default=1)
    parser.add_argument("--sizes", type=float, nargs="+", default=[10.0, 40.0])
    args = parser.parse_args(argv)
    return run(args.sizes, runs=args.runs, naive_runs=args.naive_runs).print()


if __name__ == "__main__":
    sys.exit(main())
