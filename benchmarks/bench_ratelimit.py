"""Rate limits: a sweep against a server that allows R requests per second.

The offline server (``OfflineServer(rate_limit=R, latency=0.2)``, in a child process) keeps a
token bucket of R requests (one second's worth) refilled at R per second and answers the rest
429 ``rate_limit_exceeded`` with ``retry-after-ms``, ``Retry-After`` and ``x-ratelimit-*``
headers, as OpenAI does. Side by side, at two rates:

- **kit now**: ``AsyncImageClient().sweep(prompts)`` with default settings (pacing on,
  ``max_concurrency=8``, 2 retries);
- **kit before**: the same with ``rate_limit=False``, which is the behaviour before pacing
  existed (every request goes when a concurrency slot is free; each 429 spends one of the 2
  retries, honouring the server's delay);
- **openai SDK gather**: ``asyncio.gather`` of ``AsyncOpenAI().images.generate`` (the SDK's
  defaults: 2 retries, honours ``retry-after-ms``), the naive way to run many.

Columns: failed requests, 429 answers received (counted by an httpx response hook), wall time
and wall time / ideal, where ideal = N / R (N requests at R per second). Before each run the
script waits until the server's bucket is full again, so every run starts alike.

A last table is the unlimited server (no rate limit, 0.2 s latency, 32 requests at
``max_concurrency=8``): kit now vs kit before, median of rounds, to show that pacing costs
nothing when no limit is hit.

Targets (issue 13): kit now has 0 failures (every request succeeded) and wall time <= 1.25x
ideal at both rates; the unlimited case no slower than before (<= 1.10x, noise included).

Run: ``python benchmarks/bench_ratelimit.py`` (about 1.5 minutes); ``--quick`` for one round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx
from _common import Report, Target, background_server, fmt_s, fmt_x, ratio

from gptimage_widgets import AsyncImageClient

MODEL = "dall-e-2"
SIZE = "256x256"
FAKE_KEY = "sk-test-FAKE"
LATENCY = 0.2


@dataclass(frozen=True)
class Run:
    """One contender's run: failures, 429s received, wall seconds."""

    failures: int
    limited: int
    seconds: float


def _http(limited: list[int]) -> httpx.AsyncClient:
    async def count(response: httpx.Response) -> None:
        limited[0] += response.status_code == 429

    return httpx.AsyncClient(timeout=600.0, event_hooks={"response": [count]})


async def _kit(url: str, prompts: list[str], pacing: bool, concurrency: int = 8) -> Run:
    limited = [0]
    http = _http(limited)
    start = time.perf_counter()
    async with AsyncImageClient(
        FAKE_KEY,
        url,
        http_client=http,
        history=False,
        rate_limit=pacing,
        max_concurrency=concurrency,
    ) as client:
        results = await client.sweep(prompts, model=MODEL, size=SIZE, progress=False)
    seconds = time.perf_counter() - start
    await http.aclose()
    return Run(sum(isinstance(r, Exception) for r in results), limited[0], seconds)


async def _sdk(url: str, prompts: list[str]) -> Run:
    import openai

    limited = [0]
    http = _http(limited)
    start = time.perf_counter()
    async with openai.AsyncOpenAI(api_key=FAKE_KEY, base_url=url, http_client=http) as client:
        results = await asyncio.gather(
            *(client.images.generate(model=MODEL, prompt=p, size=SIZE) for p in prompts),
            return_exceptions=True,
        )
    seconds = time.perf_counter() - start
    return Run(sum(isinstance(r, BaseException) for r in results), limited[0], seconds)


Contender = Callable[[str, list[str]], Awaitable[Run]]
CONTENDERS: dict[str, Contender] = {
    "kit now (default)": lambda url, prompts: _kit(url, prompts, True),
    "kit before (rate_limit=False)": lambda url, prompts: _kit(url, prompts, False),
    "openai SDK asyncio.gather": _sdk,
}


def rate_limited(rate: float, requests: int, runs: int) -> dict[str, list[Run]]:
    """Every contender ``runs`` times (rotated order), each starting with a full bucket."""
    prompts = [f"sweep {i}" for i in range(requests)]
    found: dict[str, list[Run]] = {name: [] for name in CONTENDERS}
    names = list(CONTENDERS)
    with background_server(latency=LATENCY, rate_limit=rate) as url:
        for round_ in range(runs):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                time.sleep(1.0 + 1.0 / rate)  # the bucket (1 s worth) refills
                found[name].append(asyncio.run(CONTENDERS[name](url, prompts)))
    return found


