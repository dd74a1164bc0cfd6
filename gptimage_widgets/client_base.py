"""What the sync and async clients share: configuration, the budget, and turning a decoded
response into a saved :class:`~gptimage_widgets.results.ImageResult`.

Owns: the constructor arguments and their checks, the session budget (reserve before
sending, settle after), when the request cache is asked (``cache=``; what "identical"
means is :mod:`gptimage_widgets.request_cache`), building a request
(:func:`gptimage_widgets.request.build_request` validates it), cost from usage or the
estimate, the result's timings and notes, and saving to the history store before a result
is returned. Nothing here sends bytes: that is :mod:`gptimage_widgets.transport`; reading
answers is :mod:`gptimage_widgets.responses`.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import httpx
import numpy as np

from . import catalog, pricing, request_cache, retry, validation
from .backends import Backend, resolve_backend
from .errors import BudgetExceededError, GPTImageError, ValidationError
from .history import HistoryStore
from .ratelimit import RatePacer
from .redact import redact_tree
from .request import CLIENT_OPTIONS, ImageRequest, build_request
from .responses import DEFAULT_MAX_RESPONSE_BYTES, Decoded, StreamRun, body_limit
from .results import ImageResult
from .transport import (
    DEFAULT_TOTAL_TIMEOUT,
    NO_OPTIONS,
    RequestOptions,
    Transport,
    resolve_deadline,
    resolve_timeout,
)

__all__ = ["DEFAULT_MODEL", "DEFAULT_VARIATION_MODEL", "PartialCallback"]

DEFAULT_MODEL = "gpt-image-2"
DEFAULT_VARIATION_MODEL = "dall-e-2"

#: ``on_partial(index, image)``: a preview, ``image`` ``(H, W, 3|4)`` uint8.
PartialCallback = Callable[[int, np.ndarray], Any]
TransportT = TypeVar("TransportT", bound=Transport)

#: The SDK-style escape hatches every public method takes (see ``RequestOptions``).
_ESCAPE_HATCHES = ("extra_headers", "extra_query", "extra_body", "timeout")
#: Public-method arguments that are not request parameters.
_NOT_PARAMS = ("self", "model", "on_partial", "extra", "params", "__class__", *_ESCAPE_HATCHES)


@dataclasses.dataclass
class Call:
    """One request on its way: what was built, what was reserved, when it started."""

    request: ImageRequest
    estimate: pricing.CostEstimate | None
    reserved_usd: float
    on_partial: PartialCallback | None
    started: float = dataclasses.field(default_factory=time.perf_counter)
    first_byte: float | None = None
    attempts: int = 1
    options: RequestOptions = NO_OPTIONS
    secrets: tuple[str | None, ...] = ()
    cache_key: str | None = None
    cached: ImageResult | None = None


def call_arguments(
    operation: str, named: Mapping[str, Any]
) -> tuple[str, str, dict[str, Any], PartialCallback | None, RequestOptions]:
    """A public method's ``locals()`` -> ``(operation, model, params, on_partial, options)``.

    Every public method (``generate``, ``edit``, ``variations`` and their streaming forms,
    sync and async) hands its arguments here, so the rules live once: ``None`` means "not
    given", ``n=1`` and ``partial_images=0`` are the defaults and are not sent, ``image``
    (variations) is the ``images`` parameter, ``**extra``/``**params`` join the rest, and
    the escape hatches (``extra_headers``, ``extra_query``, ``extra_body``, ``timeout``)
    become :class:`~gptimage_widgets.transport.RequestOptions`.
    """
    options = RequestOptions.of(**{name: named.get(name) for name in _ESCAPE_HATCHES})
    extra = {**named.get("extra", {}), **named.get("params", {})}
    given = {name: value for name, value in named.items() if name not in _NOT_PARAMS}
    if given.get("n") == 1:
        given["n"] = None
    if "partial_images" in given and not given["partial_images"]:
        given["partial_images"] = None
    if "image" in given:
        given["images"] = given.pop("image")
    params = {name: value for name, value in {**given, **extra}.items() if value is not None}
    return operation, named["model"], params, named.get("on_partial"), options


def _history_store(history: Any) -> HistoryStore | None:
    if history is False:
        return None
    if history is None or history is True:
        return HistoryStore()
    if isinstance(history, HistoryStore):
        return history
    if isinstance(history, (str, os.PathLike)):
        return HistoryStore(history)
    raise ValidationError(
        f"history={history!r} is not accepted; pass None (./gptimage-outputs), False (off), "
        "a folder path or a HistoryStore",
        param="history",
        value=repr(history),
    )


def _check_allow_retired(value: Any, where: str = "allow_retired") -> bool:
    if not isinstance(value, bool):
        raise ValidationError(
            f"{where} must be True or False, got {value!r}", param="allow_retired", value=value
        )
    return value


def _cache_store(cache: Any, history: HistoryStore | None) -> tuple[bool, HistoryStore | None]:
    """``cache=`` -> (look up by default?, the store answers come from)."""
    if cache is False or cache is None:
        return False, history
    if cache is True:
        if history is None:
            raise ValidationError(
                "cache=True answers from the history store, but history=False turned it off; "
                "pass history=None (./gptimage-outputs) or a folder, or cache='folder'",
                param="cache",
                value=cache,
            )
        return True, history
    if isinstance(cache, HistoryStore):
        return True, cache
    if isinstance(cache, (str, os.PathLike)):
        same = history is not None and history.folder == HistoryStore(cache).folder
        return True, history if same else HistoryStore(cache)
    raise ValidationError(
        f"cache={cache!r} is not accepted; pass False (default), True (the history store), "
        "a history folder path or a HistoryStore",
        param="cache",
        value=repr(cache),
    )


def _check_budget(budget_usd: Any) -> None:
    if budget_usd is not None and (
        isinstance(budget_usd, bool)
        or not isinstance(budget_usd, (int, float))
        or not budget_usd >= 0
    ):
        raise ValidationError(
            f"budget_usd must be a number >= 0 (USD), got {budget_usd!r}",
            param="budget_usd",
            value=budget_usd,
        )


def _check_rate_limit(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(
            f"rate_limit must be True (pace requests by the server's limit) or False, got "
            f"{value!r}",
            param="rate_limit",
            value=value,
        )
    return value


def _cache_switch(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValidationError(
        f"cache={value!r} is not accepted for one call; pass True or False",
        param="cache",
        value=repr(value),
    )


class ClientBase(Generic[TransportT]):
    """Configuration and the pure steps shared by the sync and async clients.

    Subclasses set :attr:`transport_class` (how bytes are sent) and write the public
    methods; the constructor's parameters are documented on
    :class:`~gptimage_widgets.client.ImageClient`.
    """

    transport_class: type[TransportT]

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        backend: str = "auto",
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        history: Any = None,
        organization: str | None = None,
        project: str | None = None,
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        api_version: str | None = None,
        budget_usd: float | None = None,
        http_client: Any = None,
        allow_retired: bool = False,
        cache: bool | str | os.PathLike[str] | HistoryStore = False,
        rate_limit: bool = True,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
    ) -> None:
        max_retries = validation.require_int(max_retries, "max_retries", minimum=0)
        max_response_bytes = validation.require_int(
            max_response_bytes, "max_response_bytes", minimum=1024, unit="bytes"
        )
        _check_budget(budget_usd)
        #: Default of every call's ``allow_retired``: send models retired at this backend.
        self.allow_retired = _check_allow_retired(allow_retired)
        self._backend: Backend = resolve_backend(
            backend,
            api_key,
            base_url,
            organization=organization,
            project=project,
            azure_endpoint=azure_endpoint,
            azure_deployment=azure_deployment,
            api_version=api_version,
        )
        self.retry_policy = retry.RetryPolicy(max_retries=max_retries)
        self.history = _history_store(history)
        #: Whether calls are answered from history when identical (per call: ``cache=``).
        self.cache, self._cache_store = _cache_store(cache, self.history)
        self.budget_usd = budget_usd
        self._spent_usd = 0.0
        self._reserved_usd = 0.0
        self._budget_lock = threading.Lock()
        injected = http_client is not None
        self._transport: TransportT = self.transport_class(
            backend=self._backend,
            http=http_client if injected else self.transport_class.new_http(),
            timeout=resolve_timeout(timeout, injected=injected),
            policy=self.retry_policy,
            owns_http=not injected,
            deadline=resolve_deadline(timeout, total_timeout),
            max_response_bytes=max_response_bytes,
        )
        self._transport.pacer.enabled = _check_rate_limit(rate_limit)

    # ------------------------------------------------------------------ description

    @property
    def backend(self) -> str:
        """``"openai"``, ``"compatible"``, ``"azure"`` or ``"offline"``."""
        return self._backend.name

    @property
    def base_url(self) -> str:
        """The API root requests go to (Azure: the resource endpoint)."""
        return self._backend.base_url

    @property
    def max_retries(self) -> int:
        return self.retry_policy.max_retries

    @property
    def rate_limiter(self) -> RatePacer:
        """What this client learnt about the server's rate limit (``.rate``, ``.limited``...)."""
        return self._transport.pacer

    @property
    def spent_usd(self) -> float:
        """What this client's requests cost so far (actual where usage was reported)."""
        return self._spent_usd

    @property
    def _http(self) -> Any:
        """The httpx client requests go through (owned or injected)."""
        return self._transport.http

    def __repr__(self) -> str:
        key = "set" if self._backend.has_key else "not set"
        return (
            f"{type(self).__name__}(backend={self.backend!r}, base_url={self.base_url!r}, "
            f"api_key={key}, max_retries={self.max_retries}, history={self.history!r})"
        )

    # ------------------------------------------------------------------ before sending

    def _prepare(
        self,
        operation: str,
        model: str,
        params: dict[str, Any],
        on_partial: PartialCallback | None = None,
        options: RequestOptions = NO_OPTIONS,
    ) -> Call:
        """Validate and build the request and reserve its estimated cost (nothing sent).

        The known parameters are validated; `options` (extra body fields...) go as given.
        ``params["allow_retired"]`` (None or absent: the client's) is taken out here.
        ``params["cache"]`` (True/False, optional) overrides :attr:`cache` for this call;
        on a cache hit the returned call has ``cached`` set and nothing reserved.
        """
        allow = params.pop("allow_retired", None)
        allow = self.allow_retired if allow is None else _check_allow_retired(allow)
        if not allow:
            self._refuse_retired(operation, model, params)
        use_cache = _cache_switch(params.pop("cache", None))
        started = time.perf_counter()
        request = build_request(model, operation, **params)
        key = self._cache_key(request, options)
        if key is not None and (self.cache if use_cache is None else use_cache):
            hit = self._cache_lookup(key)
            if hit is not None:
                cached = request_cache.as_cached(hit, started)
                return Call(request, None, 0.0, on_partial, cache_key=key, cached=cached)
        estimate = self._estimate(request)
        reserved = self._reserve(request, estimate)
        return Call(
            request=request,
            estimate=estimate,
            reserved_usd=reserved,
            on_partial=on_partial,
            options=options,
            secrets=(*self._transport.secrets, *options.secrets),
            cache_key=key,
        )

    @staticmethod
    def _images_asked(call: Call) -> int:
        """How many images the call asked for (``n``, also when sent through ``extra_body``)."""
        asked = [call.request.params.get("n"), call.options.body.get("n")]
        return max([n for n in asked if isinstance(n, int) and not isinstance(n, bool)] + [1])

    def _body_limit(self, call: Call) -> int:
        """Decoded bytes the answer to `call` may take (see ``responses.body_limit``)."""
        return body_limit(
            self._images_asked(call),
            call.request.partial_images,
            self._transport.max_response_bytes,
        )

    def _stream_run(self, call: Call, response: httpx.Response, deadline: Any) -> StreamRun:
        """The state of `call`'s streamed answer, bounded by what the call asked for."""
        return StreamRun(
            call.request.operation,
            response,
            call.secrets,
            n=self._images_asked(call),
            partial_images=call.request.partial_images,
            limit=self._body_limit(call),
            deadline=deadline,
        )

    def _refuse_retired(self, operation: str, model: Any, params: Mapping[str, Any]) -> None:
        """Raise before sending when `model` is retired at this backend today.

        The rule is :func:`gptimage_widgets.catalog.retirement_problem` (OpenAI and Azure,
        each on its own date; compatible and offline servers never); when it applies, the
        request's other problems are listed too (``validation.validate(backend=...)``).
        """
        spec = catalog.find_model(model) if isinstance(model, str) else None
        if spec is None or catalog.retirement_problem(spec, self.backend) is None:
            return
        given = {k: v for k, v in params.items() if k not in CLIENT_OPTIONS}
        validation.validate(spec, operation, backend=self.backend, **given)

    def _cache_key(self, request: ImageRequest, options: RequestOptions) -> str | None:
        """The request's cache key, or None when no store could keep or answer it."""
        if self._cache_store is None and self.history is None:
            return None
        backend = self._backend
        origin = "offline" if backend.name == "offline" else f"{backend.name} {backend.base_url}"
        if backend.deployment:
            origin += f" {backend.deployment}"
        return request_cache.cache_key(request, origin=origin, extra_body=options.body)

    def _cache_lookup(self, key: str) -> ImageResult | None:
        """A saved result with this key (the cache store first, then the history)."""
        for store in dict.fromkeys(s for s in (self._cache_store, self.history) if s is not None):
            try:
                hit = store.find_cached(key)
            except (OSError, sqlite3.Error) as exc:
                warnings.warn(
                    f"request cache: {store!r} unreadable ({exc})", RuntimeWarning, stacklevel=4
                )
                continue
            if hit is not None:
                return hit
        return None

    def _estimate(self, request: ImageRequest) -> pricing.CostEstimate | None:
        p = request.params
        try:
            return pricing.estimate_cost(
                request.model,
                request.operation,
                size=p.get("size"),
                quality=p.get("quality"),
                n=int(p.get("n") or 1),
                prompt=str(p.get("prompt") or ""),
                reference_images=len(p.get("image_sizes") or ()),
                partial_images=request.partial_images,
            )
        except GPTImageError:
            return None

    def _reserve(self, request: ImageRequest, estimate: pricing.CostEstimate | None) -> float:
        if self.budget_usd is None or self.backend == "offline":
            return 0.0
        amount = estimate.high_usd if estimate is not None else 0.0
        with self._budget_lock:
            committed = self._spent_usd + self._reserved_usd
            if committed + amount > self.budget_usd + 1e-12:
                raise BudgetExceededError(
                    f"not sent: this {request.model} request may cost up to ${amount:.3f}, and "
                    f"${committed:.3f} of the ${self.budget_usd:.2f} budget is spent or in "
                    "flight; raise budget_usd= or lower n, quality or size"
                )
            self._reserved_usd += amount
        return amount

    def _settle(self, call: Call, result: ImageResult | None) -> None:
        with self._budget_lock:
            self._reserved_usd = max(0.0, self._reserved_usd - call.reserved_usd)
            if result is not None and result.cost_usd:
                self._spent_usd += result.cost_usd

    # ------------------------------------------------------------------ after receiving

    def _make_result(self, call: Call, decoded: Decoded) -> ImageResult:
        request = call.request
        cost, is_estimate = self._cost(call, decoded.usage)
        timings = {"total_s": time.perf_counter() - call.started}
        if call.first_byte is not None:
            timings["first_byte_s"] = call.first_byte - call.started
        timings["attempts"] = call.attempts
        notes = list(request.notes)
        if self.backend == "offline":
            notes.append("offline backend: synthetic images, no cost")
        return ImageResult(
            images=decoded.images,
            model=request.model,
            operation=request.operation,
            request={**request.params, **redact_tree(call.options.body)},
            usage=decoded.usage,
            cost_usd=cost,
            cost_is_estimate=is_estimate,
            revised_prompts=decoded.revised,
            request_id=decoded.request_id,
            created=decoded.created if isinstance(decoded.created, int) else None,
            timings=timings,
            notes=notes,
            cache_key=call.cache_key,
        )

    def _cost(self, call: Call, usage: Mapping[str, Any] | None) -> tuple[float | None, bool]:
        if self.backend == "offline":
            return 0.0, False
        if usage:
            try:
                actual = pricing.cost_from_usage(call.request.model, usage)
            except GPTImageError:
                actual = None
            if actual is not None:
                return actual, False
        return (call.estimate.usd if call.estimate else None), True

    def _save_now(self, result: ImageResult) -> ImageResult:
        """Write the result to the history store; a failing disk warns, never loses it."""
        if self.history is None:
            return result
        try:
            self.history.save(result)
        except (OSError, GPTImageError) as exc:
            result.notes.append(f"not saved to history: {exc}")
            warnings.warn(
                f"the images were NOT saved to {self.history!r} ({exc}); save them with "
                "result.save(folder)",
                RuntimeWarning,
                stacklevel=4,
            )
        return result
