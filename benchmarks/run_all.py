"""Run every benchmark script in its own process and print a summary of their headlines.

Each script prints its tables and, as its last line, ``HEADLINE <name>: ... -> PASS|MISS``;
it exits non-zero when a target is missed. This runner shows each script's output as it
comes, then one summary line per script, and exits non-zero when any script missed.

Run: ``python benchmarks/run_all.py`` (about 6 minutes on 2 cores), or name some:
``python benchmarks/run_all.py bench_sse_parser bench_memory``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SCRIPTS = (
    "bench_sse_parser",
    "bench_upload",
    "bench_client_overhead",
    "bench_concurrency",
    "bench_ratelimit",
    "bench_memory",
    "bench_mask_raster",
    "bench_widget_roundtrip",
)


@dataclass(frozen=True)
class Outcome:
    """What one script did: its exit code, its last line and its wall time in seconds."""

    script: str
    returncode: int
    headline: str
    seconds: float

    def line(self) -> str:
        verdict = "ok  " if self.returncode == 0 else "MISS"
        return f"{verdict} {self.script} ({self.seconds:.0f} s): {self.headline}"


def run_script(script: str, extra: Sequence[str] = ()) -> Outcome:
    """Run ``benchmarks/<script>.py``, echo its output, keep its last line."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / f"{script}.py"), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    print(done.stdout, end="", flush=True)
    if done.returncode not in (0, 1):
        print(done.stderr[-3000:], file=sys.stderr, flush=True)
    lines = done.stdout.strip().splitlines()
    headline = lines[-1] if lines else f"no output (exit {done.returncode})"
    if done.returncode not in (0, 1):
        headline = f"crashed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}"
    return Outcome(script, done.returncode, headline, seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", help=f"some of {', '.join(SCRIPTS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scripts) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; use some of {', '.join(SCRIPTS)}")
    outcomes = []
    for script in args.scripts or SCRIPTS:
        print(f"\n===== {script}", flush=True)
        outcomes.append(run_script(script))
    print("\n===== summary")
    for outcome in outcomes:
        print(outcome.line())
    missed = sum(outcome.returncode != 0 for outcome in outcomes)
    print(f"{len(outcomes) - missed} of {len(outcomes)} benchmarks met their targets")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
