"""Serving stored files to a user the caller has already authorised.

Every stored file (renders, de-identified DICOM, exports) reaches a browser only through a view
that checked the user first and then calls `storage_file_response`; there is no /media/ route in
any mode (issue 9, item 8). Files are read through Django's storage API, so the same code serves
them from local disk or from S3-compatible storage, streamed in blocks. A single `Range: bytes=`
request gets a 206 with just that slice (the viewer and download managers resume with it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

BLOCK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

# Renders of an image id never change meaning (a re-render rewrites identical content), so the
# reader's browser may keep them; `private` keeps them out of shared proxies.
CACHE_RENDERS = "private, max-age=3600"
# Downloads (DICOM, exports) are revalidated each time: access can be withdrawn.
CACHE_DOWNLOADS = "private, no-cache"


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single satisfiable `bytes=` range, None when absent or unusable (the
    whole file is then sent, as RFC 9110 allows for ranges we do not support, e.g. several)."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)
        return (max(0, size - length), size - 1) if length > 0 else (size, size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return start, end


def _slice(handle: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        left = length
        while left > 0:
            block = handle.read(min(BLOCK, left))
            if not block:
                break
            left -= len(block)
            yield block
    finally:
        handle.close()


def storage_file_response(request: HttpRequest, *, name: str, content_type: str, cache_control: str,
                          filename: str | None = None, as_attachment: bool = False) -> HttpResponse:
    """Stream the stored file `name`. The caller has checked that `request.user` may see it."""
    size = default_storage.size(name)
    handle = default_storage.open(name, "rb")
    wanted = _byte_range(request.headers.get("Range", ""), size) if request.method == "GET" else None
    response: HttpResponse | StreamingHttpResponse
    if wanted is not None:
        start, end = wanted
        if start >= size or start > end:
            handle.close()
            response = HttpResponse(status=416, content_type=content_type)
            response["Content-Range"] = f"bytes */{size}"
        else:
            response = StreamingHttpResponse(_slice(handle, start, end - start + 1), status=206,
                                             content_type=content_type)
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
            response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(handle, content_type=content_type)
        response.block_size = BLOCK
        response["Content-Length"] = str(size)
    if filename is not None:
        response["Content-Disposition"] = content_disposition_header(as_attachment, filename) or ""
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response  # type: ignore[return-value]
