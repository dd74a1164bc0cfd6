"""Real OpenAI API tests: they cost money, so they need a key AND an explicit opt-in.

Run with ``OPENAI_API_KEY=... GIW_LIVE_TESTS=1 pytest -m live``. Without both they skip, so a
developer who merely has a key in the environment never pays for a test run by accident.
Each test uses the cheapest settings (quality "low", 1024x1024, n=1).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import gptimage_widgets as giw

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (os.environ.get("OPENAI_API_KEY") and os.environ.get("GIW_LIVE_TESTS") == "1"),
        reason="real-API test: set OPENAI_API_KEY and GIW_LIVE_TESTS=1 to run (costs money)",
    ),
]


@pytest.fixture
def client(tmp_path):
    with giw.ImageClient(backend="openai", history=tmp_path) as live:
        yield live


def test_generate_low_quality(client) -> None:
    result = client.generate("a small red cube on a white table", quality="low", size="1024x1024")
    assert client.backend != "offline"  # "openai", or "compatible" under OPENAI_BASE_URL
    assert result.images[0].dtype == np.uint8 and result.images[0].shape[:2] == (1024, 1024)
    assert (
        result.request_id and result.usage and result.cost_usd is not None and result.cost_usd > 0
    )
    assert result.paths and all(path.exists() for path in result.paths)


def test_edit_with_mask_keeps_the_request_shape(client) -> None:
    image = np.full((1024, 1024, 3), 240, np.uint8)
    mask = np.zeros((1024, 1024), bool)
    mask[384:640, 384:640] = True
    result = client.edit("a blue circle", image, mask=mask, quality="low", size="1024x1024")
    assert result.images[0].shape[:2] == (1024, 1024)
    assert result.request_id


def test_models_endpoint_refreshes_lifecycle(client) -> None:
    client.refresh_model_status()
    assert giw.get_model("gpt-image-2").name == "gpt-image-2"
