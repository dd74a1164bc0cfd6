"""Shared helpers of the benchmark scripts.

- :func:`measure_interleaved`: every contender runs once per round, in a rotated order, and
  the median of the rounds is kept, so machine drift hits all contenders alike.
- :class:`Report` / :class:`Target`: a script's tables, its targets and its headline; the
  headline is printed LAST and :meth:`Report.exit_code` is non-zero when a target is missed.
- :func:`photo_like`: a procedural photograph stand-in (smooth light, soft-edged shapes,
  texture, sensor noise) that is fast to make at 3840x2160.
- :func:`background_server`: an offline server or a replay server in a child process, so
  its CPU work never shares the GIL with the code under measurement.

Benchmarks are scripts, not a package: each one does ``import _common`` from its own folder.
"""

from __future__ import annotations

import contextlib
import gc
import http.server
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

BENCH_DIR = Path(__file__).resolve().parent
#: The machine the numbers in RESULTS.md come from.
MACHINE = "2 cores, 24 GB, Python 3.11"
RESULTS_DATE = "2026-11-22"

# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """Wall times (seconds) of one contender, one per round."""

    name: str
    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best(self) -> float:
        return min(self.runs)


def time_once(func: Callable[[], object]) -> float:
    """Seconds one call of ``func`` takes (garbage collected before, not during)."""
    gc.collect()
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def measure_interleaved(
    contenders: Mapping[str, Callable[[], object]], *, runs: int = 5, warmup: int = 1
) -> dict[str, Timing]:
    """Time every contender ``runs`` times, alternating them round by round.

    Round ``r`` starts with contender ``r % k`` so no contender always runs first (after
    an idle pause) or last. ``warmup`` untimed rounds come first.

    Returns
    -------
    dict of str to Timing
        In the order of ``contenders``.
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(runs):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(time_once(contenders[name]))
    return {name: Timing(name, tuple(values)) for name, values in times.items()}


def paired_ratio(numerator: Timing, denominator: Timing) -> float:
    """Median over rounds of ``numerator / denominator`` timed in the same round.

    Pairing cancels drift (other jobs on the machine) that hits both within one round, so
    it is steadier than the ratio of the two medians.
    """
    pairs = zip(numerator.runs, denominator.runs, strict=True)
    return statistics.median(ratio(a, b) for a, b in pairs)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` (inf when the denominator is 0)."""
    return numerator / denominator if denominator else math.inf


# --------------------------------------------------------------------------- reporting


