"""The one home of secrets: what redact() removes and which names count as credentials."""

from __future__ import annotations

import pytest

from gptimage_widgets.redact import REDACTED, is_secret_name, looks_like_key, redact, redact_tree

FAKE_KEY = "sk-" + "proj-" + "a1b2c3d4e5f6"


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "api-key",
        "api_key",
        "Cookie",
        "x-auth-token",
        "x-api-token",
        "x-session-token",
        "x-amz-security-token",
        "ocp-apim-subscription-key",
        "x-key",
    ],
)
def test_credential_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["output_tokens", "input_tokens_details", "content-type", "x-request-id", "author", "monkey"],
)
def test_ordinary_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_redact_removes_keys_tokens_and_given_secrets() -> None:
    text = f"key {FAKE_KEY}, header Bearer abc.def, custom hunter2hunter2"
    out = redact(text, secrets=["hunter2hunter2", None])
    assert FAKE_KEY not in out and "abc.def" not in out and "hunter2" not in out
    assert out == f"key {REDACTED}, header Bearer {REDACTED}, custom {REDACTED}"


def test_redact_leaves_short_given_secrets_alone() -> None:
    assert redact("a b c", secrets=["b"]) == "a b c"


def test_redact_tree_drops_secret_entries_and_keeps_list_length() -> None:
    tree = {"api_key": "x", "prompt": f"my key is {FAKE_KEY}", "extra": [FAKE_KEY, "keep"]}
    assert redact_tree(tree) == {"prompt": f"my key is {REDACTED}", "extra": [REDACTED, "keep"]}
    assert looks_like_key(FAKE_KEY) and not looks_like_key("a cat")
