"""What the offline server refuses in a parsed :class:`~.parsing.ImageCall`.

Owns: the server-only checks (operation and streaming support, upload content types, a
required image) and the bridge to :func:`gptimage_widgets.validation.check` — the same rules
the client applies, including every parameter's type and range — whose first problem becomes
OpenAI's 400 ``{"error": {"message", "type": "invalid_request_error", "param", "code"}}``.
"""

from __future__ import annotations

from .. import catalog, validation
from ..catalog import ModelSpec
from ..errors import Problem
from .multipart import Part
from .parsing import ImageCall
from .responses import api_error, problems_error

__all__ = ["IMAGE_MIME_TYPES", "check_call"]

IMAGE_MIME_TYPES = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/webp": "webp",
}


def check_call(call: ImageCall) -> None:
    """Raise OpenAI's 400 for the first thing wrong with ``call``; return when it is fine."""
    spec, operation = call.spec, call.operation
    if operation not in spec.operations:
        able = [s.name for s in catalog.list_models() if operation in s.operations]
        raise api_error(
            400,
            f"Invalid value: '{spec.name}'. The {operation} endpoint does not "
            f"support {spec.name}; use one of: {', '.join(able)}.",
            param="model",
            code="invalid_value",
        )
    if call.stream and not spec.streaming:
        raise api_error(
            400,
            f"{spec.name} does not support streaming; leave out 'stream'.",
            param="stream",
            code="invalid_value",
        )
    for part in [*call.images, *([call.mask] if call.mask else [])]:
        _check_mime_type(part, spec)
    problems = _input_checks(spec, operation, call)
    if problems:
        unknown = problems[0].param in call.params and problems[0].param not in spec.params
        raise problems_error(problems, code="unknown_parameter" if unknown else "invalid_value")
    if operation != "generate" and not call.images:
        raise api_error(
            400,
            "The 'image' file is required; send it as multipart field "
            "'image' (or repeated 'image[]').",
            param="image",
            code="missing_required_parameter",
        )


def _input_checks(spec: ModelSpec, operation: str, call: ImageCall) -> list[Problem]:
    """The validation problems of ``call`` (images and mask included).

    With several images, :func:`gptimage_widgets.validation.check` checks the mask against the
    first one only, as OpenAI applies it (see
    https://platform.openai.com/docs/api-reference/images/createEdit).
    """
    images = [p.data for p in call.images] or None
    mask = call.mask.data if call.mask is not None else None
    return validation.check(spec, operation, **call.params, images=images, mask=mask)


def _check_mime_type(part: Part, spec: ModelSpec) -> None:
    """Reject parts without a real image content type, as OpenAI does."""
    fmt = IMAGE_MIME_TYPES.get(part.content_type or "")
    if fmt is None or fmt not in spec.image_formats:
        accepted = ", ".join(f"'image/{f}'" for f in spec.image_formats) or "none"
        raise api_error(
            400,
            f"Invalid file '{part.name}': unsupported mimetype "
            f"('{part.content_type}'). Supported file formats are {accepted}.",
            param=part.name,
            code="unsupported_file_mimetype",
        )
