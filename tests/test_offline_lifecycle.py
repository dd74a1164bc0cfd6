"""The offline server's lifecycle modes: ``"lenient"`` serves every model, ``"openai"`` answers
models shut down at OpenAI (on the catalog's today) with OpenAI's 404 ``model_not_found``.

The official SDK's view of the same: ``tests/test_openai_sdk_compat.py``."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_serve import gptimage_serve

from gptimage_widgets import catalog
from gptimage_widgets.catalog import lifecycle as catalog_lifecycle
from gptimage_widgets.cli import build_parser
from gptimage_widgets.client import ImageClient
from gptimage_widgets.errors import ModelNotFoundError, NotFoundError
from gptimage_widgets.offline import OfflineServer
from gptimage_widgets.offline.lifecycle import LIFECYCLES

AFTER_SHUTDOWN = datetime.date(2026, 12, 2)  # gpt-image-1.5 shut down at OpenAI on 2026-12-01
BEFORE_SHUTDOWN = datetime.date(2026, 11, 30)
OPENAI_404 = {
    "message": "The model `gpt-image-1.5` does not exist or you do not have access to it.",
    "type": "invalid_request_error",
    "param": None,
    "code": "model_not_found",
}


def on_day(monkeypatch: pytest.MonkeyPatch, day: datetime.date) -> None:
    """The catalog's today (read per request by the server, which runs in this process)."""
    monkeypatch.setattr(catalog_lifecycle, "today", lambda: day)


@pytest.fixture
def strict(make_offline_server: Callable[..., OfflineServer]) -> OfflineServer:
    return make_offline_server(lifecycle="openai")


@pytest.fixture
def strict_api(strict: OfflineServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=strict.base_url, timeout=30) as client:
        yield client


def generate(api: httpx.Client, model: str, **body: Any) -> httpx.Response:
    return api.post("/images/generations", json={"model": model, "prompt": "a fox", **body})


# --------------------------------------------------------------------------- the argument


def test_default_is_lenient_and_unknown_modes_are_a_clear_value_error() -> None:
    assert OfflineServer().app.lifecycle == "lenient"
    with pytest.raises(ValueError, match="'azure-ish'") as error:
        OfflineServer(lifecycle="azure-ish")
    assert "'lenient'" in str(error.value) and "'openai'" in str(error.value)
    with pytest.raises(ValueError, match="lifecycle=None"):
        OfflineServer(lifecycle=None)  # type: ignore[arg-type]


def test_strict_mode_shows_in_the_repr(strict: OfflineServer) -> None:
    assert "lifecycle='openai'" in repr(strict)
    assert "lifecycle" not in repr(OfflineServer())


# --------------------------------------------------------------------------- images


