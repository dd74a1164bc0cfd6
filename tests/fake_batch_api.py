"""A small in-memory fake of OpenAI's files + batches endpoints (an httpx.MockTransport handler).

Follows https://platform.openai.com/docs/api-reference/batch: ``POST /v1/files``,
``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``,
``GET /v1/batches``, ``GET /v1/files/{id}/content``. A batch moves one status per retrieve
(validating -> in_progress -> completed) and is processed at creation: generations answer
a small image coloured by the prompt; edits paint the mask's transparent pixels red and
keep every other pixel; a prompt containing ``FAIL`` lands in the error file with a 400
moderation body. :func:`make_client` / :func:`make_async_client` give a client of this package
whose requests all go to a fake.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections import Counter
from typing import Any

import httpx
import numpy as np
from image_helpers import png
from PIL import Image

from gptimage_widgets.client import AsyncImageClient, ImageClient

FAKE_KEY = "sk-" + "test-FAKE-batch-0123456789"


def png_b64(array: np.ndarray) -> str:
    return base64.b64encode(png(array)).decode()


def from_data_url(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def prompt_image(prompt: str, side: int = 8) -> np.ndarray:
    r, g, b = hashlib.sha256(prompt.encode()).digest()[:3]
    return np.full((side, side, 3), (r, g, b), np.uint8)


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body sent in 64 KiB pieces, as a network would (not one big chunk); sync or async."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self):  # type: ignore[no-untyped-def]
        view = memoryview(self.data)
        for start in range(0, len(view), 65536):
            yield bytes(view[start : start + 65536])

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for piece in self:
            yield piece


class FakeBatchAPI:
    def __init__(self, *, steps: int = 2, line_payload: int = 0) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.steps = steps  # retrieves before "completed"
        self.line_payload = line_payload  # extra side of generated images (large outputs)
        self.uploaded_lines: list[list[dict[str, Any]]] = []
        self.list_pages = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        key = f"{request.method} {path}"
        kind = "content" if path.endswith("/content") else f"{request.method} {path.split('/')[1]}"
        self.calls[kind] += 1
        self.calls["total"] += 1
        if key == "POST /files":
            return self._upload(request)
        if key == "POST /batches":
            return self._create(json.loads(request.content))
        if request.method == "GET" and path == "/batches":
            return self._list(request)
        if request.method == "GET" and path.startswith("/batches/"):
            return self._retrieve(path.split("/")[2])
        if key.startswith("POST /batches/") and path.endswith("/cancel"):
            batch = self.batches[path.split("/")[2]]
            batch["status"] = "cancelled"
            return httpx.Response(200, json=batch)
        if request.method == "GET" and path.startswith("/files/") and path.endswith("/content"):
            return httpx.Response(200, stream=Chunks(self.files[path.split("/")[2]]))
        return httpx.Response(404, json={"error": {"message": f"no route {key}"}})

    def _upload(self, request: httpx.Request) -> httpx.Response:
        lines = [
            json.loads(raw.strip())
            for raw in request.content.split(b"\n")
            if raw.strip().startswith(b'{"custom_id"')
        ]
        assert b'name="purpose"' in request.content and b"batch" in request.content
        file_id = f"file-{len(self.files)}"
        self.files[file_id] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        self.uploaded_lines.append(lines)
        return httpx.Response(200, json={"id": file_id, "object": "file", "purpose": "batch"})

    def _create(self, payload: dict[str, Any]) -> httpx.Response:
        lines = [json.loads(t) for t in self.files[payload["input_file_id"]].splitlines()]
        assert all(line["url"] == payload["endpoint"] for line in lines)
        outputs, errors = [], []
        for line in lines:
            body = line["body"]
            if "FAIL" in body.get("prompt", ""):
                errors.append(self._error_line(line))
            else:
                outputs.append(self._output_line(line, body))
        batch_id = f"batch_{len(self.batches)}"
        out_id, err_id = f"file-out-{batch_id}", f"file-err-{batch_id}"
        self.files[out_id] = "".join(json.dumps(o) + "\n" for o in reversed(outputs)).encode()
        self.files[err_id] = "".join(json.dumps(e) + "\n" for e in errors).encode()
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": payload["endpoint"],
            "input_file_id": payload["input_file_id"],
            "completion_window": payload["completion_window"],
            "metadata": payload.get("metadata"),
            "created_at": int(time.time()),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "_final": {
                "output_file_id": out_id if outputs else None,
                "error_file_id": err_id if errors else None,
                "request_counts": {
                    "total": len(lines),
                    "completed": len(outputs),
                    "failed": len(errors),
                },
            },
            "_retrieves": 0,
        }
        self.batches[batch_id] = batch
        return httpx.Response(200, json=self._public(batch))

    def _list(self, request: httpx.Request) -> httpx.Response:
        """OpenAI's cursor page, newest first (``limit`` default 20, ``after``)."""
        newest = [self._public(b) for b in reversed(self.batches.values())]
        limit = int(request.url.params.get("limit", 20))
        after = request.url.params.get("after")
        ids = [b["id"] for b in newest]
        start = ids.index(after) + 1 if after in ids else 0
        page = newest[start : start + limit]
        self.list_pages += 1
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": start + len(page) < len(newest),
            },
        )

    def add_foreign(self, endpoint: str = "/v1/chat/completions") -> str:
        """A batch another tool made (no job metadata; by default not an image endpoint)."""
        batch_id = f"batch_{len(self.batches)}"
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": endpoint,
            "input_file_id": "file-none",
            "completion_window": "24h",
            "metadata": None,
            "created_at": int(time.time()),
            "status": "completed",
            "output_file_id": None,
            "error_file_id": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "_final": {},
            "_retrieves": 0,
        }
        return batch_id

    def _retrieve(self, batch_id: str) -> httpx.Response:
        batch = self.batches[batch_id]
        batch["_retrieves"] += 1
        if batch["status"] not in ("cancelled",):
            if batch["_retrieves"] >= self.steps:
                batch.update(batch["_final"], status="completed")
            else:
                batch["status"] = "in_progress"
        return httpx.Response(200, json=self._public(batch))

    @staticmethod
    def _public(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _output_line(self, line: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if "images" in body:
            image = from_data_url(body["images"][0]["image_url"])[..., :3].copy()
            if "mask" in body:
                alpha = from_data_url(body["mask"]["image_url"])[..., 3]
                image[alpha == 0] = (255, 0, 0)
        else:
            image = prompt_image(body["prompt"], 8 + self.line_payload)
            if self.line_payload:
                rng = np.random.default_rng(len(body["prompt"]))
                image = rng.integers(0, 256, image.shape, dtype=np.uint8)
        answer = {"created": 1, "data": [{"b64_json": png_b64(image)}]}
        return _result_line(line, 200, answer)

    @staticmethod
    def _error_line(line: dict[str, Any]) -> dict[str, Any]:
        body = {
            "error": {
                "message": "Your request was rejected by the safety system.",
                "type": "invalid_request_error",
                "param": None,
                "code": "moderation_blocked",
            }
        }
        return _result_line(line, 400, body)


def _result_line(line: dict[str, Any], status: int, body: dict[str, Any]) -> dict[str, Any]:
    """One line of a batch's output or error file: the answer to input ``line``."""
    return {
        "id": "resp-" + line["custom_id"],
        "custom_id": line["custom_id"],
        "response": {"status_code": status, "request_id": "req-" + line["custom_id"], "body": body},
        "error": None,
    }


def make_client(fake: FakeBatchAPI, history: Any) -> ImageClient:
    """An :class:`ImageClient` whose every request goes to ``fake`` (through MockTransport)."""
    http = httpx.Client(transport=httpx.MockTransport(fake))
    return ImageClient(
        api_key=FAKE_KEY, base_url="https://fake.test/v1", http_client=http, history=history
    )


def make_async_client(fake: FakeBatchAPI, history: Any) -> AsyncImageClient:
    """The :class:`AsyncImageClient` counterpart of :func:`make_client`."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return AsyncImageClient(
        api_key=FAKE_KEY, base_url="https://fake.test/v1", http_client=http, history=history
    )
