"""Fault injection for the offline server: reproducible misbehaviour to test clients against.

Two ways to ask for a fault:

* rules given to the server, ``OfflineServer(faults=[Fault("429", times=2, retry_after=1)])``:
  each rule fires for its first ``times`` matching requests, or — with ``rate`` — for each
  matching request with that probability, drawn from an RNG seeded by the server's ``seed``
  (so a run is reproducible);
* per request, the header ``x-offline-fault: <kind>[; key=value ...]``, e.g.
  ``x-offline-fault: 429; retry_after_ms=20`` or ``x-offline-fault: slow_headers; delay=0.2``.
  Keys are the :class:`Fault` fields. The header wins over the rules.

Faults apply to the image endpoints (``/v1/images/...``) only, unless a rule's ``path``
names another path. Kinds (see :data:`KINDS`):

``429``              429 ``rate_limit_exceeded`` with ``Retry-After`` (seconds, or an HTTP date
                     with ``retry_after_date``) and/or ``retry-after-ms``
``500`` ``502`` ``503``  a JSON ``server_error`` with that status (``status`` overrides)
``drop``             headers and half of the body, then the connection closes
``slow_headers``     sleeps ``delay`` seconds before answering normally
``truncate_stream``  a streamed answer ends (cleanly) without its ``completed`` event;
                     non-streamed requests are answered normally and do not use up the rule
``malformed_json``   200 with a body that is not valid JSON (streams: a malformed event)
``bad_base64``       200, valid JSON, but ``b64_json`` is not base64
``html_error``       502 with an HTML page, as a proxy in front of the API would send
``moderation``       400 ``moderation_blocked`` with ``moderation_details``
``quota``            429 ``insufficient_quota`` (retrying will not help)
``org_verification`` 403 "organization must be verified"

This module owns the rules (:class:`Fault`, :class:`FaultPlan`, the header) and what each kind
does to an answer (:func:`fault_response`, :func:`apply_output_fault`).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from email.utils import formatdate

from ..errors import ValidationError
from .responses import HTTPResponse, error_body, json_bytes, json_response

__all__ = [
    "FAULT_HEADER",
    "KINDS",
    "Fault",
    "FaultPlan",
    "apply_output_fault",
    "fault_response",
    "parse_fault_header",
]

FAULT_HEADER = "x-offline-fault"
#: Body bytes a ``drop`` fault lets through on a streamed answer before closing.
STREAM_DROP_BYTES = 64

KINDS: tuple[str, ...] = (
    "429",
    "500",
    "502",
    "503",
    "drop",
    "slow_headers",
    "truncate_stream",
    "malformed_json",
    "bad_base64",
    "html_error",
    "moderation",
    "quota",
    "org_verification",
)


@dataclass(frozen=True)
class Fault:
    """One fault rule.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS` (an int such as ``429`` is accepted and turned into ``"429"``).
    times : int or None
        Fire for the first ``times`` matching requests. Ignored when ``rate`` is given;
        None with no rate = every matching request.
    rate : float or None
        Fire for each matching request with this probability in ``[0, 1]`` (seeded RNG).
    status : int or None
        Overrides the HTTP status of the kinds that answer with an error status.
    retry_after : float or None
        ``Retry-After`` in seconds (429/503); default 0 for 429 so tests stay fast.
    retry_after_ms : int or None
        Also send ``retry-after-ms``.
    retry_after_date : bool
        Send ``Retry-After`` as an HTTP date (``retry_after`` seconds from now).
    path : str or None
        Only requests whose path ends with this (``"/images/edits"``); None = image endpoints.
    delay : float
        Seconds ``slow_headers`` waits before answering.
    """

    kind: str
    times: int | None = 1
    rate: float | None = None
    status: int | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    retry_after_date: bool = False
    path: str | None = None
    delay: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", str(self.kind))
        if self.kind not in KINDS:
            raise ValidationError(
                f"unknown fault kind {self.kind!r}; use one of {', '.join(KINDS)}",
                param="kind",
                value=self.kind,
            )
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValidationError(
                f"fault rate {self.rate!r} is not a probability; use a number in [0, 1]",
                param="rate",
                value=self.rate,
            )

    def matches(self, path: str) -> bool:
        """True when this rule covers a request to ``path``."""
        if self.path is None:
            return "/images/" in path
        return path.rstrip("/").endswith(self.path.rstrip("/"))

    def applies_to(self, *, stream: bool) -> bool:
        """False when the kind makes no sense here (``truncate_stream`` on a plain request)."""
        return stream or self.kind != "truncate_stream"


class FaultPlan:
    """The server's fault rules, with their counters and seeded RNG (thread-safe)."""

    def __init__(self, faults: Iterable[Fault | str] | None = None, *, seed: int = 0) -> None:
        self._rules = [f if isinstance(f, Fault) else Fault(f) for f in (faults or ())]
        self._fired = [0] * len(self._rules)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def rules(self) -> list[Fault]:
        """The rules, in the order they are tried."""
        return list(self._rules)

    def pick(self, path: str, *, stream: bool, header: str | None = None) -> Fault | None:
        """The fault for this request, or None. A header fault wins over the rules."""
        if header:
            fault = parse_fault_header(header)
            return fault if fault.applies_to(stream=stream) else None
        with self._lock:
            for number, rule in enumerate(self._rules):
                if rule.matches(path) and rule.applies_to(stream=stream) and self._fires(number):
                    return rule
        return None

    def _fires(self, number: int) -> bool:
        rule = self._rules[number]
        if rule.rate is not None:
            return self._random.random() < rule.rate
        if rule.times is None or self._fired[number] < rule.times:
            self._fired[number] += 1
            return True
        return False

    def reset(self, seed: int = 0) -> None:
        """Rewind every rule's counter and the RNG."""
        with self._lock:
            self._random.seed(seed)
            self._fired = [0] * len(self._rules)


_FIELD_TYPES: Mapping[str, type] = {
    "times": int,
    "rate": float,
    "status": int,
    "retry_after": float,
    "retry_after_ms": int,
    "delay": float,
    "path": str,
}


def parse_fault_header(value: str) -> Fault:
    """A :class:`Fault` from an ``x-offline-fault`` header value.

    ``"429; retry_after=2"``, ``"503; status=504"``, ``"429; retry_after_date=1"``.

    Raises
    ------
    ValidationError
        For an unknown kind, an unknown key or a value of the wrong type.
    """
    kind, *options = [item.strip() for item in value.split(";")]
    try:
        fault = Fault(kind)
    except ValidationError as exc:
        message = f"{FAULT_HEADER}: {exc.message}"
        raise ValidationError(message, param=FAULT_HEADER, value=value) from None
    known = {f.name for f in fields(Fault)} - {"kind"}
    changes: dict[str, object] = {}
    for option in filter(None, options):
        key, _, raw = (s.strip() for s in option.partition("="))
        key = key.replace("-", "_").lower()
        if key not in known:
            raise ValidationError(
                f"unknown {FAULT_HEADER} option {key!r}; use {', '.join(sorted(known))}",
                param=FAULT_HEADER,
                value=value,
            )
        changes[key] = _convert_option(key, raw, value)
    return replace(fault, **changes) if changes else fault  # type: ignore[arg-type]


def _convert_option(key: str, raw: str, header: str) -> object:
    if key == "retry_after_date":
        return raw.lower() in ("1", "true", "yes", "")
    try:
        return _FIELD_TYPES[key](raw)
    except ValueError:
        raise ValidationError(
            f"{FAULT_HEADER} option {key}={raw!r} is not a valid {_FIELD_TYPES[key].__name__}",
            param=FAULT_HEADER,
            value=header,
        ) from None


# --------------------------------------------------------------------------- answers


_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_ORG_VERIFICATION = (
    "Your organization must be verified to use the model `{model}`. Please go to: "
    "https://platform.openai.com/settings/organization/general and click on Verify "
    "Organization. If you just verified, it can take up to 15 minutes for access to propagate."
)


def _retry_after_headers(fault: Fault, default_seconds: float | None) -> list[tuple[str, str]]:
    headers = []
    seconds = fault.retry_after if fault.retry_after is not None else default_seconds
    if seconds is not None:
        value = (
            formatdate(time.time() + seconds, usegmt=True)
            if fault.retry_after_date
            else f"{seconds:g}"
        )
        headers.append(("retry-after", value))
    if fault.retry_after_ms is not None:
        headers.append(("retry-after-ms", str(fault.retry_after_ms)))
    return headers


def fault_response(fault: Fault) -> HTTPResponse | None:
    """The whole answer for faults that replace the response; None for the others."""
    kind = fault.kind
    if kind == "429":
        response = json_response(
            fault.status or 429,
            error_body(
                "Rate limit reached for images per minute. Please try again in a moment.",
                type="requests",
                code="rate_limit_exceeded",
            ),
        )
        response.headers += _retry_after_headers(fault, 0)
        return response
    if kind in ("500", "502", "503"):
        response = json_response(
            fault.status or int(kind), error_body(_SERVER_ERROR, type="server_error")
        )
        response.headers += _retry_after_headers(fault, None)
        return response
    if kind == "html_error":
        return HTTPResponse(fault.status or 502, [("content-type", "text/html")], _HTML_502)
    if kind == "moderation":
        return json_response(
            fault.status or 400,
            error_body(
                "Your request was rejected by the safety system. safety_violations=[violence].",
                type="image_generation_user_error",
                code="moderation_blocked",
                moderation_details={"stage": "input", "categories": ["violence"]},
            ),
        )
    if kind == "quota":
        return json_response(
            fault.status or 429,
            error_body(
                "You exceeded your current quota, please check your plan and billing details.",
                type="insufficient_quota",
                code="insufficient_quota",
            ),
        )
    if kind == "org_verification":
        return json_response(
            fault.status or 403,
            error_body(_ORG_VERIFICATION.format(model="gpt-image-2"), type="invalid_request_error"),
        )
    return None


def apply_output_fault(fault: Fault, response: HTTPResponse) -> None:
    """Spoil a successful ``response`` in place as ``fault`` says."""
    if fault.kind == "drop":
        response.drop_after = (
            STREAM_DROP_BYTES if response.chunks is not None else max(1, len(response.body) // 2)
        )
    elif fault.kind == "malformed_json":
        if response.chunks is not None:
            response.chunks = _malformed_stream(response.chunks)
        else:
            response.body = response.body[: max(1, len(response.body) // 2)]
    elif fault.kind == "bad_base64":
        if response.chunks is not None:
            response.chunks = _bad_base64_stream(response.chunks)
        else:
            response.body = _spoil_b64(response.body)


def _spoil_b64(body: bytes) -> bytes:
    payload = json.loads(body)
    for item in payload.get("data", []):
        if "b64_json" in item:
            item["b64_json"] = "!!not-base64@@" + item["b64_json"][:16]
    return json_bytes(payload)


def _malformed_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    first = next(chunks, None)
    if first is not None:
        yield first[: max(8, len(first) // 2)] + b"\n\n"


def _bad_base64_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        head, _, data = chunk.partition(b"data: ")
        payload = json.loads(data)
        payload["b64_json"] = "!!not-base64@@"
        yield head + b"data: " + json_bytes(payload) + b"\n\n"
