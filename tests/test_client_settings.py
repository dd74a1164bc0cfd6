"""Client constructor settings: whole numbers are checked before anything is built."""

from __future__ import annotations

import numpy as np
import pytest

from gptimage_widgets import AsyncImageClient, ImageClient, ValidationError


@pytest.mark.parametrize(
    ("name", "value", "wording"),
    [
        ("max_retries", -1, "max_retries must be an integer >= 0, got -1"),
        ("max_retries", 1.5, "max_retries must be an integer >= 0, got 1.5"),
        ("max_retries", True, "max_retries must be an integer >= 0, got True"),
        ("max_response_bytes", 10, "max_response_bytes must be an integer >= 1024 (bytes)"),
    ],
)
def test_bad_whole_number_setting_is_named(name: str, value: object, wording: str) -> None:
    with pytest.raises(ValidationError, match=wording.replace("(", r"\(").replace(")", r"\)")) as e:
        ImageClient(backend="offline", history=False, **{name: value})
    assert e.value.problems[0].param == name


@pytest.mark.parametrize("value", [0, "8", True])
def test_bad_max_concurrency_is_named(value: object) -> None:
    with pytest.raises(ValidationError, match="max_concurrency must be an integer >= 1") as e:
        AsyncImageClient(backend="offline", history=False, max_concurrency=value)  # type: ignore[arg-type]
    assert e.value.problems[0].param == "max_concurrency"


def test_numpy_integers_are_whole_numbers() -> None:
    client = ImageClient(backend="offline", history=False, max_retries=np.int64(3))
    with client:
        assert client.retry_policy.max_retries == 3
        assert type(client.retry_policy.max_retries) is int
