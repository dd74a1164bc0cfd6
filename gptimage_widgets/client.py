"""The public clients: :class:`ImageClient` (sync, here) and :class:`AsyncImageClient`
(async, in :mod:`gptimage_widgets.async_client`, re-exported here).

A call goes through four small homes, in order:

1. :mod:`gptimage_widgets.client_base` — validate and build the request
   (:func:`gptimage_widgets.request.build_request`), reserve its cost against the budget;
2. :mod:`gptimage_widgets.transport` — send it with retries; API calls never follow
   redirects, so the key stays with the configured origin;
3. :mod:`gptimage_widgets.http_errors` — THE boundary where any failure becomes a typed
   :mod:`~gptimage_widgets.errors` error (``raise ... from``, request id attached, the key
   redacted);
4. :mod:`gptimage_widgets.responses` — decode the body or the event stream into images;
   ``client_base`` then makes the :class:`~gptimage_widgets.results.ImageResult` and saves
   it to the history store before returning it.

The API key lives only in the backend's headers and never appears in ``repr``, errors or
results.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpx

from . import batch
from ._types import ImageInput, ImageInputs, MaskInput
from .async_client import AsyncImageClient
from .backends import apply_model_status, models_data
from .batch import BatchJob
from .client_base import (
    DEFAULT_MODEL,
    DEFAULT_VARIATION_MODEL,
    Call,
    ClientBase,
    PartialCallback,
    call_arguments,
)
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
from .transport import DEFAULT_TIMEOUT, NO_OPTIONS, RequestOptions, SyncTransport

__all__ = ["DEFAULT_MODEL", "DEFAULT_TIMEOUT", "AsyncImageClient", "ImageClient", "StreamEvent"]


class ImageClient(ClientBase[SyncTransport]):
    """Synchronous client for OpenAI's image endpoints (and compatible servers).

    Parameters
    ----------
    api_key, base_url : str, optional
        Default to ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``.
    backend : {"auto", "openai", "azure", "offline"}
        ``"auto"``: OpenAI when a key or base URL is set, else the embedded offline server.
    timeout : float or httpx.Timeout, optional
        Default ``httpx.Timeout(600, connect=5)`` (per read; connecting at most 5 s). A
        number bounds each read *and the whole attempt*, connect to last byte, so a server
        that sends a byte every few seconds cannot stretch it (``APITimeoutError``). An
        ``httpx.Timeout`` keeps httpx's per-phase meaning; `total_timeout` bounds the
        attempt then.
    max_retries : int
        Retries of 408/409/429/5xx and connection errors (policy in
        :mod:`gptimage_widgets.retry`); default 2.
    history : None, False, str, Path or HistoryStore
        Where results are saved before they are returned; None = ``./gptimage-outputs``,
        False = off.
    organization, project : str, optional
        ``OpenAI-Organization`` / ``OpenAI-Project`` headers.
    azure_endpoint, azure_deployment, api_version : str, optional
        For ``backend="azure"``.
    budget_usd : float, optional
        Refuse (``BudgetExceededError``, before sending) any request whose upper cost
        estimate would take :attr:`spent_usd` past this.
    http_client : httpx.Client, optional
        Use this client (tests: ``httpx.Client(transport=httpx.MockTransport(...))``); it is
        not closed by :meth:`close`. API calls never follow redirects, even when it would.
    allow_retired : bool
        Default of every call's `allow_retired`. False (default): with the OpenAI backend
        (and Azure, by its own dates) a model shut down there raises ``ValidationError``
        before anything is sent; compatible servers and the offline backend accept every
        model. True: send anyway.
    cache : bool, str, Path or HistoryStore
        The request cache (default False: every call is sent). True: a call identical to
        one already saved in the history store is answered from it, ``result.cached`` True
        and cost 0, nothing sent; a folder or a HistoryStore: answered from that store (then
        from the history; new results still go to `history`, so give both the same folder
        to grow it). Any call takes ``cache=True``/``False`` to override. What
        "identical" means (model, resolved parameters, prompt, ``n``, sha256 of the input
        images and mask): :mod:`gptimage_widgets.request_cache`. Streams are never cached.
    rate_limit : bool
        True (default): requests are paced by the rate the server allows, learnt from its
        ``x-ratelimit-*`` headers and 429 answers (:attr:`rate_limiter`), and, while other
        requests of this client are under way (threads), a 429 ``rate_limit_exceeded`` is
        waited out instead of spending the retry budget (see
        :mod:`gptimage_widgets.ratelimit`). False: every request goes at once and each 429
        spends a retry, as before pacing existed.
    max_response_bytes : int
        No answer is read past this many bytes, decoded (default 1 GiB). Each call's limit
        is far lower: ``n`` times the largest image any registered model returns, counted
        as an uncompressed RGBA PNG in base64, plus 1 MiB (~46 MB a 4K image); a streamed
        event may take one such image, a result download one PNG. Past it, reading stops,
        the connection is closed and ``ResponseTooLargeError`` says how much arrived (not
        retried). Whatever the ``Content-Encoding``: a gzip bomb stops at the limit.
    total_timeout : float or None
        Seconds one attempt may take in all, connect to last byte, when `timeout` is not a
        number (default 900: high-quality 4K images take 2-3 minutes); each retry starts
        afresh. None: httpx's per-phase timeouts only. The async client cancels the attempt
        wherever it is; the sync client's watchdog thread closes the connection at the
        deadline (:mod:`gptimage_widgets.deadlines`; a reused keep-alive connection that
        stalls before its headers ends by the read timeout, never longer than the
        deadline). A stream counts while it is read. Past it: ``APITimeoutError``.
    """

    transport_class = SyncTransport

    def close(self) -> None:
        """Close the connection pool (unless it was passed in as `http_client`)."""
        self._transport.close()

    def __enter__(self) -> ImageClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def list_server_models(self) -> list[dict[str, Any]]:
        """The models the backend lists for this key (``GET /models``), as it lists them.

        Returns
        -------
        list of dict
            The listing's ``data``: ``{"id": ..., "shutdown_date": ..., ...}`` objects (see
            :func:`gptimage_widgets.model_listing.compare_listing` to compare it with the
            catalog).
        """
        response, _ = self._transport.send(
            self._transport.models_request,
            stream=False,
            model=None,
            deadline=self._transport.deadline_for(),
            limit=LISTING_LIMIT,
        )
        return models_data(json_body(response, self._transport.secrets))

    def refresh_model_status(self) -> list[str]:
        """Update catalog lifecycle status from ``GET /models`` (``shutdown_date``).

        Returns
        -------
        list of str
            The catalog models whose status changed.
        """
        return apply_model_status({"data": self.list_server_models()})

    # ------------------------------------------------------------------ public methods

    def generate(
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
        """Generate images from a prompt.

        Parameters
        ----------
        prompt : str
        model : str
            A catalog name or alias (``list_models()``).
        n, size, quality, background, output_format, output_compression, moderation, style
            As in OpenAI's API; None = the server's default. Checked against the catalog
            before anything is sent.
        partial_images : int
            1-3 streams previews (``stream=true``); each costs 100 output tokens.
        on_partial : callable, optional
            ``on_partial(index, image)`` for each preview; ``image`` is ``(H, W, 3|4)``
            uint8. The async client awaits it when it returns an awaitable.
        extra_headers : Mapping of str to str, optional
            Headers added to this call (e.g. for a gateway); never logged or stored.
        extra_query : Mapping, optional
            Query parameters added to this call.
        extra_body : Mapping, optional
            Fields sent as given, after validation of the known parameters, for what this
            package does not know yet (e.g. ``{"safety_identifier": "user-42"}``); recorded
            in ``result.request`` and the history.
        timeout : float or httpx.Timeout, optional
            This call's timeout (and its downloads'); None = the client's.
        allow_retired : bool, optional
            True sends a model even when it is shut down at this backend today (your key
            may still have access); None = the client's ``allow_retired``. Without it, such
            a call raises ``ValidationError`` naming the shutdown date and the replacement,
            before anything is sent (only the OpenAI and Azure backends retire models).
        **extra
            Other catalog parameters (``user``, ``response_format``...) and client
            options (``upload_format``, ``downscale``, ``stream``).

        Returns
        -------
        ImageResult
            Images as ``(H, W, 3|4)`` uint8 arrays, already saved to the history store.
        """
        return self._execute(*call_arguments("generate", locals()))

    def edit(
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
        """Edit one or several images (inpainting with `mask`).

        Parameters
        ----------
        prompt : str
        images : ImageInputs
            One image input or a list; a ``(B, H, W, C)`` batch counts as B images. Arrays
            are ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, uint8 or float in [0, 1]; also
            PIL images, paths, PNG/JPEG/WebP bytes, an ``ImageResult``.
        mask : MaskInput, optional
            ``(H, W)`` array, True/nonzero = replace, or an RGBA image/PNG with alpha 0 =
            replace; same size as the first image. Sent as OpenAI's RGBA PNG.
        model, n, size, quality, background, output_format, output_compression
            As for :meth:`generate`.
        input_fidelity : {"high", "low"}, optional
            Only for models that take it (not gpt-image-2).
        partial_images, on_partial, extra_headers, extra_query, extra_body, timeout
            As for :meth:`generate`.
        allow_retired, **extra
            As for :meth:`generate`.

        Returns
        -------
        ImageResult
        """
        return self._execute(*call_arguments("edit", locals()))

    def variations(
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
        """Variations of one square PNG image (dall-e-2).

        Parameters
        ----------
        image : ImageInput
            The image to vary (one image, square, sent as PNG).
        model, n, size, extra_headers, extra_query, extra_body, timeout, allow_retired
            As for :meth:`generate`.
        **extra
            As for :meth:`generate`.

        Returns
        -------
        ImageResult
        """
        return self._execute(*call_arguments("variation", locals()))

    def stream_generate(
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
    ) -> Iterator[StreamEvent]:
        """Stream a generation: partial-image events, then completed events.

        Takes :meth:`generate`'s parameters (escape hatches included). Yields
        :class:`StreamEvent` objects; completed events carry ``.result``, the saved
        :class:`ImageResult`. A stream that ends without a completed event raises
        :class:`~gptimage_widgets.errors.StreamError`.
        """
        return self._prepared_stream(*call_arguments("generate", locals()))

    def stream_edit(
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
    ) -> Iterator[StreamEvent]:
        """Stream an edit; like :meth:`stream_generate` with :meth:`edit`'s parameters."""
        return self._prepared_stream(*call_arguments("edit", locals()))

    # ------------------------------------------------------------------ Batch API jobs

    def submit_batch(self, items: Iterable[Any], **common: Any) -> BatchJob:
        """Run many requests as a Batch API job (half price, done within 24 h).

        Parameters
        ----------
        items : iterable
            Each a prompt string, or a dict: ``{"operation": "edit", "prompt": ...,
            "images": [...], "mask": ...}`` plus any per-item parameters (``size``,
            ``quality``, ``model``...). ``operation`` defaults to ``"edit"`` when the item
            has ``images``, else ``"generate"``.
        **common
            Parameters for every item (an item's own win), e.g. ``model="gpt-image-1.5"``.

        Returns
        -------
        BatchJob
            ``.wait()``, ``.results()`` (input order), ``.cancel()``, ``.estimate()``;
            ``client.get_batch(job.id)`` resumes it in a later process.

        Raises
        ------
        ValidationError
            Before anything is uploaded, naming every bad item by index (``items[3].size``).
        """
        return batch.submit(self, items, **common)

    def get_batch(self, id: str) -> BatchJob:
        """Resume a job by its ``batchjob_`` id or one of its ``batch_`` ids: from this
        history folder, else from the server (a job submitted from another machine)."""
        return batch.get_batch(self, id)

    def list_batches(self, limit: int = batch.LIST_LIMIT) -> list[BatchJob]:
        """The jobs this history folder remembers and the server lists (``GET /batches``,
        up to `limit` batches; 0 = the history only), newest first."""
        return batch.list_batches(self, limit)

    # ------------------------------------------------------------------ sync I/O

    def _execute(
        self,
        operation: str,
        model: str,
        params: dict[str, Any],
        on_partial: PartialCallback | None,
        options: RequestOptions,
    ) -> ImageResult:
        call = self._prepare(operation, model, params, on_partial, options)
        if call.cached is not None:  # answered by the request cache: nothing sent or reserved
            return call.cached
        result: ImageResult | None = None
        try:
            if call.request.stream:
                result = self._collect(self._stream(call), on_partial)
            else:
                result = self._fetch(call)
            return result
        finally:
            self._settle(call, result)

    def _fetch(self, call: Call) -> ImageResult:
        body = BodyBuffer(self._body_limit(call))
        response, call.attempts = self._transport.send(
            lambda: self._transport.api_request(call.request, call.options),
            stream=False,
            model=call.request.model,
            body=body,
            secrets=call.secrets,
            deadline=self._transport.deadline_for(call.options),
        )
        call.first_byte = time.perf_counter()
        payload = parse_payload(body, request_id_of(response), call.secrets)
        downloads = {
            index: self._download(url, call.options) for index, url in payload.urls().items()
        }
        return self._save_now(self._make_result(call, decode_items(payload, downloads)))

    def _download(self, url: str, options: RequestOptions = NO_OPTIONS) -> bytearray:
        """The bytes at a result URL, read into one buffer like an API answer (retried alike).

        A bare GET: no key, no extra header, none of an injected httpx client's headers,
        auth or cookies; so redirects (storage hosts use them) are followed, hop by hop.
        """
        body = BodyBuffer(download_limit(self._transport.max_response_bytes), "the result download")
        self._transport.download(url, options, body)
        return body.take_bytes()

    @staticmethod
    def _collect(events: Iterator[StreamEvent], on_partial: PartialCallback | None) -> ImageResult:
        result = None
        for event in events:
            if event.is_partial and on_partial is not None and event.image is not None:
                on_partial(event.index, event.image)
            elif event.is_completed:
                result = event.result
        assert result is not None  # _stream raises StreamError otherwise
        return result

    def _prepared_stream(
        self,
        operation: str,
        model: str,
        params: dict[str, Any],
        on_partial: PartialCallback | None,
        options: RequestOptions,
    ) -> Iterator[StreamEvent]:
        call = self._prepare(
            operation, model, {**params, "stream": True, "cache": False}, None, options
        )
        completed: ImageResult | None = None
        try:
            for event in self._stream(call):
                completed = event.result if event.is_completed else completed
                yield event
        finally:
            self._settle(call, completed)

    def _stream(self, call: Call) -> Iterator[StreamEvent]:
        deadline = self._transport.deadline_for(call.options)
        response, call.attempts = self._transport.send(
            lambda: self._transport.api_request(call.request, call.options),
            stream=True,
            model=call.request.model,
            secrets=call.secrets,
            deadline=deadline,
        )
        call.first_byte = time.perf_counter()
        run = self._stream_run(call, response, deadline)
        with contextlib.closing(response), contextlib.closing(run):
            try:
                for chunk in response.iter_bytes():
                    yield from run.feed(chunk)
            except httpx.HTTPError as exc:
                raise run.broken(exc) from exc
            decoded = run.finish()
        result = self._save_now(self._make_result(call, decoded))
        yield from run.completed_events(result)
