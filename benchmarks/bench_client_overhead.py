"""Client overhead: ``ImageClient.generate`` vs the floor and vs the official SDK.

Every contender asks for one gpt-image-2 image and ends with it as an ``(H, W, 3)`` ``uint8``
NumPy array:

- **ours**: ``ImageClient(history=False).generate(...)`` (validation, request building,
  retries, error translation, pybase64 when installed, cost from usage, result object);
- **floor**: raw httpx (a reused ``httpx.Client().post``) + ``json`` + stdlib
  ``base64.b64decode`` + Pillow decode to NumPy — what a typical script does (stdlib base64:
  pybase64 is faster, and we use it). The bare ``httpx.post`` of the issue builds a new client
  (SSL context, connection) per call, ~20 ms more: it is shown, but the targets use the
  stricter pooled floor;
- **openai SDK**: ``OpenAI(base_url=...).images.generate(...)`` + the same decode.

Two servers, both in a child process so their CPU work never shares our GIL:

- the **offline server** (``OfflineServer(latency=0)``), which renders a synthetic picture per
  request (flat colours: a tiny PNG; rendering and encoding are half the round trip at 4K);
- a **replay** of the offline server's answer carrying a *photo-like* PNG of the same size, as
  a real API answer does (~13 MB at 3840x2160): this isolates what the clients themselves cost.

Targets (issue "Benchmarks ... and the reliability suite"): ours <= 1.10x the floor and
<= 1.0x the SDK, for 1024x1024 and 3840x2160 PNG responses.

Run: ``python benchmarks/bench_client_overhead.py`` (about 70 s on 2 quiet cores).
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import numpy as np
from _common import (
    Report,
    Target,
    Timing,
    background_server,
    fmt_mb,
    fmt_s,
    fmt_x,
    images_body,
    measure_interleaved,
    paired_ratio,
    photo_like,
    png_bytes,
)
from PIL import Image

from gptimage_widgets import ImageClient

MODEL = "gpt-image-2"
PROMPT = "a lighthouse on a cliff at dusk"
FAKE_KEY = "sk-test-FAKE"
OURS = "ours: ImageClient.generate"
FLOOR = "floor: httpx.Client.post + base64 + Pillow"
ONE_SHOT = "httpx.post (new client per call) + base64 + Pillow"
SDK = "openai SDK + base64 + Pillow"
SDK_SAME_WIRE = "openai SDK without its x-stainless-* headers (the same wire as ours)"
#: The openai SDK's telemetry headers (9, ~300 bytes); ``omit`` removes them from a request.
STAINLESS_HEADERS = (
    "x-stainless-lang",
    "x-stainless-package-version",
    "x-stainless-os",
    "x-stainless-arch",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-async",
    "x-stainless-retry-count",
    "x-stainless-read-timeout",
)
FLOOR_FAST = "floor with pybase64 (for scale)"


def decode_like_a_script(b64: str, b64decode: Callable[[str], bytes]) -> np.ndarray:
    """``b64_json`` -> ``(H, W, 3)`` ``uint8``, as a typical script writes it."""
    return np.asarray(Image.open(io.BytesIO(b64decode(b64))).convert("RGB"))


def floor_call(
    post: Callable[..., httpx.Response],
    base_url: str,
    size: str,
    b64decode: Callable[[str], bytes],
) -> np.ndarray:
    """The floor: one ``post`` (``httpx.post`` or a pooled client's), the JSON, the image."""
    response = post(
        f"{base_url}/images/generations",
        json={"model": MODEL, "prompt": PROMPT, "size": size},
        headers={"Authorization": f"Bearer {FAKE_KEY}"},
        timeout=600,
    )
    response.raise_for_status()
    return decode_like_a_script(response.json()["data"][0]["b64_json"], b64decode)


def contenders(
    base_url: str, size: str, *, extra: bool = True
) -> tuple[dict[str, Callable[[], Any]], list[Any]]:
    """The functions to time against ``base_url``, and the clients to close afterwards."""
    import openai
    import pybase64

    ours = ImageClient(FAKE_KEY, base_url, history=False)
    sdk = openai.OpenAI(api_key=FAKE_KEY, base_url=base_url, max_retries=0)
    pooled = httpx.Client()

    def sdk_call(**options: Any) -> np.ndarray:
        answer = sdk.images.generate(model=MODEL, prompt=PROMPT, size=size, **options)
        assert answer.data and answer.data[0].b64_json
        return decode_like_a_script(answer.data[0].b64_json, base64.b64decode)

    without_telemetry = {name: openai.omit for name in STAINLESS_HEADERS}

    funcs: dict[str, Callable[[], Any]] = {
        OURS: lambda: np.asarray(ours.generate(PROMPT, model=MODEL, size=size).images[0]),
        FLOOR: lambda: floor_call(pooled.post, base_url, size, base64.b64decode),
        SDK: sdk_call,
        SDK_SAME_WIRE: lambda: sdk_call(extra_headers=without_telemetry),
        ONE_SHOT: lambda: floor_call(httpx.post, base_url, size, base64.b64decode),
    }
    if extra:
        funcs[FLOOR_FAST] = lambda: floor_call(pooled.post, base_url, size, pybase64.b64decode)
    return funcs, [ours, sdk, pooled]


def replay_body(base_url: str, size: str) -> bytes:
    """The offline server's answer for ``size`` with its image swapped for a photo-like PNG."""
    answer = httpx.post(
        f"{base_url}/images/generations",
        json={"model": MODEL, "prompt": PROMPT, "size": size},
        headers={"Authorization": f"Bearer {FAKE_KEY}"},
        timeout=600,
    ).json()
    width, height = (int(v) for v in size.split("x"))
    png = png_bytes(photo_like(width, height, seed=width), compress_level=1)
    extra = {key: value for key, value in answer.items() if key not in ("data", "created")}
    return images_body([png], **extra)


def measure(base_url: str, size: str, runs: int, *, extra: bool = True) -> dict[str, Timing]:
    """Timings per contender for one server and size; first checks they decode alike."""
    funcs, clients = contenders(base_url, size, extra=extra)
    try:
        arrays = {name: func() for name, func in funcs.items()}
        reference = arrays[FLOOR]
        for name, array in arrays.items():
            assert np.array_equal(array, reference), f"{name} decoded a different image"
        timings = measure_interleaved(funcs, runs=runs, warmup=0)
    finally:
        for client in clients:
            client.close()
    return timings


def runs_for(size: str, runs: int) -> int:
    """Rounds for ``size``: 3x ``runs`` up to 2 megapixels, else 2x.

    The offline server's 4K case is mostly the server's own rendering (~150 ms of ~300),
    so one round's ratio moves with the machine's load; twice the rounds steady its median.
    """
    width, height = (int(v) for v in size.split("x"))
    return runs * 3 if width * height <= 2_000_000 else runs * 2


def _rows(label: str, size: str, timings: dict[str, Timing]) -> list[tuple[str, ...]]:
    floor = timings[FLOOR]
    return [
        (label, size, name, fmt_s(t.median), fmt_x(paired_ratio(t, floor)))
        for name, t in timings.items()
    ]


def run(
    sizes: Sequence[str] = ("1024x1024", "3840x2160"), *, runs: int = 5, replay: bool = True
) -> Report:
    """Time every contender against the offline server and (``replay``) a replay server.

    Parameters
    ----------
    sizes : sequence of str
        gpt-image-2 sizes to ask for.
    runs : int
        Timed rounds per server: sizes of at most 2 MP get 3x as many (they are cheap, and
        noisier), larger ones 2x. One untimed round first checks that every contender
        decodes the same pixels.
    replay : bool
        Also measure against the replay server with photo-like images.
    """
    report = Report("Client overhead")
    rows: list[tuple[str, ...]] = []
    results: list[tuple[str, str, dict[str, Timing]]] = []
    bodies: dict[str, bytes] = {}
    with background_server() as url:
        for size in sizes:
            medians = measure(url, size, runs_for(size, runs), extra=False)
            results.append(("offline server", size, medians))
            rows += _rows("offline server", size, medians)
            if replay:
                bodies[size] = replay_body(url, size)
    for size, body in bodies.items():
        with background_server(replay_body=body) as url:
            medians = measure(url, size, runs_for(size, runs))
        label = f"replay, photo-like PNG ({fmt_mb(len(body))} JSON)"
        results.append(("replay", size, medians))
        rows += _rows(label, size, medians)
    report.add_table(
        f"One image per call, median of {2 * runs} rounds ({3 * runs} up to 2 MP)",
        ("server", "size", "contender", "median time", "vs floor (paired)"),
        rows,
    )
    for server, size, timings in results:
        report.targets += [
            Target(
                f"{server} {size}: ours vs floor", paired_ratio(timings[OURS], timings[FLOOR]), 1.10
            ),
            Target(f"{server} {size}: ours vs SDK", paired_ratio(timings[OURS], timings[SDK]), 1.0),
        ]
    floor_ratios = [t.value for t in report.targets if t.label.endswith("vs floor")]
    sdk_ratios = [t.value for t in report.targets if t.label.endswith("vs SDK")]
    report.notes += [
        "The floor uses the stdlib's base64, as a typical script does; ours uses pybase64 "
        "(the 'fast' and 'test' extras). The pybase64 floor row shows how much of the gap "
        "that alone explains.",
        "Targets are taken against the pooled floor (httpx.Client reused), stricter than the "
        "issue's bare httpx.post, which pays for a new client and connection every call.",
        "Ratios are paired: the median over rounds of (ours / other) in the same round.",
    ]
    report.headline = (
        f"worst of {len(results)} server/size cases: ours {fmt_x(max(floor_ratios))} the "
        f"floor, {fmt_x(max(sdk_ratios))} the openai SDK"
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", nargs="+", default=["1024x1024", "3840x2160"])
    parser.add_argument("--no-replay", action="store_true")
    args = parser.parse_args(argv)
    return run(args.sizes, runs=args.runs, replay=not args.no_replay).print()


if __name__ == "__main__":
    sys.exit(main())
