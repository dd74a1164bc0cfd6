"""Which models the offline server serves: every one (``"lenient"``) or OpenAI's (``"openai"``).

Owns the server's lifecycle modes (:data:`LIFECYCLES`), their validation, and OpenAI's answer
to a shut-down model: 404 ``{"error": {"message": "The model `X` does not exist or you do not
have access to it.", "type": "invalid_request_error", "param": null, "code":
"model_not_found"}}``. Whether a model is shut down is the catalog's rule:
:func:`gptimage_widgets.catalog.retirement_problem` on the catalog's today
(:func:`gptimage_widgets.catalog.lifecycle.today`), read per request, so a test that moves
today's date moves the server too.
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import catalog
from ..catalog import ModelSpec
from ..errors import APIStatusError
from .responses import api_error, short

__all__ = ["LIFECYCLES", "check_lifecycle", "model_not_found", "serves"]

#: Lifecycle modes -> the catalog backend whose shutdown dates apply (None: serve every model).
LIFECYCLES: Mapping[str, str | None] = {"lenient": None, "openai": "openai"}


def check_lifecycle(lifecycle: str) -> str:
    """``lifecycle`` if it is one of :data:`LIFECYCLES`, else a ValueError naming the choices."""
    if not isinstance(lifecycle, str) or lifecycle not in LIFECYCLES:
        choices = ", ".join(repr(name) for name in LIFECYCLES)
        raise ValueError(f"lifecycle={lifecycle!r} is not a lifecycle mode; use one of: {choices}")
    return lifecycle


def serves(spec: ModelSpec, lifecycle: str) -> bool:
    """Whether a server in mode ``lifecycle`` answers requests for ``spec`` today."""
    backend = LIFECYCLES[lifecycle]
    return backend is None or catalog.retirement_problem(spec, backend) is None


def model_not_found(name: str) -> APIStatusError:
    """OpenAI's 404 for a model the key cannot use (``param`` null, as OpenAI sends it)."""
    return api_error(
        404,
        f"The model `{short(name)}` does not exist or you do not have access to it.",
        code="model_not_found",
    )
