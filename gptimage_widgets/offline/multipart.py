"""A small, strict ``multipart/form-data`` parser (RFC 7578) for the offline server.

The stdlib's ``cgi`` module is gone in Python 3.13 and ``email``'s MIME parser is slow and
lenient on binary bodies, so the body is split on its boundary with ``bytes.split`` (done in
C, linear in the body size) and only each part's small header block goes through
:mod:`email`'s header parser, which handles quoting and RFC 2231 file names. Binary file
content is never decoded. Every malformation raises
:class:`~gptimage_widgets.errors.ValidationError` saying what is wrong; the server answers 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import HTTP

from ..errors import ValidationError

__all__ = ["MultipartForm", "Part", "parse_content_type", "parse_multipart"]

#: Most parts one request may have (16 reference images, a mask and the text fields).
MAX_PARTS = 64
#: Largest header block of one part.
MAX_PART_HEADER_BYTES = 16 * 1024


@dataclass(frozen=True)
class Part:
    """One part of a multipart body.

    Attributes
    ----------
    name : str
        The form field name (``"image[]"``, ``"prompt"``...).
    filename : str or None
        None for plain form fields.
    content_type : str or None
        The part's ``Content-Type`` as sent (lower case), None when absent.
    data : bytes
        The raw content.
    """

    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def is_file(self) -> bool:
        """True for file uploads (parts that carry a filename)."""
        return self.filename is not None


@dataclass(frozen=True)
class MultipartForm:
    """A parsed body: text ``fields`` by name (a repeated name keeps its last value), ``files``."""

    fields: dict[str, str]
    files: list[Part]

    def files_named(self, *names: str) -> list[Part]:
        """The file parts whose field name is one of ``names``, in body order."""
        return [p for p in self.files if p.name in names]


def parse_content_type(header: str) -> tuple[str, dict[str, str]]:
    """Split a ``Content-Type`` header into its lower-case media type and its parameters."""
    message = Message()
    message["content-type"] = header
    params = {
        str(key).lower(): str(value)
        for key, value in (message.get_params() or [])[1:]  # first pair is the media type
    }
    return message.get_content_type(), params


def parse_multipart(body: bytes, boundary: str) -> MultipartForm:
    """Parse a ``multipart/form-data`` body.

    Parameters
    ----------
    body : bytes
        The whole request body.
    boundary : str
        The ``boundary`` parameter of the request's ``Content-Type``.

    Raises
    ------
    ValidationError
        When the boundary is missing or invalid, the closing delimiter is missing, a part
        lacks a ``Content-Disposition`` name, or there are more than :data:`MAX_PARTS` parts.
    """
    delimiter = _delimiter(boundary)
    segments = (b"\r\n" + body).split(b"\r\n" + delimiter)
    if len(segments) < 2:
        raise _bad(f"the body does not contain the boundary {boundary!r}; send a complete form")
    if len(segments) - 2 > MAX_PARTS:
        raise _bad(f"the form has more than {MAX_PARTS} parts; send at most {MAX_PARTS}")
    *parts, closing = segments[1:]
    if not closing.startswith(b"--"):
        raise _bad("the form ends without its closing boundary; the body was truncated")
    fields: dict[str, str] = {}
    files: list[Part] = []
    for raw in parts:
        part = _parse_part(raw)
        if part.is_file:
            files.append(part)
        else:
            fields[part.name] = part.data.decode("utf-8", errors="replace")
    return MultipartForm(fields, files)


def _delimiter(boundary: str) -> bytes:
    if not boundary or len(boundary) > 200:
        raise _bad("the multipart Content-Type has no valid boundary parameter")
    try:
        return b"--" + boundary.encode("ascii")
    except UnicodeEncodeError:
        raise _bad("the multipart boundary must be ASCII") from None


def _parse_part(raw: bytes) -> Part:
    """One segment between two delimiters: optional padding, CRLF, headers, blank line, data."""
    line_end = raw.find(b"\r\n")
    if line_end < 0 or raw[:line_end].strip(b" \t"):
        raise _bad("a form part does not start on a new line after its boundary")
    header_end = raw.find(b"\r\n\r\n", line_end)
    if header_end < 0:
        raise _bad("a form part has no blank line between its headers and its content")
    header_block = raw[line_end + 2 : header_end + 2]
    if len(header_block) > MAX_PART_HEADER_BYTES:
        raise _bad("a form part has oversized headers")
    headers = BytesHeaderParser(policy=HTTP).parsebytes(header_block)
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise _bad("a form part has no Content-Disposition name; every part needs one")
    filename = headers.get_filename()
    content_type = headers.get("content-type")
    return Part(
        name=name,
        filename=filename,
        content_type=str(content_type).split(";")[0].strip().lower() if content_type else None,
        data=raw[header_end + 4 :],
    )


def _bad(message: str) -> ValidationError:
    return ValidationError(f"Invalid multipart form: {message}.", param="body")
