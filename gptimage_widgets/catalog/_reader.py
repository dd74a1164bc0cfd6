"""Typed reading of one mapping (a ``models.json`` entry or a part of it), for the loader.

:class:`_Reader` collects every malformed field as a
:class:`~gptimage_widgets.errors.Problem` with its path instead of raising at the first;
:func:`_did_you_mean` is the catalog's close-match hint. Used by
:mod:`gptimage_widgets.catalog.loading` (and the registry's and lifecycle's messages). Pure
module: stdlib only.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..errors import Problem

_MISSING: Any = object()


def _type_name(value: Any) -> str:
    return type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a close match exists, else ``""``."""
    matches = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


class _Reader:
    """Reads typed fields out of one mapping, collecting every problem instead of raising.

    Parameters
    ----------
    data : Mapping
        The mapping to read.
    where : str
        Its path for messages, e.g. ``"gpt-x.params.size"``.
    problems : list of Problem
        Shared list that collects what is wrong.
    """

    def __init__(self, data: Mapping[str, Any], where: str, problems: list[Problem]) -> None:
        self.data = data
        self.where = where
        self.problems = problems

    def fail(self, key: str, value: Any, expected: str) -> None:
        path = f"{self.where}.{key}" if self.where else key
        self.problems.append(
            Problem(path, value, f"{path} must be {expected}, got {value!r} ({_type_name(value)})")
        )

    def get(
        self, key: str, test: Callable[[Any], bool], expected: str, default: Any = _MISSING
    ) -> Any:
        """The value at ``key`` when ``test`` accepts it, else ``default`` after noting why."""
        if key not in self.data:
            if default is _MISSING:
                path = f"{self.where}.{key}" if self.where else key
                self.problems.append(Problem(path, None, f"{path} is required ({expected})"))
                return None
            return default
        value = self.data[key]
        if not test(value):
            self.fail(key, value, expected)
            return default if default is not _MISSING else None
        return value

    def text(self, key: str, default: Any = _MISSING, *, nonempty: bool = True) -> Any:
        def ok(v: Any) -> bool:
            return isinstance(v, str) and (bool(v.strip()) or not nonempty)

        return self.get(key, ok, "a non-empty string" if nonempty else "a string", default)

    def optional_text(self, key: str) -> str | None:
        return self.get(key, lambda v: v is None or isinstance(v, str), "a string or null", None)

    def flag(self, key: str, default: bool) -> bool:
        return bool(self.get(key, lambda v: isinstance(v, bool), "true or false", default))

    def whole(self, key: str, default: Any = _MISSING, *, minimum: int = 0) -> Any:
        return self.get(
            key, lambda v: _is_int(v) and v >= minimum, f"a whole number >= {minimum}", default
        )

    def strings(self, key: str, default: Sequence[str], allowed: Sequence[str] = ()) -> tuple:
        def ok(v: Any) -> bool:
            if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v):
                return False
            return len(set(v)) == len(v) and (not allowed or set(v) <= set(allowed))

        expected = "a list of distinct strings"
        if allowed:
            expected += " among " + ", ".join(repr(a) for a in allowed)
        return tuple(self.get(key, ok, expected, list(default)))

    def unknown_keys(self, known: Iterable[str]) -> None:
        known = list(known)
        for key in self.data:
            if key not in known:
                path = f"{self.where}.{key}" if self.where else str(key)
                hint = _did_you_mean(str(key), known)
                self.problems.append(
                    Problem(
                        path,
                        key,
                        f"{path} is not a known field{hint or ''}"
                        + ("" if hint else "; known fields: " + ", ".join(known)),
                    )
                )
