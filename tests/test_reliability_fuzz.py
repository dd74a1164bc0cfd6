"""Reliability: bad input, property-tested with hypothesis at CI size.

- validation: arbitrary parameters -> ``check`` returns problems and ``validate`` raises
  exactly when there are some, only ever :class:`ValidationError`; ``build_request`` likewise.
- conversions: ``imaging.to_array`` / ``mask_to_array`` on arbitrary arrays and bytes (random,
  and real PNG/JPEG/WebP/GIF/BMP/TIFF files truncated or bit-flipped) -> a well-formed array
  or :class:`ValidationError`, nothing else.
- the SSE parser: arbitrary streams in arbitrary chunkings -> the decoder never raises and
  the image event stream only raises :class:`StreamError`; both give the same outcome
  whatever the chunk boundaries.
- the offline server's request parsing: arbitrary JSON bodies, multipart garbage and odd
  content types over real HTTP -> never a 5xx or a dropped connection; every 4xx is
  OpenAI's error JSON.

Profiles (``settings.register_profile``): ``reliability-ci`` (default; >= 10,000 cases in
all) and ``reliability-dev`` (a tenth), chosen with ``GIW_RELIABILITY_PROFILE=dev``. The
cases actually run are counted and printed at the end of the module.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import io
import json
import os
import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from gptimage_widgets import catalog, imaging, validation
from gptimage_widgets.errors import Problem, StreamError, ValidationError
from gptimage_widgets.offline import OfflineServer
from gptimage_widgets.request import build_request
from gptimage_widgets.sse import ImageEventStream, SSEDecoder

# --------------------------------------------------------------------------- profiles

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "reliability-ci", max_examples=1500, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
settings.register_profile(
    "reliability-dev", max_examples=150, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
PROFILE_NAME = "reliability-" + os.environ.get("GIW_RELIABILITY_PROFILE", "ci")
PROFILE = settings.get_profile(PROFILE_NAME)
#: Cases the CI profile must run in this module, all tests together.
CI_MINIMUM_CASES = 10_000

CASES: collections.Counter[str] = collections.Counter()
#: Pillow names objects by memory address in its messages; masked before comparing.
ADDRESS = re.compile(r"0x[0-9a-f]{6,}")


def fuzz(weight: float) -> settings:
    """The active profile with ``weight`` x its max_examples for one test."""
    return settings(PROFILE, max_examples=max(10, round(PROFILE.max_examples * weight)))


@pytest.fixture(scope="module", autouse=True)
def report_case_count(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the cases run per test; under the CI profile, check the total when all ran."""
    yield
    total = sum(CASES.values())
    lines = [f"  {name}: {count}" for name, count in sorted(CASES.items())]
    text = "\n".join([f"reliability fuzz ({PROFILE_NAME}): {total} cases run", *lines])
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + text, flush=True)
    fuzz_tests = [
        item for item in request.session.items if getattr(item, "module", None) is request.module
    ]
    if PROFILE_NAME == "reliability-ci" and len(CASES) == len(fuzz_tests):
        assert total >= CI_MINIMUM_CASES, text


# --------------------------------------------------------------------------- strategies

MODEL_NAMES = sorted(
    {m.name for m in catalog.list_models()} | {a for m in catalog.list_models() for a in m.aliases}
)
PARAM_NAMES = sorted({name for m in catalog.list_models() for name in m.params})
PARAM_CHOICES = sorted(
    {
        choice
        for m in catalog.list_models()
        for p in m.params.values()
        for choice in p.choices
        if isinstance(choice, (str, int))
    },
    key=repr,
)
OPERATIONS = ["generate", "edit", "variation"]
RESERVED = {"model", "operation"}


def _tiny_image(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), np.uint8)
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)


def _encoded(fmt: str, mode: str, size: tuple[int, int] = (6, 5)) -> bytes:
    buffer = io.BytesIO()
    _tiny_image(mode, size, seed=len(fmt) + len(mode)).save(buffer, format=fmt)
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose (valid-CRC) header claims a huge size: a decompression bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat_data = zlib.compress(b"\0" * 64)
    idat = b"IDAT" + idat_data
    idat_chunk = struct.pack(">I", len(idat_data)) + idat + struct.pack(">I", zlib.crc32(idat))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat_chunk


