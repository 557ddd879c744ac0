"""Pure DICOMweb plumbing with no ORM: Accept negotiation, multipart/related writing, an
incremental multipart/related reader (STOW-RS bodies are never held in memory whole), and the
DICOM JSON model (PS3.18 Annex F) of query results.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
DICOM_JSON = "application/dicom+json"


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class MediaError(ValueError):
    """A malformed request body or header; the message names what is wrong."""


# ---------------------------------------------------------------------------------------------
# Accept / Content-Type


@dataclass(frozen=True)
class MediaRange:
    type: str  # "multipart/related", "application/dicom", "*/*"
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0


_PARAM = re.compile(r'\s*;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)')


def parse_media_type(value: str) -> MediaRange:
    """One media type with its parameters (quoted values unquoted, names lower-cased)."""
    main, _, rest = value.strip().partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest if rest else ""):
        raw = match.group(2)
        params[match.group(1).lower()] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
    q = params.pop("q", "1")
    try:
        quality = float(q)
    except ValueError:
        quality = 1.0
    return MediaRange(type=main.strip().lower(), params=params, q=quality)


def _split_accept(header: str) -> list[str]:
    """Split on commas outside quotes (type="application/dicom" may be quoted)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def parse_accept(header: str | None) -> list[MediaRange]:
    if not header:
        return [MediaRange(type="*/*")]
    ranges = [parse_media_type(part) for part in _split_accept(header)]
    return sorted((r for r in ranges if r.q > 0), key=lambda r: -r.q)


def _type_matches(pattern: str, offered: str) -> bool:
    if pattern in ("*/*", "*"):
        return True
    main, _, sub = pattern.partition("/")
    o_main, _, o_sub = offered.partition("/")
    return main == o_main and sub in ("*", o_sub)


def accepts(ranges: Iterable[MediaRange], offered: str, *, part_type: str | None = None,
            transfer_syntax: str | None = None) -> bool:
    """Whether the client accepts `offered` (a `multipart/related` with parts of `part_type`, or a
    single-part type); a transfer-syntax parameter must be `*` or the one we serve."""
    for accepted in ranges:
        if part_type is None:
            if not _type_matches(accepted.type, offered):
                continue
        elif accepted.type == "multipart/related":
            if not _type_matches(accepted.params.get("type", part_type).lower(), part_type):
                continue
        elif not _type_matches(accepted.type, "multipart/related"):
            continue
        syntax = accepted.params.get("transfer-syntax")
        if transfer_syntax is not None and syntax not in (None, "*", transfer_syntax):
            continue
        return True
    return False


# ---------------------------------------------------------------------------------------------
# multipart/related out


def new_boundary() -> str:
    return f"mammolab-{secrets.token_hex(12)}"


def multipart_stream(parts: Iterable[tuple[str, Callable[[], Iterator[bytes]]]], *,
                     boundary: str) -> Iterator[bytes]:
    """`parts` = (part Content-Type, a function giving its body in chunks), opened lazily one
    after the other so that only one stored file is open and nothing is read whole."""
    for content_type, body in parts:
        yield f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        yield from body()
    yield f"\r\n--{boundary}--\r\n".encode()


def multipart_content_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'


# ---------------------------------------------------------------------------------------------
# multipart/related in (STOW-RS)


@dataclass
class Part:
    headers: dict[str, str]
    size: int = 0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def _read_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MediaError(f"malformed part header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def multipart_parts(stream: Readable, *, boundary: str, length: int | None,
                    open_part: Callable[[Part], IO[bytes] | None], chunk_size: int = 1 << 20,
                    max_part_bytes: int | None = None) -> Iterator[tuple[Part, str]]:
    """Read a multipart body from `stream` in chunks of `chunk_size`, writing each part's body to
    the sink `open_part(part)` returns (None = discard). Yields (part, error) after each part;
    `error` is "" or why the part was cut short (over `max_part_bytes`: the rest is skipped).
    Memory stays at a few chunks whatever the body size. `length` (Content-Length) bounds what is
    read, so a client that sends less makes this raise, never hang."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    remaining = length
    buffer = bytearray(b"\r\n")  # the first boundary may come without a preceding CRLF

    def fill() -> bool:
        nonlocal remaining
        want = chunk_size if remaining is None else min(chunk_size, remaining)
        if want <= 0:
            return False
        chunk = stream.read(want)
        if not chunk:
            if remaining:
                raise MediaError(f"body ended {remaining} bytes before its Content-Length")
            return False
        if remaining is not None:
            remaining -= len(chunk)
        buffer.extend(chunk)
        return True

    # Preamble: everything up to the first delimiter.
    while (start := buffer.find(delimiter)) < 0:
        if len(buffer) > 2 * len(delimiter):
            del buffer[:len(buffer) - len(delimiter)]
        if not fill():
            raise MediaError(f"no multipart boundary {boundary!r} found in the body")
    del buffer[:start + len(delimiter)]
    while True:
        while len(buffer) < 2 and fill():
            pass
        if buffer[:2] == b"--":
            return  # close delimiter; the epilogue is ignored
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > 64 * 1024:
                raise MediaError("a part's headers are longer than 64 KiB")
            if not fill():
                raise MediaError("body ended inside a part's headers")
        # The delimiter line may carry transport padding before its CRLF.
        head = bytes(buffer[:end])
        first_crlf = head.find(b"\r\n")
        part = Part(headers=_read_headers(head[first_crlf + 2:] if first_crlf >= 0 else b""))
        del buffer[:end + 4]
        sink = open_part(part)
        error = ""
        try:
            while True:
                index = buffer.find(delimiter)
                if index >= 0:
                    body, rest = buffer[:index], buffer[index + len(delimiter):]
                else:
                    keep = len(delimiter) - 1
                    body, rest = buffer[:max(0, len(buffer) - keep)], buffer[max(0, len(buffer) - keep):]
                if body and not error:
                    if max_part_bytes is not None and part.size + len(body) > max_part_bytes:
                        error = f"part is over the limit of {max_part_bytes} bytes"
                    elif sink is not None:
                        sink.write(body)
                part.size += len(body)
                buffer[:] = rest
                if index >= 0:
                    break
                if not fill():
                    raise MediaError("body ended inside a part (no closing boundary)")
        finally:
            if sink is not None:
                sink.close()
        yield part, error


# ---------------------------------------------------------------------------------------------
# DICOM JSON (PS3.18 F.2)


def element(vr: str, *values: Any) -> dict[str, Any]:
    """One DICOM JSON attribute; no values (or only None/"") = present and empty."""
    kept = [v for v in values if v is not None and v != ""]
    if not kept:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in kept]}
    return {"vr": vr, "Value": kept}