def test_strict_server_answers_a_shut_down_model_with_openais_404(
    strict_api: httpx.Client, strict: OfflineServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_day(monkeypatch, AFTER_SHUTDOWN)
    response = generate(strict_api, "gpt-image-1.5")
    assert response.status_code == 404
    assert response.json() == {"error": OPENAI_404}
    assert response.headers["x-request-id"].startswith("req_offline_")
    record = strict.requests[-1]
    assert (record.status, record.request_id) == (404, response.headers["x-request-id"])


def test_strict_server_refuses_edits_aliases_and_streams_of_shut_down_models(
    strict_api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_day(monkeypatch, AFTER_SHUTDOWN)
    alias = generate(strict_api, "gpt-image-1.5-2025-12-16", stream=True)
    assert alias.status_code == 404
    assert alias.json()["error"]["message"].startswith("The model `gpt-image-1.5-2025-12-16`")
    edit = strict_api.post(
        "/images/edits",
        data={"model": "gpt-image-1-mini", "prompt": "x"},
        files={"image": ("a.png", b"not checked first", "image/png")},
    )
    assert edit.status_code == 404 and edit.json()["error"]["code"] == "model_not_found"
    assert generate(strict_api, "dall-e-3").status_code == 404  # shut down 2026-05-12


def test_strict_server_serves_the_model_before_its_shutdown_and_current_models(
    strict_api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_day(monkeypatch, BEFORE_SHUTDOWN)
    assert generate(strict_api, "gpt-image-1.5", quality="low").status_code == 200
    on_day(monkeypatch, AFTER_SHUTDOWN)
    for model in ("gpt-image-2", "gpt-image-2.6-flare"):
        assert generate(strict_api, model, quality="low").status_code == 200


def test_lenient_server_serves_every_model(
    offline_server: OfflineServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_day(monkeypatch, AFTER_SHUTDOWN)
    with httpx.Client(base_url=offline_server.base_url, timeout=30) as api:
        assert generate(api, "gpt-image-1.5", quality="low").status_code == 200
        assert generate(api, "dall-e-3").status_code == 200
        listed = {m["id"] for m in api.get("/models").json()["data"]}
    assert {"gpt-image-1.5", "dall-e-2"} <= listed


def test_a_strict_404_comes_before_validation(
    strict_api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_day(monkeypatch, AFTER_SHUTDOWN)
    response = generate(strict_api, "gpt-image-1.5", quality="ultra")
    assert response.status_code == 404


# --------------------------------------------------------------------------- models


def test_strict_model_list_omits_shut_down_models_and_keeps_dates(
    strict_api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_day(monkeypatch, BEFORE_SHUTDOWN)
    before = {m["id"]: m for m in strict_api.get("/models").json()["data"]}
    assert before["gpt-image-1.5"]["shutdown_date"] == "2026-12-01"
    assert "dall-e-2" not in before and "gpt-image-1" not in before
    on_day(monkeypatch, AFTER_SHUTDOWN)
    after = {m["id"]: m for m in strict_api.get("/models").json()["data"]}
    assert not {"gpt-image-1.5", "gpt-image-1.5-2025-12-16", "gpt-image-1-mini"} & set(after)
    assert {"gpt-image-2", "gpt-image-2.6-flare", "gpt-image-2.6-sunburst"} <= set(after)
    served = [s for s in catalog.list_models() if catalog.retirement_problem(s, "openai") is None]
    assert {s.name for s in served} <= set(after)
    assert all("shutdown_date" in m for m in after.values())
    one = strict_api.get("/models/gpt-image-1.5")
    assert (one.status_code, one.json()["error"]) == (404, OPENAI_404)
    assert strict_api.get("/models/gpt-image-2").status_code == 200


# --------------------------------------------------------------------------- clients


def test_the_kits_client_gets_a_model_not_found_error_with_the_request_id(
    strict: OfflineServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_day(monkeypatch, AFTER_SHUTDOWN)
    with (
        ImageClient(base_url=strict.base_url, history=False) as client,
        pytest.raises(ModelNotFoundError) as missing,
    ):
        client.generate("a fox", model="gpt-image-1.5")
    assert isinstance(missing.value, NotFoundError)
    assert missing.value.code == "model_not_found"
    assert missing.value.request_id == strict.requests[-1].request_id
    message = str(missing.value)
    assert "gpt-image-1.5" in message
    assert "gpt-image-2.6-flare" in message  # the replacement, from the catalog


# --------------------------------------------------------------------------- CLI


def test_cli_lifecycle_choices_are_the_servers() -> None:
    parser = build_parser()
    for mode in LIFECYCLES:
        assert parser.parse_args(["serve", "--lifecycle", mode]).lifecycle == mode
    assert parser.parse_args(["serve"]).lifecycle == "lenient"
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--lifecycle", "sometimes"])


def test_serve_lifecycle_openai_refuses_models_shut_down_today(tmp_path: Path) -> None:
    with gptimage_serve("--lifecycle", "openai", cwd=tmp_path) as base_url:
        listed = {m["id"] for m in httpx.get(f"{base_url}/models", timeout=10).json()["data"]}
        for spec in catalog.list_models():  # the subprocess runs on the real date, as we do
            retired = catalog.retirement_problem(spec, "openai") is not None
            assert (spec.name not in listed) == retired, spec.name
        dalle2 = httpx.post(  # shut down at OpenAI on 2026-05-12
            f"{base_url}/images/generations", json={"model": "dall-e-2", "prompt": "x"}, timeout=10
        )
        assert dalle2.status_code == 404 and dalle2.json()["error"]["code"] == "model_not_found"