VALID_FILES = [
    _encoded("PNG", "RGB"),
    _encoded("PNG", "RGBA"),
    _encoded("PNG", "L"),
    _encoded("JPEG", "RGB"),
    _encoded("WEBP", "RGBA"),
    _encoded("GIF", "RGB"),
    _encoded("BMP", "RGB"),
    _encoded("TIFF", "RGB"),
]


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    """A real image file, truncated, bit-flipped or with random bytes spliced in."""
    data = bytearray(draw(st.sampled_from(VALID_FILES)))
    how = draw(st.sampled_from(["truncate", "flip", "splice", "intact"]))
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if how == "splice":
        position = draw(st.integers(0, len(data)))
        return bytes(data[:position]) + draw(st.binary(max_size=64)) + bytes(data[position:])
    return bytes(data)


byte_inputs = st.one_of(st.binary(max_size=512), damaged_files())

_DTYPES = st.sampled_from(
    ["u1", "u2", "u4", "i1", "i2", "i8", "f2", "f4", "f8", "b1", "c8", "U3", "S2", "M8[s]"]
)


FLOAT_WIDTHS: dict[int, Literal[16, 32, 64]] = {2: 16, 4: 32, 8: 64}


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """Arbitrary small arrays: any dtype (NaN/inf included), 0-5 dims, sides 0-9."""
    dtype = np.dtype(draw(_DTYPES))
    shape = draw(
        st.one_of(
            hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4),
            st.tuples(st.integers(0, 9), st.integers(0, 9), st.sampled_from([1, 2, 3, 4, 5])),
            st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4)),
        )
    )
    if dtype.kind == "f" and draw(st.booleans()):
        elements = st.floats(0, 1, width=FLOAT_WIDTHS[dtype.itemsize])  # the accepted range
    else:
        elements = None
    return draw(hnp.arrays(dtype, shape, elements=elements))


other_inputs = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20).map(lambda s: "no/such/dir/" + s.replace("\0", "")),
    st.lists(st.integers(0, 300), max_size=6),
    st.lists(st.lists(st.floats(0, 1), min_size=3, max_size=3), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(bytearray, st.binary(max_size=64)),
    st.binary(max_size=64).map(lambda data: memoryview(data)),
)

image_inputs = st.one_of(arrays(), byte_inputs, other_inputs)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
param_values = st.one_of(
    st.sampled_from(PARAM_CHOICES),
    json_values,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1024x1024", "256x256", "1536x1024", "2048x1152", "0x0", "16x99999", "auto"]),
    st.binary(max_size=16),
    arrays(),
)
param_dicts = st.dictionaries(
    st.one_of(
        st.sampled_from([*PARAM_NAMES, "prompt", "images", "mask"]),
        st.text(min_size=1, max_size=12).filter(lambda k: k.isidentifier() and k not in RESERVED),
    ),
    st.one_of(param_values, image_inputs),
    max_size=6,
)
models = st.one_of(st.sampled_from(MODEL_NAMES), st.text(max_size=12), st.none(), st.integers())
operations = st.one_of(st.sampled_from(OPERATIONS), st.text(max_size=10), st.none())


# --------------------------------------------------------------------------- validation


@fuzz(2.0)
@given(model=models, operation=operations, params=param_dicts)
def test_validation_only_raises_validation_error(model: Any, operation: Any, params: dict) -> None:
    CASES["validation.check/validate"] += 1
    problems = validation.check(model, operation, **params)
    assert isinstance(problems, list)
    assert all(isinstance(p, Problem) and p.message and isinstance(p.param, str) for p in problems)
    if problems:
        with pytest.raises(ValidationError) as caught:
            validation.validate(model, operation, **params)
        raised = [ADDRESS.sub("0x?", p.message) for p in caught.value.problems]
        assert raised == [ADDRESS.sub("0x?", p.message) for p in problems]
    else:
        validation.validate(model, operation, **params)


