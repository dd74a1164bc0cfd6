"""gptimage-widgets: OpenAI's image models as a first-class tool in Jupyter.

Import is cheap: heavy parts (httpx, ipywidgets, matplotlib) load on first use of a name
that needs them, the way scikit-image's lazy loader does. Every public name is listed in
``__all__`` and importable with ``from gptimage_widgets import X``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConflictError,
    GPTImageError,
    InternalServerError,
    ModelNotFoundError,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    QuotaError,
    RateLimitError,
    RedirectError,
    ResponseDecodeError,
    ResponseTooLargeError,
    StreamError,
    UnprocessableEntityError,
    ValidationError,
)

# name -> submodule that defines it; loaded on first attribute access.
_LAZY: dict[str, str] = {
    "AsyncBatchJob": "batch_async",
    "AsyncImageClient": "client",
    "BatchJob": "batch",
    "BatchResults": "batch",
    "Gallery": "widgets",
    "HistoryStore": "history",
    "ImageClient": "client",
    "ImageInput": "_types",
    "ImageResult": "results",
    "ImageStudio": "widgets",
    "MaskInput": "_types",
    "MaskPainter": "widgets",
    "ModelSpec": "catalog",
    "OfflineServer": "offline",
    "ParamSpec": "catalog",
    "ParameterForm": "widgets",
    "cost_from_usage": "pricing",
    "estimate_cost": "pricing",
    "get_model": "catalog",
    "list_models": "catalog",
    "plot_grid": "plotting",
    "plot_mask_overlay": "plotting",
    "plot_sweep": "plotting",
    "register_model": "catalog",
    "SweepResults": "sweeps",
    "load_sweep": "sweeps",
    "studio": "widgets",
    "validate": "validation",
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncBatchJob",
    "AsyncImageClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchJob",
    "BatchResults",
    "BudgetExceededError",
    "ConflictError",
    "GPTImageError",
    "Gallery",
    "HistoryStore",
    "ImageClient",
    "ImageInput",
    "ImageResult",
    "ImageStudio",
    "InternalServerError",
    "MaskInput",
    "MaskPainter",
    "ModelNotFoundError",
    "ModelSpec",
    "ModerationError",
    "NotFoundError",
    "OfflineServer",
    "ParamSpec",
    "ParameterForm",
    "PermissionDeniedError",
    "Problem",
    "QuotaError",
    "RateLimitError",
    "RedirectError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "StreamError",
    "SweepResults",
    "UnprocessableEntityError",
    "ValidationError",
    "__version__",
    "cost_from_usage",
    "estimate_cost",
    "get_model",
    "list_models",
    "load_sweep",
    "plot_grid",
    "plot_mask_overlay",
    "plot_sweep",
    "register_model",
    "studio",
    "validate",
]


assert set(_LAZY) <= set(__all__)


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """jupyter_server's hook: the ``gptimage_widgets`` server extension (TCP_NODELAY on kernel
    websockets) lives in :mod:`gptimage_widgets.jupyter_nodelay`."""
    return [{"module": f"{__name__}.jupyter_nodelay"}]


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._types import ImageInput, MaskInput
    from .batch import BatchJob, BatchResults
    from .batch_async import AsyncBatchJob
    from .catalog import ModelSpec, ParamSpec, get_model, list_models, register_model
    from .client import AsyncImageClient, ImageClient
    from .history import HistoryStore
    from .offline import OfflineServer
    from .plotting import plot_grid, plot_mask_overlay, plot_sweep
    from .pricing import cost_from_usage, estimate_cost
    from .results import ImageResult
    from .sweeps import SweepResults, load_sweep
    from .validation import validate
    from .widgets import Gallery, ImageStudio, MaskPainter, ParameterForm, studio
