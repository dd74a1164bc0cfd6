"""Memory: peak RSS of an n=4 3840x2160 generation vs the bytes of the decoded arrays.

Each measurement runs in a fresh Python process: it imports everything, builds the client,
collects garbage and reads its RSS (the baseline), then makes ONE call and reads its peak RSS
(``VmHWM`` of ``/proc/self/status``; not ``ru_maxrss``, which Linux carries over from the
parent across ``exec``, so a child of a big parent reports the parent's size). The figure is
``(peak - baseline) / bytes of the returned arrays`` (4 x 3840 x 2160 x 3 = 99.5 MB).

Servers run in another child process, so their memory is not counted:

- the **offline server** (synthetic flat-colour images: tiny PNGs, ~60 KB of JSON);
- a **replay** answer carrying four *photo-like* 3840x2160 PNGs (~70 MB of JSON), the size
  of a real API answer; the openai SDK + decode is measured on it too, for scale.

Target (issue "Benchmarks ... and the reliability suite"): <= 2.5x.

Run: ``python benchmarks/bench_memory.py`` (about 25 s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence

from _common import (
    Report,
    Target,
    background_server,
    fmt_mb,
    fmt_x,
    images_body,
    photo_like,
    png_bytes,
    ratio,
)

MODEL = "gpt-image-2"
FAKE_KEY = "sk-test-FAKE"

_CHILD = r"""
import base64, gc, io, json, resource, sys
import numpy as np, psutil
from PIL import Image
import httpx, openai
from gptimage_widgets import ImageClient

url, who, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ours = ImageClient("sk-test-FAKE", url, history=False)
sdk = openai.OpenAI(api_key="sk-test-FAKE", base_url=url, max_retries=0)
gc.collect()
baseline = psutil.Process().memory_info().rss
if who == "ours":
    images = ours.generate("memory", model="gpt-image-2", n=n, size=size).images
else:
    answer = sdk.images.generate(model="gpt-image-2", prompt="memory", n=n, size=size)
    images = [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(item.b64_json))).convert("RGB"))
        for item in answer.data
    ]
def high_water_mark():
    # VmHWM: this process's own peak. ru_maxrss is not reset by exec on Linux, so in a
    # child of a big parent it reports the parent's size.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
peak = high_water_mark()
print(json.dumps({"baseline": baseline, "peak": peak,
                  "arrays": sum(a.nbytes for a in images), "count": len(images)}))
"""


def measure_child(base_url: str, who: str, n: int, size: str) -> dict[str, int]:
    """Run one generation in a fresh process; its baseline RSS, peak RSS and array bytes."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, base_url, who, str(n), size],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{done.stderr[-2000:]}")
    found: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["count"] == n, f"{found['count']} images for n={n}"
    return found


def photo_body(n: int, width: int, height: int) -> bytes:
    """A replay answer with ``n`` photo-like PNGs (one image, repeated: memory is the same)."""
    png = png_bytes(photo_like(width, height, seed=3), compress_level=1)
    return images_body([png] * n, usage={"input_tokens": 10, "output_tokens": 100})


def _row(server: str, who: str, found: dict[str, int]) -> tuple[str, ...]:
    delta = found["peak"] - found["baseline"]
    return (
        server,
        who,
        fmt_mb(found["baseline"]),
        fmt_mb(delta),
        fmt_mb(found["arrays"]),
        fmt_x(ratio(delta, found["arrays"])),
    )


def run(n: int = 4, size: str = "3840x2160", *, replay: bool = True, sdk: bool = True) -> Report:
    """Measure ours on the offline server and (``replay``) on photo-like answers.

    Parameters
    ----------
    n : int
        Images per call.
    size : str
        ``WxH`` asked for.
    replay : bool
        Also measure against a replay server with photo-like PNGs.
    sdk : bool
        Also measure the openai SDK + decode on the replay answer.
    """
    report = Report("Memory")
    rows = []
    cases: list[tuple[str, dict[str, int]]] = []
    with background_server() as url:
        found = measure_child(url, "ours", n, size)
    cases.append(("offline server", found))
    rows.append(_row("offline server", "ours", found))
    if replay:
        width, height = (int(v) for v in size.split("x"))
        body = photo_body(n, width, height)
        label = f"replay, photo-like ({fmt_mb(len(body))} JSON)"
        with background_server(replay_body=body) as url:
            found = measure_child(url, "ours", n, size)
            cases.append(("replay photo-like", found))
            rows.append(_row(label, "ours", found))
            if sdk:
                rows.append(_row(label, "openai SDK + decode", measure_child(url, "sdk", n, size)))
    report.add_table(
        f"n={n} {size}, one call in a fresh process",
        ("server", "client", "RSS after imports", "peak delta", "arrays", "delta / arrays"),
        rows,
    )
    for server, found in cases:
        delta = found["peak"] - found["baseline"]
        report.targets.append(
            Target(f"{server}: peak delta / arrays", ratio(delta, found["arrays"]), 2.5)
        )
    report.notes.append(
        "What keeps the photo-like peak down (responses.py, BodyBuffer / parse_payload / "
        "decode_items): the body is read into one bytearray preallocated from Content-Length "
        "(httpx's read() held the chunks and their join: 2x the body), handed to json.loads "
        "as text with the bytes released first, and each b64_json is popped as it is decoded. "
        "Before (2026-11-22): 3.38x. What remains at the peak: the text plus the parsed "
        "base64 strings while json.loads runs, then strings, arrays and one PNG while decoding."
    )
    worst = max(report.targets, key=lambda t: t.value)
    report.headline = (
        f"worst case ({worst.label.split(':')[0]}): peak RSS delta {fmt_x(worst.value)} the arrays"
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--size", default="3840x2160")
    parser.add_argument("--no-replay", action="store_true")
    args = parser.parse_args(argv)
    return run(args.n, args.size, replay=not args.no_replay).print()


if __name__ == "__main__":
    sys.exit(main())
