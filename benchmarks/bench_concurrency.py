"""Concurrency: 32 requests against a server that takes 0.5 s per answer.

``AsyncImageClient(max_concurrency=16)`` sends 32 ``generate`` calls at once (``asyncio.gather``)
against the offline server (``OfflineServer(latency=0.5)``, in a child process); the baseline
is the same 32 calls awaited one after another. With 16 in flight, two waves of 0.5 s is the
ideal: 1.0 s. Rows for the default ``max_concurrency`` (8) and for 32 show how the wall time
follows ``ceil(32 / max_concurrency) * latency``.

Every timed run builds a fresh client, as a notebook's first sweep does, so connection set-up
is included. The model is dall-e-2 at 256x256 so that the server's rendering (milliseconds)
does not hide what the client does with its waiting time.

Target (issue "Benchmarks ... and the reliability suite"): wall time <= 1.25x of 2 x latency,
i.e. <= 1.25 s for 32 requests at concurrency 16 with 0.5 s latency.

Run: ``python benchmarks/bench_concurrency.py`` (about 30 s, mostly the sequential loop).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Callable, Sequence

from _common import Report, Target, background_server, fmt_s, fmt_x, measure_interleaved, ratio

from gptimage_widgets import AsyncImageClient

MODEL = "dall-e-2"
SIZE = "256x256"
FAKE_KEY = "sk-test-FAKE"


async def _burst(base_url: str, requests: int, max_concurrency: int | None) -> int:
    """``requests`` calls on a fresh client; ``None`` = one after another. Returns images."""
    limit = max_concurrency or 1
    async with AsyncImageClient(FAKE_KEY, base_url, history=False, max_concurrency=limit) as client:
        calls = [
            lambda i=i: client.generate(f"burst {i}", model=MODEL, size=SIZE)
            for i in range(requests)
        ]
        if max_concurrency is None:
            results = [await call() for call in calls]
        else:
            results = await asyncio.gather(*(call() for call in calls))
    return sum(len(result.images) for result in results)


def burst(base_url: str, requests: int, max_concurrency: int | None) -> Callable[[], int]:
    """A timed contender: one burst in a new event loop."""

    def run() -> int:
        images = asyncio.run(_burst(base_url, requests, max_concurrency))
        assert images == requests, f"{images} images for {requests} requests"
        return images

    return run


def run(
    *,
    requests: int = 32,
    latency: float = 0.5,
    concurrency: int = 16,
    others: Sequence[int] = (8, 32),
    runs: int = 3,
    sequential: bool = True,
) -> Report:
    """Time the concurrent bursts (median of ``runs``) and one sequential loop.

    Parameters
    ----------
    requests : int
        Calls per burst.
    latency : float
        Seconds the server waits before every answer.
    concurrency : int
        ``max_concurrency`` of the target row.
    others : sequence of int
        Further ``max_concurrency`` values shown for comparison.
    runs : int
        Timed rounds of each concurrent burst.
    sequential : bool
        Also time the sequential loop once (``requests * latency`` seconds).
    """
    report = Report("Concurrency")
    limits = {f"max_concurrency={c}": c for c in (concurrency, *others)}
    target_name = f"max_concurrency={concurrency}"
    with background_server(latency=latency) as url:
        funcs = {name: burst(url, requests, limit) for name, limit in limits.items()}
        timings = measure_interleaved(funcs, runs=runs, warmup=0)
        if sequential:
            loop = {"sequential loop": burst(url, requests, None)}
            timings.update(measure_interleaved(loop, runs=1, warmup=0))
            limits["sequential loop"] = 1
    wall = timings[target_name].median
    ideal = math.ceil(requests / concurrency) * latency
    seq_time = timings["sequential loop"].median if sequential else requests * latency
    rows = []
    for name, timing in timings.items():
        waves = math.ceil(requests / limits[name]) * latency
        rows.append(
            (
                name,
                fmt_s(timing.median),
                fmt_s(waves),
                fmt_x(ratio(timing.median, waves)),
                fmt_x(ratio(seq_time, timing.median)),
            )
        )
    report.add_table(
        f"{requests} requests, {latency:g} s server latency, median of {runs} (sequential: 1)",
        ("client", "wall time", "ideal (waves x latency)", "vs ideal", "speed-up vs sequential"),
        rows,
    )
    report.targets = [Target(f"{target_name} wall time vs 2 x latency", ratio(wall, ideal), 1.25)]
    report.notes.append(
        f"The server renders {MODEL} {SIZE} images (a few ms each) so the measurement shows the "
        "client's concurrency, not the server's CPU.",
    )
    report.notes.append(
        "Server settings this depends on (gptimage_widgets/offline/server.py): listen backlog "
        "128 (socketserver's default of 5 dropped some of 16 simultaneous SYNs, which TCP "
        "retried after 1 s: 2.1-2.2 s for this burst) and TCP_NODELAY on accepted sockets "
        "(Nagle + delayed ACK added ~40 ms to each small answer).",
    )
    report.headline = (
        f"{requests} requests at {target_name}: {fmt_s(wall)} = {fmt_x(ratio(wall, ideal))} "
        f"the ideal {fmt_s(ideal)}; {fmt_x(ratio(seq_time, wall))} faster than sequential"
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--no-sequential", action="store_true")
    args = parser.parse_args(argv)
    report = run(
        requests=args.requests,
        latency=args.latency,
        runs=args.runs,
        sequential=not args.no_sequential,
    )
    return report.print()


if __name__ == "__main__":
    sys.exit(main())
