"""The incremental SSE decoder and the image-event layer on top of it."""

from __future__ import annotations

import base64
import io
import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gptimage_widgets.errors import StreamError
from gptimage_widgets.sse import ImageEventStream, SSEDecoder, SSEMessage


def decode_all(chunks: list[bytes]) -> list[SSEMessage]:
    decoder = SSEDecoder()
    messages = []
    for chunk in chunks:
        messages.extend(decoder.feed(chunk))
    return messages + decoder.flush()


def png_b64(color: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def sse(event: str, payload: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


# --------------------------------------------------------------------------- decoder


def test_event_and_data_fields() -> None:
    [message] = decode_all([b"event: ping\ndata: hello\n\n"])
    assert message == SSEMessage(event="ping", data="hello")


def test_default_event_name_is_message() -> None:
    [message] = decode_all([b"data: x\n\n"])
    assert message.event == "message"


def test_multi_line_data_is_joined_with_newlines() -> None:
    [message] = decode_all([b"data: first\ndata: second\ndata:third\n\n"])
    assert message.data == "first\nsecond\nthird"


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending(eol: bytes) -> None:
    stream = eol.join([b"event: a", b"data: 1", b"", b"data: 2", b"", b""])
    assert [(m.event, m.data) for m in decode_all([stream])] == [("a", "1"), ("message", "2")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    messages = decode_all([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert [m.data for m in messages] == ["a\nb"]


def test_lone_cr_at_chunk_end_then_other_byte() -> None:
    messages = decode_all([b"data: a\r", b"data: b\r\r"])
    assert [m.data for m in messages] == ["a\nb"]


def test_comments_and_keepalives_are_ignored() -> None:
    messages = decode_all([b": keep-alive\n\n:another\ndata: x\n: mid\n\n"])
    assert [m.data for m in messages] == ["x"]


def test_field_without_colon_and_without_space() -> None:
    [message] = decode_all([b"data\ndata:x\n\n"])
    assert message.data == "\nx"


def test_only_one_leading_space_is_stripped() -> None:
    [message] = decode_all([b"data:  two spaces\n\n"])
    assert message.data == " two spaces"


def test_id_and_retry_fields() -> None:
    [first, second] = decode_all([b"id: 7\nretry: 1500\ndata: a\n\ndata: b\n\n"])
    assert (first.id, first.retry) == ("7", 1500)
    assert second.id == "7"  # the last event id persists


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert decode_all([b"\n\n\nevent: lonely\n\n\n"]) == []


def test_event_name_resets_after_dispatch() -> None:
    messages = decode_all([b"event: a\ndata: 1\n\ndata: 2\n\n"])
    assert [m.event for m in messages] == ["a", "message"]


def test_flush_dispatches_a_complete_message_without_the_final_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail\n") == []
    assert [m.data for m in decoder.flush()] == ["tail"]


def test_flush_processes_an_unterminated_last_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: cut") == []
    assert [m.data for m in decoder.flush()] == ["cut"]


def test_utf8_split_inside_a_character() -> None:
    raw = "data: héllo €\n\n".encode()
    cut = raw.index("€".encode()) + 1
    [message] = decode_all([raw[:cut], raw[cut:]])
    assert message.data == "héllo €"


def test_multi_megabyte_data_line_in_small_chunks() -> None:
    payload = base64.b64encode(np.random.default_rng(0).bytes(6_000_000))
    stream = b"event: big\ndata: " + payload + b"\r\n\r\n"
    chunks = [stream[i : i + 65_536] for i in range(0, len(stream), 65_536)]
    [message] = decode_all(chunks)
    assert message.event == "big"
    assert message.data.encode() == payload


def test_feed_keeps_pieces_of_a_long_line_without_joining_them() -> None:
    decoder = SSEDecoder()
    for _ in range(100):
        decoder.feed(b"x" * 1000)
    # the growing line is held as a list of chunk references, never re-joined per chunk
    assert len(decoder._line_parts) == 100


def test_data_values_decode_like_the_whatwg_field_rules() -> None:
    stream = b"data:\ndata: \ndata:\tt\ndata: bad \xff\xfe byte\ndata:: colon\n\n"
    [message] = decode_all([stream])
    assert message.data.split("\n") == ["", "", "\tt", "bad \ufffd\ufffd byte", ": colon"]


def reference_field(line: bytes) -> tuple[bytes, str]:
    """The WHATWG split of one line into field name and value, written the obvious way."""
    name, colon, value = line.partition(b":")
    if colon and value.startswith(b" "):
        value = value[1:]
    return name, value.decode("utf-8", errors="replace")


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.binary(max_size=20).filter(lambda b: b"\r" not in b and b"\n" not in b)))
def test_data_lines_of_any_bytes_match_the_reference_split(values: list[bytes]) -> None:
    lines = [b"data:" + value for value in values]
    expected = [reference_field(line)[1] for line in lines]
    messages = decode_all([b"\n".join(lines) + b"\n\n"])
    assert [m.data for m in messages] == (["\n".join(expected)] if lines else [])


def test_a_long_data_line_is_held_at_most_twice_while_it_is_decoded() -> None:
    """Join + text only: slicing the line before decoding would hold it three times."""
    payload = base64.b64encode(np.random.default_rng(1).bytes(3_000_000))  # 4 MB of base64
    stream = b"event: big\ndata: " + payload + b"\n\n"
    chunks = [stream[i : i + 65_536] for i in range(0, len(stream), 65_536)]
    decoder = SSEDecoder()
    tracemalloc.start()
    try:
        messages = [m for chunk in chunks for m in decoder.feed(chunk)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [m.data for m in messages] == [payload.decode()]
    assert peak < 2.5 * len(payload), f"peak {peak / len(payload):.2f}x the data line"


_lines = st.lists(
    st.one_of(
        st.text(alphabet='abc é{}":,', max_size=12).map(lambda t: "data: " + t),
        st.sampled_from(["event: x", "event: y", ": comment", "id: 3", "retry: 10", ""]),
    ),
    max_size=25,
)


@settings(max_examples=120, deadline=None)
@given(
    lines=_lines,
    eol=st.sampled_from([b"\n", b"\r", b"\r\n"]),
    cuts=st.lists(st.integers(0, 400), max_size=12),
)
def test_chunking_never_changes_the_messages(lines: list[str], eol: bytes, cuts: list[int]) -> None:
    stream = eol.join(line.encode() for line in lines) + eol + eol
    points = sorted({c for c in cuts if c <= len(stream)})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert decode_all(chunks) == decode_all([stream])


@settings(max_examples=40, deadline=None)
@given(lines=_lines)
def test_byte_by_byte_equals_whole(lines: list[str]) -> None:
    stream = "\r\n".join(lines).encode() + b"\r\n\r\n"
    assert decode_all([stream[i : i + 1] for i in range(len(stream))]) == decode_all([stream])


# --------------------------------------------------------------------------- image events


def test_partial_and_completed_generation_events() -> None:
    stream = ImageEventStream("generate")
    body = sse(
        "image_generation.partial_image",
        {
            "type": "image_generation.partial_image",
            "b64_json": png_b64((255, 0, 0)),
            "partial_image_index": 0,
        },
    ) + sse(
        "image_generation.completed",
        {
            "type": "image_generation.completed",
            "b64_json": png_b64((0, 0, 255)),
            "usage": {"input_tokens": 10, "output_tokens": 272, "total_tokens": 282},
            "size": "1024x1024",
        },
    )
    events = stream.feed(body[:50]) + stream.feed(body[50:]) + stream.finish()
    partial, completed = events
    assert partial.is_partial and partial.index == 0
    assert partial.image is not None and partial.image.shape == (6, 8, 3)
    assert partial.image[0, 0].tolist() == [255, 0, 0]
    assert completed.is_completed and completed.index == 0
    assert completed.image is not None and completed.image[3, 4].tolist() == [0, 0, 255]
    assert completed.usage == {"input_tokens": 10, "output_tokens": 272, "total_tokens": 282}
    assert "b64_json" not in completed.raw and completed.raw["size"] == "1024x1024"
    assert (stream.partial_count, stream.completed_count) == (1, 1)


def test_edit_events_and_type_from_event_field_when_json_has_none() -> None:
    stream = ImageEventStream("edit")
    body = (
        b"event: image_edit.completed\ndata: "
        + json.dumps({"b64_json": png_b64((1, 2, 3))}).encode()
        + b"\n\n"
    )
    [event] = stream.feed(body)
    assert event.type == "image_edit.completed"


def test_done_marker_and_unknown_events_are_skipped() -> None:
    stream = ImageEventStream()
    assert stream.feed(b'data: {"type": "response.heartbeat"}\n\ndata: [DONE]\n\n') == []


def test_stream_without_completed_event_raises_stream_error() -> None:
    stream = ImageEventStream("edit")
    stream.feed(
        sse(
            "image_edit.partial_image",
            {"type": "image_edit.partial_image", "b64_json": png_b64((9, 9, 9))},
        )
    )
    with pytest.raises(StreamError, match=r"1 partial image.*image_edit\.completed"):
        stream.finish()


def test_malformed_json_raises_stream_error() -> None:
    with pytest.raises(StreamError, match=r"not valid JSON.*retry the request"):
        ImageEventStream().feed(b'data: {"type": "image_generation.completed", "b64\n\n')


def test_non_object_json_raises_stream_error() -> None:
    with pytest.raises(StreamError, match="not a JSON object"):
        ImageEventStream().feed(b"data: [1, 2]\n\n")


def test_missing_or_garbage_image_raises_stream_error() -> None:
    with pytest.raises(StreamError, match="no b64_json"):
        ImageEventStream().feed(b'data: {"type": "image_generation.completed"}\n\n')
    with pytest.raises(StreamError, match=r"image could not be decoded.*; retry the request$"):
        ImageEventStream().feed(
            b'data: {"type": "image_generation.completed", "b64_json": "bm90IGFuIGltYWdl"}\n\n'
        )


def _partial(index: int) -> bytes:
    payload = {
        "type": "image_generation.partial_image",
        "b64_json": png_b64((index * 40, 0, 0)),
        "partial_image_index": index,
    }
    return sse("image_generation.partial_image", payload)


MALFORMED = b'data: {"type": "image_generation.partial_image", "b64\n\n'


def test_good_events_before_a_malformed_one_in_a_chunk_are_handed_out_first() -> None:
    stream = ImageEventStream()
    events = stream.feed(_partial(0) + _partial(1) + MALFORMED)
    assert [(e.type, e.index, int(e.image[0, 0, 0])) for e in events] == [
        ("image_generation.partial_image", 0, 0),
        ("image_generation.partial_image", 1, 40),
    ]
    with pytest.raises(StreamError, match="not valid JSON"):
        stream.feed(b": keep-alive\n")
    stream = ImageEventStream()
    assert len(stream.feed(_partial(0) + MALFORMED)) == 1
    with pytest.raises(StreamError, match="not valid JSON"):
        stream.finish()  # the end of the body raises what feed held back


def test_events_after_a_malformed_one_are_parsed_by_the_next_call_in_order() -> None:
    stream = ImageEventStream()
    with pytest.raises(StreamError):
        stream.feed(MALFORMED + _partial(0))  # nothing good before it: raised at once
    # the message after the malformed one is not dropped: it comes first, then the new one
    assert [e.index for e in stream.feed(_partial(1))] == [0, 1]


def test_error_event_is_reported_not_raised_here() -> None:
    payload = {"type": "error", "error": {"message": "blocked", "code": "moderation_blocked"}}
    stream = ImageEventStream()
    [event] = stream.feed(f"data: {json.dumps(payload)}\n\n".encode())
    assert event.is_error and event.raw["error"]["code"] == "moderation_blocked"
    assert stream.finish() == []  # an error explains itself; no extra "incomplete" error