@dataclass(frozen=True)
class Target:
    """One target of the issue: ``value <= limit`` (or ``>=`` when ``at_least``)."""

    label: str
    value: float
    limit: float
    unit: str = "x"
    at_least: bool = False

    @property
    def passed(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        verdict = "PASS" if self.passed else "MISS"
        target = f"target {sign} {self.limit:g}{self.unit}"
        return f"{verdict}  {self.label}: {self.value:.3g}{self.unit} ({target})"


@dataclass(frozen=True)
class Table:
    """A markdown table with a title."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def markdown(self) -> str:
        lines = [
            f"**{self.title}**",
            "",
            "| " + " | ".join(self.headers) + " |",
            "|" + "---|" * len(self.headers),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Report:
    """What one benchmark found: tables, notes, targets and a one-line headline."""

    name: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    headline: str = ""

    def add_table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.tables.append(Table(title, tuple(headers), tuple(tuple(r) for r in rows)))

    @property
    def passed(self) -> bool:
        return all(target.passed for target in self.targets)

    def exit_code(self) -> int:
        """0 when every target is met, 1 otherwise."""
        return 0 if self.passed else 1

    def text(self) -> str:
        """Tables, notes, verdicts, then the headline as the very last line."""
        parts = [f"## {self.name}", "", environment_line(), ""]
        for table in self.tables:
            parts += [table.markdown(), ""]
        parts += [f"- {note}" for note in self.notes]
        if self.notes:
            parts.append("")
        parts += [target.line() for target in self.targets]
        verdict = "PASS" if self.passed else "MISS"
        parts.append(f"HEADLINE {self.name}: {self.headline} -> {verdict}")
        return "\n".join(parts)

    def print(self) -> int:
        """Print :meth:`text`; return :meth:`exit_code`."""
        print(self.text(), flush=True)
        return self.exit_code()


def environment_line() -> str:
    """Versions that matter for the numbers, and the CPU count actually seen."""
    import PIL

    return (
        f"Python {platform.python_version()}, NumPy {np.__version__}, Pillow {PIL.__version__}, "
        f"{os.cpu_count()} CPUs seen"
    )


def fmt_s(seconds: float) -> str:
    """Seconds with 3 significant digits, in ms below 1 s."""
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def fmt_x(value: float) -> str:
    return f"{value:.2f}x"


def fmt_mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.2f} MB"


# --------------------------------------------------------------------------- images


def photo_like(width: int, height: int, seed: int = 0, noise: float = 3.0) -> np.ndarray:
    """A procedural photograph stand-in, made in well under a second at 3840x2160.

    Low-frequency lighting with a vignette, 40 soft-edged shapes (drawn at a quarter of the
    size, blurred, then upscaled bicubically), mid-frequency texture and Gaussian sensor
    noise. Compresses like a photo (PNG ~ 0.5 of raw with noise), unlike noise (~1.0) or
    flat colour (~0.01).

    Parameters
    ----------
    width, height : int
        Size in pixels (>= 8 each).
    seed : int
        Different seeds give different images; the same seed the same image.
    noise : float
        Sigma of the sensor noise in levels; 0 gives a clean render, like a generated image.

    Returns
    -------
    np.ndarray
        ``(height, width, 3)`` ``uint8`` in ``[0, 255]``.
    """
    rng = np.random.default_rng(seed)
    small_w, small_h = max(2, width // 4), max(2, height // 4)
    y = np.linspace(0.0, 1.0, small_h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, small_w, dtype=np.float32)[None, :]
    light = np.empty((small_h, small_w, 3), dtype=np.float32)
    for channel, (fx, fy, phase) in enumerate(rng.uniform(0.5, 2.5, size=(3, 3))):
        light[:, :, channel] = 0.45 + 0.25 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    light *= 1.0 - 0.35 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)[:, :, None]
    scene = Image.fromarray(np.clip(light * 255, 0, 255).astype(np.uint8))
    draw_shapes(scene, rng)
    scene = scene.filter(ImageFilter.GaussianBlur(radius=0.8))
    pixels = np.asarray(scene.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    texture = rng.standard_normal((max(1, height // 8), max(1, width // 8)), dtype=np.float32)
    texture_full = Image.fromarray(texture, mode="F").resize(
        (width, height), Image.Resampling.BICUBIC
    )
    pixels += 6.0 * np.asarray(texture_full)[:, :, None]
    if noise:
        pixels += noise * rng.standard_normal(pixels.shape, dtype=np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def draw_shapes(scene: Image.Image, rng: np.random.Generator) -> None:
    """Draw 40 random ellipses (sizes 3-30 % of the image, colours 20-234) on ``scene``."""
    width, height = scene.size
    draw = ImageDraw.Draw(scene)
    for _ in range(40):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(0.03, 0.3) * width, rng.uniform(0.03, 0.3) * height
        colour = tuple(int(v) for v in rng.integers(20, 235, size=3))
        draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)


def png_bytes(arr: np.ndarray, **options: Any) -> bytes:
    """Pillow's ``save(buf, "PNG", **options)``: with no options, what most scripts do."""
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, "PNG", **options)
    return buffer.getvalue()


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two same-shape ``uint8`` images (inf if equal)."""
    diff = reference.astype(np.float64) - test.astype(np.float64)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


# --------------------------------------------------------------------------- servers

_OFFLINE_CHILD = """
import sys
from gptimage_widgets.offline import OfflineServer
server = OfflineServer(latency={latency!r}, rate_limit={rate_limit!r}).start()
print(server.base_url, flush=True)
sys.stdin.read()
server.stop()
"""

_REPLAY_CHILD = """
import sys
sys.path.insert(0, {bench_dir!r})
import _common
_common.serve_replay({body_path!r})
"""


@contextlib.contextmanager
def background_server(
    *,
    latency: float = 0.0,
    replay_body: bytes | None = None,
    tmp_dir: Path | None = None,
    rate_limit: float | None = None,
) -> Iterator[str]:
    """Run a server in a child process; yield its ``http://127.0.0.1:PORT/v1`` URL.

    Parameters
    ----------
    latency : float
        Seconds the offline server waits before answering.
    replay_body : bytes or None
        When given, a replay server answers every POST with this JSON body (200) instead
        of the offline server rendering images.
    tmp_dir : Path or None
        Folder for the replay body file (default: the system temp folder).
    rate_limit : float or None
        Image requests per second the offline server allows (429 beyond; None = unlimited).
    """
    body_file: Path | None = None
    if replay_body is None:
        code = _OFFLINE_CHILD.format(latency=latency, rate_limit=rate_limit)
    else:
        folder = tmp_dir or Path(os.environ.get("TMPDIR", "/tmp"))
        body_file = folder / f"giw-replay-{os.getpid()}-{time.monotonic_ns()}.json"
        body_file.write_bytes(replay_body)
        code = _REPLAY_CHILD.format(bench_dir=str(BENCH_DIR), body_path=str(body_file))
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the benchmark server did not start (said {url!r})")
        yield url
    finally:
        _stop_child(child)
        if body_file is not None:
            body_file.unlink(missing_ok=True)


def _stop_child(child: subprocess.Popen[str]) -> None:
    with contextlib.suppress(OSError):
        assert child.stdin is not None
        child.stdin.close()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


class _ReplayHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.body)))
        self.send_header("x-request-id", "req_replay")
        self.end_headers()
        self.wfile.write(self.body)


def serve_replay(body_path: str) -> None:
    """Child-process entry: answer every POST with the file's bytes until stdin closes."""
    import threading

    handler = type("Handler", (_ReplayHandler,), {"body": Path(body_path).read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    sys.stdin.read()
    server.shutdown()


def images_body(pngs: Sequence[bytes], **extra: Any) -> bytes:
    """An OpenAI-style images response body carrying ``pngs`` as ``b64_json``."""
    import base64

    data = [{"b64_json": base64.b64encode(png).decode("ascii")} for png in pngs]
    return json.dumps({"created": 0, "data": data, **extra}).encode()
