"""The one exception family: hierarchy, status mapping and messages."""

from __future__ import annotations

import pytest

import gptimage_widgets as giw
from gptimage_widgets.errors import Problem, status_error_class


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, giw.BadRequestError),
        (401, giw.AuthenticationError),
        (403, giw.PermissionDeniedError),
        (404, giw.NotFoundError),
        (409, giw.ConflictError),
        (422, giw.UnprocessableEntityError),
        (429, giw.RateLimitError),
        (500, giw.InternalServerError),
        (502, giw.InternalServerError),
        (503, giw.InternalServerError),
        (418, giw.APIStatusError),
    ],
)
def test_status_error_class(status: int, cls: type) -> None:
    assert status_error_class(status) is cls


def test_every_error_is_a_gptimage_error() -> None:
    from gptimage_widgets import errors

    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, giw.GPTImageError), name


def test_request_id_is_part_of_the_message() -> None:
    err = giw.InternalServerError("server error; retry later", request_id="req_123")
    assert str(err) == "server error; retry later (request id: req_123)"
    assert err.request_id == "req_123"
    assert err.status_code == 500


def test_status_code_can_be_overridden_for_5xx() -> None:
    err = giw.InternalServerError("bad gateway", status_code=502)
    assert err.status_code == 502


def test_validation_error_lists_every_problem() -> None:
    problems = [
        Problem("size", "1000x1000", "size 1000x1000: edges must be multiples of 16"),
        Problem("n", 11, "n 11 is out of range; use 1 to 10"),
    ]
    err = giw.ValidationError(problems)
    assert err.params == ["size", "n"]
    assert "2 problems" in str(err)
    assert "multiples of 16" in str(err) and "1 to 10" in str(err)
    assert isinstance(err, ValueError)


def test_validation_error_from_a_single_message() -> None:
    err = giw.ValidationError("mask must be 2-D", param="mask", value=(3, 3, 3))
    assert str(err) == "mask must be 2-D"
    assert err.problems[0].param == "mask"


def test_moderation_and_quota_errors_carry_details() -> None:
    mod = giw.ModerationError(
        "blocked", stage="input", categories=["violence"], code="moderation_blocked"
    )
    assert isinstance(mod, giw.BadRequestError)
    assert mod.categories == ["violence"] and mod.stage == "input"
    quota = giw.QuotaError("out of credit", code="insufficient_quota")
    assert isinstance(quota, giw.RateLimitError) and quota.status_code == 429