@fuzz(0.7)
@given(model=models, operation=operations, params=param_dicts)
def test_build_request_only_raises_validation_error(
    model: Any, operation: Any, params: dict
) -> None:
    CASES["request.build_request"] += 1
    try:
        built = build_request(model, operation, **params)
    except ValidationError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        return
    assert built.operation in OPERATIONS
    assert (built.json is None) != (built.data is None)


# --------------------------------------------------------------------------- conversions


def _check_image_outcome(x: Any) -> None:
    try:
        image = imaging.to_array(x)
    except ValidationError as exc:
        assert str(exc)
        return
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) >= 1


def _check_mask_outcome(x: Any) -> None:
    try:
        mask = imaging.mask_to_array(x)
    except ValidationError as exc:
        assert str(exc)
        return
    assert isinstance(mask, np.ndarray) and mask.dtype == np.bool_
    assert mask.ndim == 2 and min(mask.shape) >= 1


@fuzz(1.0)
@given(x=st.one_of(arrays(), other_inputs))
def test_to_array_on_arbitrary_arrays(x: Any) -> None:
    CASES["imaging.to_array(arrays)"] += 1
    _check_image_outcome(x)


@fuzz(0.7)
@given(data=byte_inputs)
@example(data=_png_claiming(200_000, 200_000))
@example(data=_png_claiming(0, 0))
def test_to_array_on_arbitrary_bytes(data: bytes) -> None:
    CASES["imaging.to_array(bytes)"] += 1
    _check_image_outcome(data)


@fuzz(0.7)
@given(x=st.one_of(arrays(), other_inputs))
def test_mask_to_array_on_arbitrary_arrays(x: Any) -> None:
    CASES["imaging.mask_to_array(arrays)"] += 1
    _check_mask_outcome(x)


@fuzz(0.5)
@given(data=byte_inputs)
@example(data=_png_claiming(200_000, 200_000))
def test_mask_to_array_on_arbitrary_bytes(data: bytes) -> None:
    CASES["imaging.mask_to_array(bytes)"] += 1
    _check_mask_outcome(data)


# --------------------------------------------------------------------------- SSE

TINY_B64 = base64.b64encode(_encoded("PNG", "RGB", (3, 2))).decode()
EVENT_TYPES = [
    "image_generation.partial_image",
    "image_generation.completed",
    "image_edit.partial_image",
    "image_edit.completed",
    "error",
    "response.unknown",
]


@st.composite
def event_payloads(draw: st.DrawFn) -> bytes:
    """A ``data:`` value: a plausible event, broken JSON, [DONE] or anything."""
    kind = draw(st.sampled_from(["event", "event", "event", "done", "text", "json"]))
    if kind == "done":
        return b"[DONE]"
    if kind == "text":
        return draw(st.binary(max_size=40)).replace(b"\r", b"").replace(b"\n", b"")
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    payload: dict[str, Any] = {"type": draw(st.sampled_from(EVENT_TYPES))}
    b64 = draw(st.sampled_from([TINY_B64, TINY_B64, "", "!!not-base64", TINY_B64[:20]]))
    if draw(st.booleans()) or b64 == TINY_B64:
        payload["b64_json"] = b64
    if draw(st.booleans()):
        payload["partial_image_index"] = draw(st.one_of(st.integers(0, 3), st.text(max_size=2)))
    if draw(st.booleans()):
        payload["usage"] = {"total_tokens": draw(st.integers(0, 999))}
    if payload["type"] == "error":
        payload["error"] = {"message": draw(st.text(max_size=20)), "code": None}
    text = json.dumps(payload).encode()
    if draw(st.integers(0, 9)) == 0:  # cut short
        text = text[: draw(st.integers(0, len(text)))]
    return text


