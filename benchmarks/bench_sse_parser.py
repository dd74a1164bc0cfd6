"""SSE parser: one streamed event carrying tens of MB of base64, fed in 64 KiB chunks.

Contenders, timed side by side (rounds alternate them, median kept):

- ``SSEDecoder`` — ``gptimage_widgets.sse``'s incremental parser: ``feed`` every chunk as a
  socket would deliver it, then ``flush``; yields the one message with its ``data`` string;
- ``base64.b64decode`` (stdlib) of the same base64 — the "plain base64 decode" of the target;
- ``pybase64.b64decode`` — what the client really uses to decode the payload afterwards;
- a naive parser that appends each chunk to a buffer and re-scans the whole buffer for a
  newline (``while b"\\n" in buffer``), as many hand-written SSE clients do: quadratic.

Targets (issue "Benchmarks ... and the reliability suite"): the parse of a 40 MB event takes
<= 2x a plain base64 decode of the same bytes, and is linear: t(40 MB) / t(10 MB) ~ 4 (we
require <= 5; a quadratic parser gives ~16).

Run: ``python benchmarks/bench_sse_parser.py`` (about 20 s on 2 busy cores).
"""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from _common import Report, Target, fmt_s, fmt_x, measure_interleaved, ratio

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
        assert len(messages) == 1 and len(messages[0].data) > payload_len
        return messages

    return run


def contenders(payload: bytes, chunks: Sequence[bytes]) -> dict[str, Callable[[], object]]:
    """The fast contenders timed for one payload size."""
    out: dict[str, Callable[[], object]] = {
        OURS: _decoder_contender(chunks, len(payload)),
        PLAIN: lambda: base64.b64decode(payload),
    }
    if pybase64 is not None:
        out["pybase64.b64decode"] = lambda: pybase64.b64decode(payload, validate=True)
    return out


def _naive_median(chunks: Sequence[bytes], runs: int) -> float:
    timings = measure_interleaved({NAIVE: lambda: parse_naively(chunks)}, runs=runs, warmup=0)
    return timings[NAIVE].median


def run(sizes_mb: Sequence[float] = (10.0, 40.0), *, runs: int = 5, naive_runs: int = 1) -> Report:
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
    rows = []
    medians: dict[float, dict[str, float]] = {}
    for size in sizes_mb:
        payload = base64_payload(size)
        chunks = split_chunks(event_body(payload))
        timings = measure_interleaved(contenders(payload, chunks), runs=runs)
        found = {name: t.median for name, t in timings.items()}
        if naive_runs:
            found[NAIVE] = _naive_median(chunks, naive_runs)
        medians[size] = found
        plain = found[PLAIN]
        for name, seconds in found.items():
            rows.append((f"{size:g} MB", name, fmt_s(seconds), fmt_x(ratio(seconds, plain))))
    report.add_table(
        f"One SSE event, 64 KiB chunks, median of {runs} (naive: {naive_runs})",
        ("base64 payload", "contender", "time", "vs stdlib b64decode"),
        rows,
    )
    small, large = sizes_mb[0], sizes_mb[-1]
    vs_plain = ratio(medians[large][OURS], medians[large][PLAIN])
    growth = ratio(medians[large][OURS], medians[small][OURS])
    scale = large / small
    report.add_table(
        f"Linearity: time({large:g} MB) / time({small:g} MB), ideal {scale:g}",
        ("contender", "growth"),
        [
            (name, fmt_x(ratio(medians[large][name], medians[small][name])))
            for name in medians[large]
        ],
    )
    report.targets = [
        Target(f"SSEDecoder vs plain base64 decode at {large:g} MB", vs_plain, 2.0),
        Target(
            f"growth {small:g}->{large:g} MB (linear = {scale:g})", growth, scale * 1.25, unit=""
        ),
    ]
    report.notes.append(
        "'plain base64 decode' is the stdlib's; pybase64 (what the client decodes with) is "
        "shown for scale: the parser only frames the event, the decode comes after it."
    )
    report.headline = (
        f"{large:g} MB event parsed in {fmt_x(vs_plain)} the stdlib base64 decode time; "
        f"growth x{growth:.2f} for x{scale:g} the bytes"
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--naive-runs", type=int, default=1)
    parser.add_argument("--sizes", type=float, nargs="+", default=[10.0, 40.0])
    args = parser.parse_args(argv)
    return run(args.sizes, runs=args.runs, naive_runs=args.naive_runs).print()


if __name__ == "__main__":
    sys.exit(main())
