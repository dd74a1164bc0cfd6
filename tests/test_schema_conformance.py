"""Every body the client sends validates against OpenAI's images schema and holds nothing the
model must not receive.

Bodies are captured from the real client through ``httpx.MockTransport`` (multipart bodies
parsed back into fields), for a matrix of every catalog model x operation x parameter sets
derived from the catalog. The schema is OpenAI's (tests/data/openai-images-openapi.json) with
three changes, all commented below: unknown properties are forbidden (stricter than OpenAI),
one enum that lags the newest models is relaxed, and the documented extensions of models newer
than the spec (:data:`EXTENSIONS`: ``complexity``) are added.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import pathlib
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest

from gptimage_widgets import catalog, validation
from gptimage_widgets.catalog import ModelSpec
from gptimage_widgets.client import ImageClient

SCHEMA_PATH = pathlib.Path(__file__).parent / "data" / "openai-images-openapi.json"
REQUEST_SCHEMAS = {
    "generate": "CreateImageRequest",
    "edit": "CreateImageEditRequest",
    "variation": "CreateImageVariationRequest",
}
ALWAYS_ALLOWED = {"model", "prompt", "image", "mask", "stream"}
# Properties newer than the Aug-2026 spec, as documented for the models that take them:
# complexity (planning depth) of the gpt-image-2.6 models, from OpenAI's API reference as
# mirrored 2026-11-11 and ComfyUI's OpenAIGPTImageNodeV3 docs. Only generations and edits.
EXTENSIONS: dict[str, dict[str, Any]] = {
    "complexity": {"type": "string", "enum": ["low", "medium", "high"], "default": "high"},
}
EXTENSION_TAKERS = {"complexity": {"gpt-image-2.6-flare", "gpt-image-2.6-sunburst"}}


def _load_document() -> dict[str, Any]:
    document = json.loads(SCHEMA_PATH.read_text())
    schemas = document["components"]["schemas"]
    for name in REQUEST_SCHEMAS.values():
        # Stricter than OpenAI: a property the schema does not list is an error here, so a
        # typo or a client-only option (upload_format, seed) leaking onto the wire fails.
        schemas[name]["additionalProperties"] = False
    for name in ("CreateImageRequest", "CreateImageEditRequest"):
        # The Aug-2026 spec lists quality up to "high"/"auto"; the gpt-image-2.5 models take
        # "xhigh" and "max" (ComfyUI's node, Sept 2026, per MODELS.md). Relax only this enum,
        # and only to the values some catalog model declares.
        quality = schemas[name]["properties"]["quality"]
        quality["enum"] = sorted(set(quality["enum"]) | _catalog_qualities())
        # The documented extensions; which models may send them is checked per body below.
        for prop, schema in EXTENSIONS.items():
            assert prop not in schemas[name]["properties"], f"{prop} is in the spec now"
            schemas[name]["properties"][prop] = copy.deepcopy(schema)
    return document


def _catalog_qualities() -> set[str]:
    return {
        choice
        for spec in catalog.list_models()
        if "quality" in spec.params
        for choice in spec.params["quality"].choices
    }


DOCUMENT = _load_document()


def validator_for(operation: str) -> jsonschema.protocols.Validator:
    root = {
        "$ref": f"#/components/schemas/{REQUEST_SCHEMAS[operation]}",
        "components": DOCUMENT["components"],
    }
    cls = jsonschema.validators.validator_for({}, default=jsonschema.Draft202012Validator)
    return cls(root)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def schema_types(schema: dict[str, Any]) -> set[str]:
    """Every JSON type a (possibly anyOf/$ref) property schema admits."""
    schema = resolve(schema)
    found = {schema["type"]} if "type" in schema else set()
    for member in schema.get("anyOf", []):
        found |= schema_types(member)
    return found


# --------------------------------------------------------------------------- capture


def capture(spec: ModelSpec, operation: str, params: dict[str, Any]) -> httpx.Request:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        sent.append(request)
        return httpx.Response(500, json={"error": {"message": "captured", "type": "x"}})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    # A compatible server (not api.openai.com): it serves every model, retired ones included,
    # so the body of every catalog model reaches the transport.
    client = ImageClient(
        api_key="sk-test-FAKE",
        base_url="https://compatible.example/v1",
        http_client=http,
        history=False,
        max_retries=0,
    )
    method = {"generate": client.generate, "edit": client.edit, "variation": client.variations}
    args: tuple[Any, ...] = ()
    if operation == "edit":
        args = (params.pop("prompt"), params.pop("images"))
    elif operation == "variation":
        args = (params.pop("images"),)
    else:
        args = (params.pop("prompt"),)
    with pytest.raises(Exception, match="captured"):
        method[operation](*args, model=spec.name, **params)
    [request] = sent
    return request


def wire_body(request: httpx.Request, operation: str) -> dict[str, Any]:
    """The request body as the server sees it: JSON, or multipart fields coerced by the schema."""
    if operation == "generate":
        assert request.headers["content-type"] == "application/json"
        return json.loads(request.content)
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    properties = resolve({"$ref": f"#/components/schemas/{REQUEST_SCHEMAS[operation]}"})[
        "properties"
    ]
    body: dict[str, Any] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        if part.get_filename() is not None:
            assert part.get_content_type() in {"image/png", "image/jpeg", "image/webp"}
            key = "image" if name == "image[]" else name
            if name == "image[]":
                body.setdefault(key, []).append("<binary>")
            else:
                body[key] = "<binary>"
            continue
        text = part.get_payload(decode=True).decode()
        body[name] = _coerce(text, properties.get(name, {}), name)
    return body


def _coerce(text: str, schema: dict[str, Any], name: str) -> Any:
    types = schema_types(schema) if schema else {"string"}
    if "boolean" in types:
        assert text in ("true", "false"), f"{name}={text!r} is not a form boolean"
        return text == "true"
    if "integer" in types:
        assert text == str(int(text)), f"{name}={text!r} is not a canonical integer"
        return int(text)
    return text


# --------------------------------------------------------------------------- the matrix


def parameter_sets(spec: ModelSpec, operation: str) -> list[tuple[str, dict[str, Any]]]:
    """Named parameter sets for a model and operation, built from the catalog."""
    applicable = spec.params_for(operation)
    sets: list[tuple[str, dict[str, Any]]] = [("minimal", {})]
    rich = {name: _rich_value(spec, name) for name in applicable}
    rich = {name: value for name, value in rich.items() if value is not None}
    sets.append(("every-param", rich))
    for size in spec.size_choices:
        sets.append((f"size={size}", {"size": size}))
    if spec.custom_size is not None:
        sets.append(("custom-size", {"size": "1536x864"}))
    if "quality" in applicable:
        sets += [(f"quality={q}", {"quality": q}) for q in applicable["quality"].choices]
    if spec.streaming and "partial_images" in applicable:
        sets.append(("streaming", {"partial_images": 2}))
    if "response_format" in applicable:
        sets.append(("url", {"response_format": "url"}))
    if operation == "edit" and spec.supports_mask:
        sets.append(("mask", {"mask": np.ones((256, 256), dtype=bool)}))
    if operation == "edit" and spec.max_reference_images > 1:
        sets.append(("several-images", {"images": [_image(spec)] * 3}))
    if operation == "edit" and spec.max_reference_images > 1 and spec.supports_mask:
        mask = np.ones((256, 256), dtype=bool)
        sets.append(("mask-several-images", {"images": [_image(spec)] * 2, "mask": mask}))
    if operation == "edit" and "jpeg" in spec.image_formats:
        sets.append(("jpeg-upload", {"upload_format": "jpeg"}))
    return sets


def _rich_value(spec: ModelSpec, name: str) -> Any:
    """A valid, non-default value for every parameter, chosen so they combine."""
    param = spec.params[name]
    if name == "n":
        return min(2, param.maximum or 1)
    if name == "output_format":
        return "webp" if "webp" in param.choices else None
    if name == "output_compression":
        return 80
    if name == "partial_images":
        return 1
    if name == "user":
        return "user-1234"
    if name == "size":
        return spec.size_presets[-1]
    if param.choices:
        return param.choices[-1]
    return None


def _image(spec: ModelSpec) -> np.ndarray:
    channels = 4 if spec.square_png_only else 3
    return np.full((256, 256, channels), 128, dtype=np.uint8)


def matrix() -> list[Any]:
    cases = []
    for spec in catalog.list_models():
        for operation in spec.operations:
            for label, params in parameter_sets(spec, operation):
                case_id = f"{spec.name}-{operation}-{label}"
                cases.append(pytest.param(spec.name, operation, params, id=case_id))
    return cases


@pytest.mark.parametrize(("model", "operation", "params"), matrix())
def test_body_validates_and_sends_only_what_the_model_takes(
    model: str, operation: str, params: dict[str, Any]
) -> None:
    spec = catalog.get_model(model)
    params = dict(params)
    if operation != "variation":
        params.setdefault("prompt", "a lighthouse at dusk")
    if operation != "generate":
        params.setdefault("images", _image(spec))
    request_params = {k: v for k, v in params.items() if k != "upload_format"}
    assert validation.check(spec, operation, **request_params) == [], "bad test parameters"

    body = wire_body(capture(spec, operation, dict(params)), operation)

    errors = sorted(validator_for(operation).iter_errors(body), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    may_receive = ALWAYS_ALLOWED | {
        name for name, p in spec.params_for(operation).items() if p.send
    }
    assert set(body) <= may_receive, f"sent what {model} must not receive"
    assert body["model"] == model
    assert "seed" not in body and "upload_format" not in body
    if not spec.response_formats:
        assert "response_format" not in body
    if "partial_images" in body:
        assert body["stream"] is True and spec.streaming
    for name in set(body) - {"model", "prompt", "image", "mask", "stream", "response_format"}:
        assert name in params, f"{name} was sent although the user did not set it"
    for name in set(body) & set(EXTENSIONS):
        assert model in EXTENSION_TAKERS[name], f"{model} sent the extension {name}"


def test_schema_relaxation_is_minimal() -> None:
    original = json.loads(SCHEMA_PATH.read_text())["components"]["schemas"]
    relaxed = DOCUMENT["components"]["schemas"]
    added = set(relaxed["CreateImageRequest"]["properties"]["quality"]["enum"]) - set(
        original["CreateImageRequest"]["properties"]["quality"]["enum"]
    )
    assert added == {"xhigh", "max"}  # only the 2.5 and 2.6 models' qualities
    for name in ("CreateImageRequest", "CreateImageEditRequest"):
        new = set(relaxed[name]["properties"]) - set(original[name]["properties"])
        assert new == {"complexity"}  # the one documented extension
    unchanged = copy.deepcopy(relaxed["CreateImageVariationRequest"])
    del unchanged["additionalProperties"]
    assert unchanged == original["CreateImageVariationRequest"]


def test_extensions_match_the_catalog() -> None:
    for name, schema in EXTENSIONS.items():
        takers = {m.name for m in catalog.list_models() if name in m.params}
        assert takers == EXTENSION_TAKERS[name]
        for model in takers:
            param = catalog.get_model(model).params[name]
            assert list(param.choices) == schema["enum"] and param.default == schema["default"]


def test_the_checker_itself_rejects_bad_bodies() -> None:
    generate = validator_for("generate")
    assert not generate.is_valid({"prompt": "x", "model": "gpt-image-2", "seed": 3})
    assert not generate.is_valid({"prompt": "x", "n": "2"})
    assert not generate.is_valid({"prompt": "x", "quality": "ultra"})
    assert not generate.is_valid({"model": "gpt-image-2"})
    assert not generate.is_valid({"prompt": "x", "complexity": "extreme"})
    edit = validator_for("edit")
    assert edit.is_valid({"prompt": "x", "image": ["<binary>", "<binary>"]})
    assert not edit.is_valid({"prompt": "x", "image": ["<binary>"] * 17})
    assert not edit.is_valid({"prompt": "x", "image": "<binary>", "partial_images": 4})
