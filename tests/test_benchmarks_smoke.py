"""Smoke tests of the benchmark scripts: each runs its smallest configuration on tiny inputs.

They prove the scripts work and produce numbers; they assert nothing about speed (timings
belong in ``benchmarks/``, not in the test suite).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from gptimage_widgets.imaging import decode_image, encode_image

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import _common  # noqa: E402
import bench_client_overhead  # noqa: E402
import bench_concurrency  # noqa: E402
import bench_encode_levels  # noqa: E402
import bench_memory  # noqa: E402
import bench_ratelimit  # noqa: E402
import bench_sse_parser  # noqa: E402
import bench_upload  # noqa: E402
import run_all  # noqa: E402


def assert_complete(report: _common.Report) -> None:
    """Tables with rows, finite positive target values, and the headline printed last."""
    assert report.tables and all(table.rows for table in report.tables)
    assert report.targets
    for target in report.targets:
        assert math.isfinite(target.value) and target.value > 0, target
    assert report.exit_code() == (0 if all(t.passed for t in report.targets) else 1)
    last = report.text().splitlines()[-1]
    assert last.startswith(f"HEADLINE {report.name}: ")
    assert last.endswith("PASS" if report.passed else "MISS")


# ----------------------------------------------------------------------------- _common


def test_measure_interleaved_times_every_contender_every_round() -> None:
    calls: list[str] = []
    contenders = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    timings = _common.measure_interleaved(contenders, runs=3, warmup=1)
    assert list(timings) == ["a", "b", "c"]
    assert all(len(t.runs) == 3 and min(t.runs) >= 0 for t in timings.values())
    assert calls[:3] == ["a", "b", "c"]  # warm-up
    assert calls[3:6] == ["a", "b", "c"] and calls[6:9] == ["b", "c", "a"]  # rotated rounds


def test_paired_ratio_is_the_median_of_per_round_ratios() -> None:
    ours = _common.Timing("ours", (1.0, 2.0, 9.0))
    base = _common.Timing("base", (2.0, 2.0, 3.0))
    assert _common.paired_ratio(ours, base) == 1.0  # ratios 0.5, 1.0, 3.0


def test_targets_and_exit_code() -> None:
    report = _common.Report("demo", targets=[_common.Target("fast", 0.4, 0.5)])
    report.add_table("t", ("a",), [("1",)])
    report.headline = "0.4x"
    assert report.exit_code() == 0
    report.targets.append(_common.Target("small", 1.2, 1.0))
    assert report.exit_code() == 1
    assert "MISS  small: 1.2x (target <= 1x)" in report.text()
    assert _common.Target("nan", math.nan, 1.0).passed is False


def test_photo_like_is_deterministic_uint8_and_compresses_like_a_photo() -> None:
    first = _common.photo_like(96, 64, seed=5)
    assert first.shape == (64, 96, 3) and first.dtype == np.uint8
    assert np.array_equal(first, _common.photo_like(96, 64, seed=5))
    assert not np.array_equal(first, _common.photo_like(96, 64, seed=6))
    ratio = len(_common.png_bytes(first)) / first.nbytes
    assert 0.2 < ratio < 0.95  # neither flat colour nor pure noise


def test_encode_levels_rows_are_plain_levels_and_ours_is_the_real_default() -> None:
    image = bench_encode_levels.photo_like(96, 64, seed=3)
    rows = bench_encode_levels.variants(image)
    assert [label for label in rows if "ours" in label] == ["1 + Z_RLE (ours)"]
    assert rows["1 + Z_RLE (ours)"]() == encode_image(image)  # what the kit really sends
    plain = _common.png_bytes(image, compress_level=1)
    assert rows["1"]() == plain != encode_image(image)  # level 1 without the strategy
    for encode in rows.values():
        assert np.array_equal(decode_image(encode()), image)


def test_psnr() -> None:
    image = _common.photo_like(32, 32, seed=1)
    assert _common.psnr(image, image) == math.inf
    shifted = np.clip(image.astype(int) + 1, 0, 255).astype(np.uint8)
    assert 40 < _common.psnr(image, shifted) <= 48.2


# ----------------------------------------------------------------------------- scripts


def test_sse_parser_benchmark_smallest() -> None:
    payload = bench_sse_parser.base64_payload(0.05)
    chunks = bench_sse_parser.split_chunks(bench_sse_parser.event_body(payload), 1000)
    ours = bench_sse_parser.parse_with_decoder(chunks)
    assert len(ours) == 1 and payload.decode() in ours[0].data
    assert bench_sse_parser.parse_naively(chunks) == [ours[0].data]
    report = bench_sse_parser.run((0.05, 0.2), runs=1, naive_runs=1)
    assert_complete(report)
    assert len(report.tables[0].rows) == 2 * 5  # 2 sizes x (ours, stdlib, copy, pybase64, naive)


def test_upload_benchmark_smallest() -> None:
    image = _common.photo_like(64, 48, seed=2)
    assert np.array_equal(decode_image(bench_upload.default_upload(image)), image)
    report = bench_upload.run(64, 48, runs=1, options=True, references=2, reference_scale=2)
    assert_complete(report)
    labels = [row[0] for row in report.tables[0].rows]
    assert labels[:2] == [bench_upload.OURS, bench_upload.PILLOW]
    assert any("jpeg" in label for label in labels) and any("webp" in label for label in labels)
    assert [row[-1] for row in report.tables[0].rows][:2] == ["lossless", "lossless"]


def test_client_overhead_benchmark_smallest() -> None:
    report = bench_client_overhead.run(("1024x1024",), runs=1, replay=True)
    assert_complete(report)
    assert len(report.targets) == 4  # (offline, replay) x (floor, SDK)
    contenders = {row[2] for row in report.tables[0].rows}
    assert {bench_client_overhead.OURS, bench_client_overhead.FLOOR} <= contenders
    assert bench_client_overhead.SDK in contenders


def test_concurrency_benchmark_smallest() -> None:
    report = bench_concurrency.run(
        requests=4, latency=0.05, concurrency=2, others=(4,), runs=1, sequential=True
    )
    assert_complete(report)
    names = [row[0] for row in report.tables[0].rows]
    assert names == ["max_concurrency=2", "max_concurrency=4", "sequential loop"]


def test_memory_benchmark_smallest() -> None:
    report = bench_memory.run(1, "1024x1024", replay=True, sdk=True)
    assert_complete(report)
    rows = report.tables[0].rows
    assert [row[1] for row in rows] == ["ours", "ours", "openai SDK + decode"]
    assert all(row[4] == _common.fmt_mb(1024 * 1024 * 3) for row in rows)


def test_ratelimit_benchmark_smallest() -> None:
    report = bench_ratelimit.run(rates=((20.0, 6),), runs=1, free_requests=4, free_runs=1)
    assert_complete(report)
    names = [row[0] for row in report.tables[0].rows]
    assert names == list(bench_ratelimit.CONTENDERS)
    assert [row[0] for row in report.tables[1].rows] == names[:2]


def test_run_all_reports_a_script_headline() -> None:
    outcome = run_all.run_script("bench_sse_parser", ["--sizes", "0.05", "0.1", "--runs", "1"])
    assert outcome.returncode in (0, 1)
    assert outcome.headline.startswith("HEADLINE SSE parser: ")
    assert outcome.script in outcome.line()


def test_run_all_rejects_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_all.main(["bench_nope"])
    assert "unknown benchmark" in capsys.readouterr().err