def unlimited(requests: int, runs: int) -> dict[str, list[Run]]:
    """Kit now vs kit before against a server with no rate limit."""
    prompts = [f"free {i}" for i in range(requests)]
    found: dict[str, list[Run]] = {"kit now (default)": [], "kit before (rate_limit=False)": []}
    with background_server(latency=LATENCY) as url:
        asyncio.run(_kit(url, prompts, True))  # warm-up: imports, first connections
        for round_ in range(runs):
            order = [True, False] if round_ % 2 == 0 else [False, True]
            for pacing in order:
                name = "kit now (default)" if pacing else "kit before (rate_limit=False)"
                found[name].append(asyncio.run(_kit(url, prompts, pacing)))
    return found


def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def run(
    *,
    rates: Sequence[tuple[float, int]] = ((4.0, 24), (10.0, 40)),
    runs: int = 3,
    free_requests: int = 32,
    free_runs: int = 5,
) -> Report:
    """The rate-limited tables (one per ``(rate, requests)``), the unlimited one, the targets.

    `free_requests` and `free_runs` size the unlimited comparison.
    """
    report = Report("Rate limits")
    targets = []
    for rate, requests in rates:
        ideal = requests / rate
        found = rate_limited(rate, requests, runs)
        rows = []
        for name, results in found.items():
            wall = _median(results, "seconds")
            failures = ", ".join(str(r.failures) for r in results)
            limited = ", ".join(str(r.limited) for r in results)
            rows.append((name, failures, limited, fmt_s(wall), fmt_x(ratio(wall, ideal))))
        report.add_table(
            f"{requests} requests at {rate:g}/s (ideal {fmt_s(ideal)}), {LATENCY:g} s latency, "
            f"{runs} runs (failures and 429s per run; wall time: median)",
            ("client", "failed requests", "429s received", "wall time", "vs ideal"),
            rows,
        )
        now = found["kit now (default)"]
        succeeded = min(1 - r.failures / requests for r in now)
        label = f"kit now share of requests that succeeded at {rate:g}/s (worst run)"
        targets.append(Target(label, succeeded, 1.0, unit="", at_least=True))
        slowest = max(r.seconds for r in now)
        targets.append(Target(f"kit now slowest run vs ideal at {rate:g}/s", slowest / ideal, 1.25))
    free = unlimited(free_requests, free_runs)
    now_s, before_s = (_median(free[k], "seconds") for k in free)
    waves = -(-free_requests // 8) * LATENCY
    report.add_table(
        f"unlimited server: {free_requests} requests, max_concurrency=8, {LATENCY:g} s latency, "
        f"median of {free_runs} (ideal: waves x latency = {fmt_s(waves)})",
        ("client", "failed requests", "wall time", "vs before"),
        [
            (name, str(max(r.failures for r in results)), fmt_s(wall), fmt_x(ratio(wall, before_s)))
            for (name, results), wall in zip(free.items(), (now_s, before_s), strict=True)
        ],
    )
    targets.append(Target("unlimited: kit now vs before", ratio(now_s, before_s), 1.10))
    report.targets = targets
    report.notes.append(
        "kit now paces by the rate learnt from x-ratelimit-limit/remaining/reset-requests "
        "(gptimage_widgets/ratelimit.py); its 429s are mostly the first burst, sent before the "
        "server's headers were known; all are waited out, not counted against the 2 retries."
    )
    report.notes.append(
        "The ideal N / R ignores the bucket's first second of burst and the 0.2 s latency of "
        "the last answer, which roughly cancel: (N - R) / R + latency."
    )
    report.headline = ", ".join(
        f"{t.label.removeprefix('kit now ')}: {t.value:.3g}{t.unit}" for t in targets
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round, smaller sweeps")
    args = parser.parse_args(argv)
    quick = {"rates": ((10.0, 24),), "runs": 1, "free_runs": 3}
    report = run(**quick) if args.quick else run(runs=args.runs)
    return report.print()


if __name__ == "__main__":
    sys.exit(main())
