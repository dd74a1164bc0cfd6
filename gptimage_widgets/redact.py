"""The one home of "what is a secret": API keys and tokens are never printed, stored or shown.

Every place that prints, logs, stores or displays text (error messages, the CLI, the history
store, the studio, the offline server's request log) asks this module, so a new kind of key is
one edit here.

Pure module: standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "is_secret_name", "looks_like_key", "redact", "redact_tree"]

#: What a secret is replaced with.
REDACTED = "[redacted]"

#: Substrings that look like a credential: OpenAI keys (``sk-...``, ``sk-proj-...``), bearer
#: tokens, and JWTs (Azure AD tokens).
_KEY_LIKE = re.compile(
    r"\bsk-[A-Za-z0-9_\-*.]{6,}"
    r"|\bBearer\s+(?!\[redacted\])[A-Za-z0-9._~+/=\-]+"
    r"|\beyJ[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-.]+"
)
#: Names of mapping keys and headers whose values are secrets.
_SECRET_NAME = re.compile(
    r"api[_-]?key|authorization|secret|password|passwd|access[_-]?token|bearer|cookie"
    r"|(?:^|[-_])(?:auth|token|key)(?:[-_]|$)",
    re.IGNORECASE,
)
#: Explicit secrets shorter than this are not searched for (they would match ordinary text).
_MIN_SECRET_CHARS = 8


def looks_like_key(value: Any) -> bool:
    """True when ``value`` is a string that is, as a whole, an API key or token."""
    return isinstance(value, str) and _KEY_LIKE.fullmatch(value.strip()) is not None


def is_secret_name(name: Any) -> bool:
    """True for a header or field name that carries a credential (``api-key``, ``Cookie``)."""
    return _SECRET_NAME.search(str(name)) is not None


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every given secret and every key-like substring replaced by ``[redacted]``.

    Parameters
    ----------
    text : str
        Any text about to be printed, logged, stored or displayed.
    secrets : iterable of str or None
        Known secrets (the client's API key) to remove wherever they appear, even when they
        do not look like a key. ``None`` and values shorter than 8 characters are ignored.

    Returns
    -------
    str
        The text without secrets; a bearer token keeps its ``Bearer`` word.
    """
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_CHARS:
            text = text.replace(secret, REDACTED)
    return _KEY_LIKE.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    return "Bearer " + REDACTED if match.group(0).startswith("Bearer") else REDACTED


def redact_tree(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """A JSON-like copy of ``value`` without secrets.

    Mapping entries whose key is a secret name (:func:`is_secret_name`) or whose value is a
    key are dropped; in lists such values become ``[redacted]`` (lists keep their length, so
    they stay aligned with images); strings pass through :func:`redact`.
    """
    secrets = tuple(secrets)
    if isinstance(value, Mapping):
        return {
            key: redact_tree(item, secrets)
            for key, item in value.items()
            if not is_secret_name(key) and not looks_like_key(item)
        }
    if isinstance(value, (list, tuple)):
        return [REDACTED if looks_like_key(item) else redact_tree(item, secrets) for item in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value