@st.composite
def sse_lines(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(["data", "data", "data", "event", "id", "retry", "comment", "blank", "raw"])
    )
    if kind == "data":
        return b"data:" + draw(st.sampled_from([b" ", b""])) + draw(event_payloads())
    if kind == "event":
        return b"event: " + draw(st.sampled_from([t.encode() for t in EVENT_TYPES]))
    if kind == "id":
        return b"id: " + draw(st.binary(max_size=6)).replace(b"\r", b"").replace(b"\n", b"")
    if kind == "retry":
        return b"retry: " + draw(st.sampled_from([b"1000", b"x", b""]))
    if kind == "comment":
        return b": keep-alive"
    if kind == "blank":
        return b""
    return draw(st.binary(max_size=24))  # anything, line breaks included


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A stream of SSE lines with mixed line endings, and one way to chunk it."""
    lines = draw(st.lists(sse_lines(), max_size=14))
    body = b"".join(
        line + draw(st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n", b"\r\n\r\n"]))
        for line in lines
    )
    if draw(st.booleans()):
        body = body.rstrip(b"\r\n")  # a server that closes without the final blank line
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    return body, chunks


def _decoded_messages(chunks: list[bytes]) -> list[Any]:
    decoder = SSEDecoder()
    messages = [m for chunk in chunks for m in decoder.feed(chunk)]
    return messages + decoder.flush()


def _event_outcome(chunks: list[bytes]) -> tuple[list[tuple[Any, ...]], str | None]:
    """Events handed out before the stream ended or failed, and the failure (if any)."""
    stream = ImageEventStream("generate")
    events: list[Any] = []
    try:
        for chunk in chunks:
            events += stream.feed(chunk)
        events += stream.finish()
        failure = None
    except StreamError as exc:
        failure = f"{type(exc).__name__}: {ADDRESS.sub('0x?', str(exc))}"
    summary = [
        (
            e.type,
            e.index,
            e.usage,
            json.dumps(e.raw, sort_keys=True),
            None if e.image is None else hashlib.sha256(e.image.tobytes()).hexdigest(),
        )
        for e in events
    ]
    return summary, failure


@fuzz(1.0)
@given(stream=sse_streams())
@example(stream=(b"data: a\r\n\r\n", [b"data: a\r", b"\n\r", b"\n"]))
@example(stream=(b"data: \xc3\xa9\n\n", [b"data: \xc3", b"\xa9\n\n"]))
def test_sse_decoder_is_chunking_invariant(stream: tuple[bytes, list[bytes]]) -> None:
    CASES["sse.SSEDecoder"] += 1
    body, chunks = stream
    assert _decoded_messages(chunks) == _decoded_messages([body])
    assert _decoded_messages(chunks) == _decoded_messages(
        [body[i : i + 1] for i in range(len(body))]
    )


GOOD_THEN_MALFORMED = (
    b"data: "
    + json.dumps({"type": "image_generation.partial_image", "b64_json": TINY_B64}).encode()
    + b"\n\ndata: {\n\n"
)


@fuzz(0.8)
@given(stream=sse_streams())
@example(stream=(GOOD_THEN_MALFORMED, [GOOD_THEN_MALFORMED]))
def test_image_event_stream_only_raises_stream_error(stream: tuple[bytes, list[bytes]]) -> None:
    """Same events and the same failure whatever the chunking.

    When a chunk holds good events and then a malformed one, ``feed`` returns the good
    events and raises on the next call, so on failure too the events handed out equal
    those handed out byte by byte (the finest chunking).
    """
    CASES["sse.ImageEventStream"] += 1
    body, chunks = stream
    events, failure = _event_outcome(chunks)
    finest_events, finest_failure = _event_outcome([body[i : i + 1] for i in range(len(body))])
    assert failure == finest_failure
    assert events == finest_events


# --------------------------------------------------------------------------- server parsing

ROUTES = ["/images/generations", "/images/edits", "/images/variations"]


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[OfflineServer]:
    """A server of its own: garbage stays out of the shared server's request log."""
    with OfflineServer() as server:
        yield server


@pytest.fixture(scope="module")
def http(fuzz_server: OfflineServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_server.base_url, timeout=60) as client:
        yield client


