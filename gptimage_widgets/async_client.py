"""The asynchronous client, :class:`AsyncImageClient`: the sync client's methods as
coroutines, plus concurrency (:meth:`~AsyncImageClient.map`, :meth:`~AsyncImageClient.sweep`).

Owns: what only the async client has: the per-event-loop concurrency limit
(``max_concurrency``), running many requests, progress reporting, and awaiting I/O. Request
building, budget and results are shared with the sync client in
:mod:`gptimage_widgets.client_base`; sending in :mod:`gptimage_widgets.transport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any

import httpx

from . import batch_async
from ._types import ImageInput, ImageInputs, MaskInput
from .backends import apply_model_status, models_data
from .batch import LIST_LIMIT
from .batch_async import AsyncBatchJob
from .client_base import (
    DEFAULT_MODEL,
    DEFAULT_VARIATION_MODEL,
    Call,
    ClientBase,
    PartialCallback,
    call_arguments,
)
from .errors import GPTImageError
from .progress import Progress, progress_report
from .ratelimit import patient
from .responses import (
    LISTING_LIMIT,
    BodyBuffer,
    decode_items,
    download_limit,
    json_body,
    parse_payload,
    request_id_of,
)
from .results import ImageResult
from .sse import StreamEvent
from .sweeps import SweepResults
from .transport import NO_OPTIONS, AsyncTransport, RequestOptions
from .validation import require_int, require_operation

__all__ = ["AsyncImageClient"]


class AsyncImageClient(ClientBase[AsyncTransport]):
    """Asynchronous client: :class:`~gptimage_widgets.client.ImageClient`'s methods as
    coroutines, plus concurrency.

    Takes :class:`~gptimage_widgets.client.ImageClient`'s parameters (``http_client`` is an
    ``httpx.AsyncClient``) and `max_concurrency`, the most requests in flight at once
    (default 8). ``await client.generate(...)``; ``async for event in
    client.stream_generate(...)``; ``await client.map([...])`` and ``await
    client.sweep(prompts, grid={...})`` run many.

    `rate_limit` (default True) paces requests by the rate the server allows, learnt from
    its ``x-ratelimit-*`` headers and 429 answers, and waits out 429 ``rate_limit_exceeded``
    in ``map``/``sweep`` (see :mod:`gptimage_widgets.ratelimit`). ``rate_limit=False`` is
    the behaviour before pacing existed: every request goes as soon as a concurrency slot
    is free and each 429 spends the per-call retry budget.
    """

    transport_class = AsyncTransport

    def __init__(self, *args: Any, max_concurrency: int = 8, **kwargs: Any) -> None:
        max_concurrency = require_int(max_concurrency, "max_concurrency", minimum=1)
        super().__init__(*args, **kwargs)
        self.max_concurrency = max_concurrency
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()

    async def close(self) -> None:
        """Close the connection pool (unless it was passed in as `http_client`)."""
        await self._transport.close()

    aclose = close

    async def __aenter__(self) -> AsyncImageClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def list_server_models(self) -> list[dict[str, Any]]:
        """Async :meth:`ImageClient.list_server_models`."""
        response, _ = await self._transport.send(
            self._transport.models_request,
            stream=False,
            model=None,
            deadline=self._transport.deadline_for(),
            limit=LISTING_LIMIT,
        )
        return models_data(json_body(response, self._transport.secrets))

    async def refresh_model_status(self) -> list[str]:
        """Async :meth:`ImageClient.refresh_model_status`."""
        return apply_model_status({"data": await self.list_server_models()})

    # ------------------------------------------------------------------ public methods

    async def generate(
        self,
        prompt: str,
        *,
        model: str = DEFAULT_MODEL,
        n: int = 1,
        size: str | None = None,
        quality: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        moderation: str | None = None,
        style: str | None = None,
        partial_images: int = 0,
        on_partial: PartialCallback | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        allow_retired: bool | None = None,
        **extra: Any,
    ) -> ImageResult:
        """:meth:`ImageClient.generate`, awaited; `on_partial` may be a coroutine function."""
        return await self._execute(*call_arguments("generate", locals()))

    async def edit(
        self,
        prompt: str,
        images: ImageInputs,
        *,
        mask: MaskInput | None = None,
        model: str = DEFAULT_MODEL,
        n: int = 1,
        size: str | None = None,
        quality: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        input_fidelity: str | None = None,
        partial_images: int = 0,
        on_partial: PartialCallback | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        allow_retired: bool | None = None,
        **extra: Any,
    ) -> ImageResult:
        """:meth:`ImageClient.edit`, awaited."""
        return await self._execute(*call_arguments("edit", locals()))

    async def variations(
        self,
        image: ImageInput,
        *,
        model: str = DEFAULT_VARIATION_MODEL,
        n: int = 1,
        size: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        allow_retired: bool | None = None,
        **extra: Any,
    ) -> ImageResult:
        """:meth:`ImageClient.variations`, awaited."""
        return await self._execute(*call_arguments("variation", locals()))

    async def stream_generate(
        self,
        prompt: str,
        *,
        model: str = DEFAULT_MODEL,
        partial_images: int = 2,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        allow_retired: bool | None = None,
        **params: Any,
    ) -> AsyncIterator[StreamEvent]:
        """:meth:`ImageClient.stream_generate` as an async iterator (``async for``).

        Validation errors surface on the first step, like every other error.
        """
        events = self._prepared_stream(*call_arguments("generate", locals()))
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def stream_edit(
        self,
        prompt: str,
        images: ImageInputs,
        *,
        model: str = DEFAULT_MODEL,
        partial_images: int = 2,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        allow_retired: bool | None = None,
        **params: Any,
    ) -> AsyncIterator[StreamEvent]:
        """:meth:`ImageClient.stream_edit` as an async iterator (``async for``)."""
        events = self._prepared_stream(*call_arguments("edit", locals()))
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    # ------------------------------------------------------------------ many requests

    async def map(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        return_exceptions: bool = True,
        progress: bool | Progress | None = None,
    ) -> SweepResults:
        """Run many requests concurrently (at most `max_concurrency` at once).

        Parameters
        ----------
        requests : iterable of Mapping
            Each ``{"operation": "generate"|"edit"|"variation" (default generate),
            "prompt": ..., "images": ..., "model": ..., **params}``; every keyword of the
            matching method is accepted.
        return_exceptions : bool
            True (default): a failed item's :class:`GPTImageError` takes its place in the
            list. False: the first failure cancels the rest and is raised.
        progress : bool or callable, optional
            True shows a progress bar (``tqdm.auto``: a widget in Jupyter, text on stderr
            elsewhere) with done / failed / waiting-for-rate-limit and the spend so far; a
            callable gets ``(done, total, item)``; False or None shows nothing.

        Returns
        -------
        SweepResults
            A list: ``ImageResult`` (or the error) per request, in input order; it exports
            itself (``.arrays()``, ``.params``, ``.to_csv()``, ``.save()``; see
            :mod:`gptimage_widgets.sweeps`).
        Notes
        -----
        A 429 ``rate_limit_exceeded`` here means "wait for the next free slot and go again"
        (for up to ``client.rate_limiter.patience_s`` seconds per request), not a retry
        spent; ``insufficient_quota`` still fails at once.
        """
        items = [dict(item) for item in requests]
        async with progress_report(progress, len(items), self._transport.pacer) as report:

            async def run_one(item: dict[str, Any]) -> Any:
                try:
                    outcome: Any = await self._call_from_mapping(item)
                except GPTImageError as exc:
                    if not return_exceptions:
                        raise
                    outcome = exc
                report(outcome)
                return outcome

            with patient():
                tasks = [asyncio.ensure_future(run_one(item)) for item in items]
            try:
                return SweepResults(await asyncio.gather(*tasks))
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    async def sweep(
        self,
        prompts: str | Sequence[str],
        grid: Mapping[str, Sequence[Any]] | None = None,
        *,
        operation: str = "generate",
        progress: bool | Progress | None = True,
        return_exceptions: bool = True,
        **common: Any,
    ) -> SweepResults:
        """Every prompt x every combination of `grid` values, concurrently.

        Parameters
        ----------
        prompts : str or sequence of str
        grid : Mapping of str to sequence, optional
            E.g. ``{"quality": ["low", "high"], "size": ["1024x1024", "1536x1024"]}``.
        operation : str
            ``"generate"`` (default) or ``"edit"`` (pass ``images=`` in `common`).
        progress, return_exceptions
            As for :meth:`map`.
        **common
            Parameters shared by every request (``model=``, ``n=``, ``extra_body=``...).

        Returns
        -------
        SweepResults
            A list (see :meth:`map`) of results in order: prompts outer, grid combinations
            inner (``itertools.product`` over the grid's keys in the order given). Each
            result's ``.request`` holds its parameters.
        """
        prompt_list = [prompts] if isinstance(prompts, str) else list(prompts)
        grid = dict(grid or {})
        combos = [
            dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())
        ]
        requests = [
            {**common, "operation": operation, "prompt": prompt, **combo}
            for prompt in prompt_list
            for combo in combos
        ]
        return await self.map(requests, return_exceptions=return_exceptions, progress=progress)

    async def _call_from_mapping(self, item: dict[str, Any]) -> ImageResult:
        operation = require_operation(item.pop("operation", "generate"), also=("variations",))
        if operation == "generate":
            return await self.generate(**item)
        if operation == "edit":
            return await self.edit(**item)
        return await self.variations(item.pop("images", item.pop("image", None)), **item)

    # ------------------------------------------------------------------ Batch API jobs

    async def submit_batch(self, items: Iterable[Any], **common: Any) -> AsyncBatchJob:
        """:meth:`ImageClient.submit_batch`, awaited: an :class:`AsyncBatchJob` whose
        ``refresh``, ``wait``, ``cancel``, ``fetch``, ``results`` and ``export`` are awaited.

        Items are validated and encoded in a thread (nothing is uploaded when one is bad).
        """
        return await batch_async.submit(self, items, **common)

    async def get_batch(self, id: str) -> AsyncBatchJob:
        """:meth:`ImageClient.get_batch`, awaited."""
        return await batch_async.get_batch(self, id)

    async def list_batches(self, limit: int = LIST_LIMIT) -> list[AsyncBatchJob]:
        """:meth:`ImageClient.list_batches`, awaited."""
        return await batch_async.list_batches(self, limit)

    # ------------------------------------------------------------------ async I/O

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return semaphore

    async def _execute(
        self,
        operation: str,
        model: str,
        params: dict[str, Any],
        on_partial: PartialCallback | None,
        options: RequestOptions,
    ) -> ImageResult:
        if self.cache or params.get("cache"):
            # a cache lookup reads the history's index and images from disk: off the loop
            call = await asyncio.to_thread(
                self._prepare, operation, model, params, on_partial, options
            )
        else:
            call = self._prepare(operation, model, params, on_partial, options)
        if call.cached is not None:  # answered by the request cache: nothing sent or reserved
            return call.cached
        result: ImageResult | None = None
        try:
            if call.request.stream:
                result = await self._collect(self._stream(call), on_partial)
            else:
                async with self._semaphore():
                    result = await self._fetch(call)
            return result
        finally:
            self._settle(call, result)

    async def _fetch(self, call: Call) -> ImageResult:
        body = BodyBuffer(self._body_limit(call))
        response, call.attempts = await self._transport.send(
            lambda: self._transport.api_request(call.request, call.options),
            stream=False,
            model=call.request.model,
            body=body,
            secrets=call.secrets,
            deadline=self._transport.deadline_for(call.options),
        )
        call.first_byte = time.perf_counter()
        payload = parse_payload(body, request_id_of(response), call.secrets)
        urls = payload.urls()
        contents = await asyncio.gather(
            *(self._download(url, call.options) for url in urls.values())
        )
        decoded = decode_items(payload, dict(zip(urls, contents, strict=True)))
        return await asyncio.to_thread(self._save_now, self._make_result(call, decoded))

    async def _download(self, url: str, options: RequestOptions = NO_OPTIONS) -> bytearray:
        """Async :meth:`ImageClient._download` (no credentials; redirects followed)."""
        body = BodyBuffer(download_limit(self._transport.max_response_bytes), "the result download")
        await self._transport.download(url, options, body)
        return body.take_bytes()

    @staticmethod
    async def _collect(
        events: AsyncIterator[StreamEvent], on_partial: PartialCallback | None
    ) -> ImageResult:
        result = None
        async for event in events:
            if event.is_partial and on_partial is not None and event.image is not None:
                outcome = on_partial(event.index, event.image)
                if inspect.isawaitable(outcome):
                    await outcome
            elif event.is_completed:
                result = event.result
        assert result is not None  # _stream raises StreamError otherwise
        return result

    async def _stream(self, call: Call) -> AsyncIterator[StreamEvent]:
        async with self._semaphore():
            deadline = self._transport.deadline_for(call.options)
            response, call.attempts = await self._transport.send(
                lambda: self._transport.api_request(call.request, call.options),
                stream=True,
                model=call.request.model,
                secrets=call.secrets,
                deadline=deadline,
            )
            call.first_byte = time.perf_counter()
            run = self._stream_run(call, response, deadline)
            try:
                try:
                    async for chunk in response.aiter_bytes():
                        for event in run.feed(chunk):
                            yield event
                except httpx.HTTPError as exc:
                    raise run.broken(exc) from exc
                decoded = run.finish()
            finally:
                run.close()
                await response.aclose()
        result = await asyncio.to_thread(self._save_now, self._make_result(call, decoded))
        for event in run.completed_events(result):
            yield event

    async def _prepared_stream(
        self,
        operation: str,
        model: str,
        params: dict[str, Any],
        on_partial: PartialCallback | None,
        options: RequestOptions,
    ) -> AsyncGenerator[StreamEvent, None]:
        # validation errors surface on the first step of `async for`, like every other error
        call = self._prepare(
            operation, model, {**params, "stream": True, "cache": False}, None, options
        )
        completed: ImageResult | None = None
        try:
            async for event in self._stream(call):
                completed = event.result if event.is_completed else completed
                yield event
        finally:
            self._settle(call, completed)
