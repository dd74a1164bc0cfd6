"""Cost estimates and actual costs against OpenAI's list prices
(https://openai.com/api/pricing/)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptimage_widgets import ValidationError
from gptimage_widgets.catalog import get_model
from gptimage_widgets.pricing import (
    PARTIAL_IMAGE_TOKENS,
    REFERENCE_IMAGE_TOKENS,
    REFERENCE_IMAGE_TOKENS_LOW,
    CostEstimate,
    cost_from_usage,
    estimate_cost,
)

# OpenAI list prices: per image at 1024x1024, low / medium / high.
PER_IMAGE_1024 = {
    "gpt-image-2": (0.006, 0.053, 0.211),
    "gpt-image-1.5": (0.009, 0.034, 0.133),
    "gpt-image-1": (0.011, 0.042, 0.167),
    "gpt-image-1-mini": (0.005, 0.011, 0.036),
}
# OpenAI's image guide: output tokens before gpt-image-2, and image-out USD per 1M tokens.
OUTPUT_TOKENS = {
    "1024x1536": {"low": 408, "medium": 1584, "high": 6240},
    "1536x1024": {"low": 400, "medium": 1568, "high": 6208},
}
IMAGE_OUT_RATE = {"gpt-image-1.5": 32, "gpt-image-1": 40, "gpt-image-1-mini": 8}
# OpenAI list prices: per 1M tokens, text in / image in / image out (/ text out).
RATES: dict[str, tuple[Fraction, Fraction, Fraction, Fraction | None]] = {
    "gpt-image-2": (Fraction(5), Fraction(8), Fraction(30), None),
    "gpt-image-1.5": (Fraction(5), Fraction(8), Fraction(32), Fraction(10)),
    "gpt-image-1": (Fraction(5), Fraction(10), Fraction(40), None),
    "gpt-image-1-mini": (Fraction(2), Fraction(5, 2), Fraction(8), None),
}


def usd(tokens: int, rate: float | Fraction) -> Fraction:
    return Fraction(tokens) * Fraction(rate) / 1_000_000


@pytest.mark.parametrize("model", sorted(PER_IMAGE_1024))
@pytest.mark.parametrize("index, quality", list(enumerate(["low", "medium", "high"])))
def test_list_price_per_image_at_1024(model: str, index: int, quality: str) -> None:
    est = estimate_cost(model, size="1024x1024", quality=quality)
    assert est is not None
    assert est.usd == est.low_usd == est.high_usd == PER_IMAGE_1024[model][index]
    assert "list price" in est.basis and "2026-11-01" in est.basis


def test_gpt_image_2_high_square_is_about_21_cents() -> None:
    est = estimate_cost("gpt-image-2", size="1024x1024", quality="high")
    assert est is not None and est.usd == pytest.approx(0.211)


def test_gpt_image_1_portrait_high_from_output_tokens() -> None:
    est = estimate_cost("gpt-image-1", size="1024x1536", quality="high")
    assert est is not None
    assert est.usd == 0.2496  # 6240 tokens x $40 / 1M
    assert "output tokens" in est.basis


@pytest.mark.parametrize("model", sorted(IMAGE_OUT_RATE))
@pytest.mark.parametrize("size", sorted(OUTPUT_TOKENS))
@pytest.mark.parametrize("quality", ["low", "medium", "high"])
def test_output_token_tables_reproduced(model: str, size: str, quality: str) -> None:
    est = estimate_cost(model, size=size, quality=quality)
    assert est is not None
    assert est.usd == float(usd(OUTPUT_TOKENS[size][quality], IMAGE_OUT_RATE[model]))


@pytest.mark.parametrize(
    "model, quality, size, price",
    [
        ("dall-e-3", "standard", "1024x1024", 0.04),
        ("dall-e-3", "standard", "1792x1024", 0.08),
        ("dall-e-3", "standard", "1024x1792", 0.08),
        ("dall-e-3", "hd", "1024x1024", 0.08),
        ("dall-e-3", "hd", "1792x1024", 0.12),
        ("dall-e-3", "hd", "1024x1792", 0.12),
        ("dall-e-2", "standard", "256x256", 0.016),
        ("dall-e-2", "standard", "512x512", 0.018),
        ("dall-e-2", "standard", "1024x1024", 0.020),
    ],
)
def test_dalle_prices_exact(model: str, quality: str, size: str, price: float) -> None:
    est = estimate_cost(model, size=size, quality=quality, prompt="a long prompt " * 20)
    assert est is not None
    assert (est.usd, est.low_usd, est.high_usd) == (price, price, price)


def test_dalle_price_times_n_is_exact() -> None:
    est = estimate_cost("dall-e-2", "variation", size="1024x1024", n=3)
    assert est is not None and est.usd == 0.06


def test_dalle_defaults_come_from_the_catalog() -> None:
    est = estimate_cost("dall-e-3")  # default standard 1024x1024
    assert est is not None and est.usd == 0.04


def test_unlisted_size_scaled_by_pixel_count_and_says_so() -> None:
    est = estimate_cost("gpt-image-2", size="2048x2048", quality="high")
    assert est is not None
    assert est.usd == pytest.approx(0.211 * 4)
    assert "scaled by pixel count" in est.basis
    wide = estimate_cost("gpt-image-2", size="3840x2160", quality="low")
    assert wide is not None and wide.usd == pytest.approx(0.006 * 3840 * 2160 / 1024**2)


def test_quality_auto_is_a_range_with_medium_as_point() -> None:
    est = estimate_cost("gpt-image-2", size="1024x1024", quality="auto")
    assert est is not None
    assert (est.low_usd, est.usd, est.high_usd) == (0.006, 0.053, 0.211)
    assert "auto" in est.basis
    default = estimate_cost("gpt-image-2", size="1024x1024")  # catalog default is auto
    assert default == est


def test_size_auto_priced_as_square_and_says_so() -> None:
    est = estimate_cost("gpt-image-2", size="auto", quality="medium")
    assert est is not None and est.usd == 0.053 and "size auto" in est.basis


def test_prompt_text_tokens_added_at_text_rate() -> None:
    est = estimate_cost("gpt-image-2", size="1024x1024", quality="low", prompt="x" * 400)
    assert est is not None
    assert est.usd == float(Fraction("0.006") + usd(100, 5))


def test_reference_images_add_image_input_tokens() -> None:
    est = estimate_cost("gpt-image-1", "edit", size="1024x1024", quality="low", reference_images=2)
    assert est is not None
    assert est.usd == float(Fraction("0.011") + usd(2 * REFERENCE_IMAGE_TOKENS, 10))
    assert est.low_usd == float(Fraction("0.011") + usd(2 * REFERENCE_IMAGE_TOKENS_LOW, 10))
    assert "reference images" in est.basis


def test_partial_images_add_100_output_tokens_each_per_image() -> None:
    est = estimate_cost("gpt-image-2", size="1024x1024", quality="high", n=2, partial_images=3)
    assert est is not None
    per_image = Fraction("0.211") + usd(3 * PARTIAL_IMAGE_TOKENS, 30)
    assert est.usd == float(2 * per_image)
    assert PARTIAL_IMAGE_TOKENS == 100


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 10), chars=st.integers(0, 4000), refs=st.integers(0, 16))
def test_estimate_grows_with_n_prompt_and_references(n: int, chars: int, refs: int) -> None:
    base = estimate_cost("gpt-image-1.5", size="1536x1024", quality="medium")
    est = estimate_cost(
        "gpt-image-1.5",
        "edit",
        size="1536x1024",
        quality="medium",
        n=n,
        prompt="p" * chars,
        reference_images=refs,
    )
    assert base is not None and est is not None
    expected = (
        n * Fraction(str(base.usd)) + usd(-(-chars // 4), 5) + usd(refs * REFERENCE_IMAGE_TOKENS, 8)
    )
    assert est.usd == float(expected)
    assert est.low_usd <= est.usd <= est.high_usd


def test_no_price_data_gives_none() -> None:
    assert get_model("gpt-image-2.5-flare").pricing is None
    assert estimate_cost("gpt-image-2.5-flare", size="1024x1024", quality="high") is None
    assert (
        cost_from_usage("gpt-image-2.5-sunburst", {"input_tokens": 1, "output_tokens": 1}) is None
    )


def test_quality_without_prices_gives_none() -> None:
    assert estimate_cost("gpt-image-2", size="1024x1024", quality="ultra") is None


@pytest.mark.parametrize("bad", [{"n": 0}, {"n": 1.5}, {"reference_images": -1}, {"n": True}])
def test_bad_counts_raise_validation_error(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        estimate_cost("gpt-image-2", **bad)  # type: ignore[arg-type]
    name = next(iter(bad))
    assert name in str(info.value) and "integer" in str(info.value)


def test_unknown_model_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        estimate_cost("gpt-image-99")


def test_estimate_str_shows_range() -> None:
    est = CostEstimate(usd=0.053, low_usd=0.006, high_usd=0.211, basis="x")
    assert str(est) == "~$0.053 ($0.006–$0.211)"


# ---------------------------------------------------------------------- cost_from_usage


@pytest.mark.parametrize("model", sorted(RATES))
def test_usage_arithmetic_exact(model: str) -> None:
    text_rate, image_in_rate, image_out_rate, _ = RATES[model]
    usage = {
        "input_tokens": 1250,
        "input_tokens_details": {"text_tokens": 50, "image_tokens": 1200},
        "output_tokens": 4160,
        "total_tokens": 5410,
    }
    expected = usd(50, text_rate) + usd(1200, image_in_rate) + usd(4160, image_out_rate)
    assert cost_from_usage(model, usage) == float(expected)


def test_text_output_tokens_at_text_output_rate_when_given() -> None:
    usage = {
        "input_tokens": 20,
        "input_tokens_details": {"text_tokens": 20, "image_tokens": 0},
        "output_tokens": 1100,
        "output_tokens_details": {"text_tokens": 44, "image_tokens": 1056},
        "total_tokens": 1120,
    }
    expected = usd(20, 5) + usd(44, 10) + usd(1056, 32)
    assert cost_from_usage("gpt-image-1.5", usage) == float(expected)
    # gpt-image-2 has no text-output rate: all output tokens at the image-out rate.
    assert cost_from_usage("gpt-image-2", usage) == float(usd(20, 5) + usd(1100, 30))


def test_usage_without_details_counts_input_as_text() -> None:
    usage = {"input_tokens": 100, "output_tokens": 272, "total_tokens": 372}
    assert cost_from_usage("gpt-image-1", usage) == float(usd(100, 5) + usd(272, 40))


def test_usage_matches_list_price_for_gpt_image_1_high_square() -> None:
    cost = cost_from_usage("gpt-image-1", {"input_tokens": 0, "output_tokens": 4160})
    assert cost == pytest.approx(0.167, abs=0.001)


def test_usage_for_dalle_or_missing_usage_is_none() -> None:
    assert cost_from_usage("dall-e-3", {"input_tokens": 10, "output_tokens": 10}) is None
    assert cost_from_usage("gpt-image-2", None) is None


@pytest.mark.parametrize(
    "usage",
    [
        {"input_tokens": -1, "output_tokens": 10},
        {"input_tokens": "12", "output_tokens": 10},
        {"input_tokens": 10, "input_tokens_details": {"text_tokens": 1.5}, "output_tokens": 1},
    ],
)
def test_bad_usage_raises_validation_error(usage: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="token count"):
        cost_from_usage("gpt-image-2", usage)


def test_non_mapping_usage_raises_validation_error() -> None:
    with pytest.raises(ValidationError, match="mapping"):
        cost_from_usage("gpt-image-2", [1, 2, 3])  # type: ignore[arg-type]


@pytest.mark.parametrize("size", ["2048x1²", "１０２４x1024", "1024X1024x", "x", ""])
def test_odd_size_strings_never_crash_the_estimate(size: str) -> None:
    """Sizes go through validation.parse_size: junk gives an estimate or None, no ValueError."""
    estimate = estimate_cost("gpt-image-2", size=size, quality="low")
    assert estimate is None or estimate.usd >= 0