def _assert_openai_shaped(response: httpx.Response) -> None:
    """Never 5xx; a 4xx carries ``{"error": {"message", "type", "param", "code"}}``."""
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str) and error["type"]
        assert "param" in error and "code" in error
    else:
        assert response.status_code == 200
        assert response.json()["data"]


def _cheap(body: Any) -> Any:
    """Keep valid requests cheap to render: dall-e-2 at 256x256 when a size is valid."""
    if isinstance(body, dict) and body.get("model") in MODEL_NAMES and "size" not in body:
        body["size"] = "256x256"
    return body


json_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"prompt": st.one_of(st.text(max_size=30), json_values)},
        optional={"model": st.one_of(st.sampled_from(MODEL_NAMES), json_values)},
    ).flatmap(
        lambda base: st.dictionaries(
            st.one_of(
                st.sampled_from([*PARAM_NAMES, "images", "mask", "stream"]), st.text(max_size=8)
            ),
            st.one_of(st.sampled_from(PARAM_CHOICES), json_values),
            max_size=4,
        ).map(lambda extra: {**base, **extra})
    ),
)


@fuzz(0.4)
@given(route=st.sampled_from(ROUTES), body=json_bodies, raw=st.none() | st.binary(max_size=64))
def test_server_answers_arbitrary_json_with_openai_errors(
    http: httpx.Client, route: str, body: Any, raw: bytes | None
) -> None:
    CASES["offline server: JSON bodies"] += 1
    content = raw if raw is not None else json.dumps(_cheap(body)).encode()
    response = http.post(route, content=content, headers={"content-type": "application/json"})
    _assert_openai_shaped(response)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A content type and a multipart body: well-formed parts, garbage, or a mix."""
    boundary = draw(st.sampled_from(["b0und4ry", "x", "", "a b", "--", "é"]))
    content_type = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                f'multipart/form-data; boundary="{boundary}"',
                "multipart/form-data",
                "multipart/form-data; boundary=",
                "multipart/mixed; boundary=x",
                "text/plain",
                "",
                "application/x-www-form-urlencoded",
            ]
        )
    )
    delimiter = b"--" + boundary.encode("utf-8")
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(
            st.sampled_from(
                ["image", "image[]", "mask", "prompt", "model", "n", "size", "", 'we"ird', "x" * 40]
            )
        )
        headers = [f'Content-Disposition: form-data; name="{name}"'.encode()]
        if draw(st.booleans()):
            headers[0] += (
                b'; filename="' + draw(st.sampled_from([b"a.png", b"", b"\xff.png"])) + b'"'
            )
            headers.append(
                b"Content-Type: "
                + draw(
                    st.sampled_from(
                        [b"image/png", b"image/jpeg", b"image/webp", b"text/plain", b""]
                    )
                )
            )
        if draw(st.integers(0, 5)) == 0:
            headers = [draw(st.binary(max_size=30))]
        content = draw(
            st.one_of(
                st.sampled_from(VALID_FILES),
                damaged_files(),
                st.binary(max_size=40),
                st.sampled_from([b"dall-e-2", b"2", b"256x256", b"a cat"]),
            )
        )
        parts.append(delimiter + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + content + b"\r\n")
    body = b"".join(parts) + draw(st.sampled_from([delimiter + b"--\r\n", b"", delimiter]))
    if draw(st.integers(0, 4)) == 0:
        body = draw(st.binary(max_size=200))
    elif draw(st.integers(0, 4)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    return content_type, body


@fuzz(0.3)
@given(route=st.sampled_from(ROUTES[1:]), form=multipart_bodies())
def test_server_answers_multipart_garbage_with_openai_errors(
    http: httpx.Client, route: str, form: tuple[str, bytes]
) -> None:
    CASES["offline server: multipart bodies"] += 1
    content_type, body = form
    headers = [(b"content-type", content_type.encode())] if content_type else []
    response = http.post(route, content=body, headers=headers)
    _assert_openai_shaped(response)
