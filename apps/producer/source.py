"""Opening the data set: a local path or an http(s) URL, optionally gzip-compressed, as text lines.

Bytes that are not UTF-8 are not replaced (that would alter the row silently): they come through as
lone surrogates ("surrogateescape"), and the parser skips and counts the rows that hold them. A stream
that breaks off (a truncated or corrupt .gz, a download cut short) raises DataDamaged naming the data
set, wherever in the file it happens.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import requests
import urllib3

from apps.common.errors import DataDamaged, DataError

# The real sample shipped with the repository (data/README.md); deployments ship it beside apps/.
DEFAULT_DATASET = str(Path(__file__).resolve().parents[2] / "data" / "chicago-crimes-2015-10-17_18.csv")
GZIP_MAGIC = b"\x1f\x8b"
# How a stream that breaks off mid-read shows up: gzip's EOFError (truncated) / BadGzipFile (CRC,
# trailer) / zlib.error (corrupt deflate data); urllib3's errors for a download cut short; OSError for
# a local read failure.
_DAMAGED = (
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    OSError,
)


@contextmanager
def open_dataset(location: str, timeout_s: float = 60.0) -> Iterator[IO[str]]:
    """Yield the CSV as a text stream; gzip is detected from the magic bytes, not only the name."""
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https"):
        try:
            resp = requests.get(location, stream=True, timeout=timeout_s)
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise DataError(f"cannot download the data set from {location}: {exc}") from exc
        resp.raw.decode_content = True  # undo a Content-Encoding: gzip transfer, not a .gz file
        # urllib3 closes the stream itself at EOF by default; the readers above it still peek and read
        # past EOF then, which fails with "read of closed file".
        resp.raw.auto_close = False
        with resp, _damage_named(location):
            yield _text(io.BufferedReader(resp.raw), location)
        return
    path = Path(parsed.path if parsed.scheme == "file" else location)
    if not path.exists():
        raise DataError(f"data set {path} does not exist: pass a path or URL with --data (env DATA_FILE)")
    if not path.is_file():
        raise DataError(f"data set {path} is not a file: pass the CSV itself with --data (env DATA_FILE)")
    with path.open("rb") as raw, _damage_named(location):
        yield _text(io.BufferedReader(raw), location)


@contextmanager
def _damage_named(location: str) -> Iterator[None]:
    """Turn a read that breaks off into DataDamaged naming the data set (the reader sees no filename)."""
    try:
        yield
    except _DAMAGED as exc:
        what = "gzip data" if isinstance(exc, EOFError | gzip.BadGzipFile | zlib.error) else "data"
        raise DataDamaged(
            f"data set {location} is truncated or corrupt: its {what} broke off while reading "
            f"({type(exc).__name__}: {exc}); download it again (nothing was replayed)"
        ) from exc


def _text(raw: io.BufferedReader, location: str) -> IO[str]:
    binary: Any = raw  # a raw stream or a GzipFile around it
    if raw.peek(2)[:2] == GZIP_MAGIC:
        binary = gzip.GzipFile(fileobj=raw, mode="rb")
    elif location.endswith(".gz"):
        raise DataError(f"{location} is named .gz but is not gzip data: re-download it")
    # utf-8-sig drops a byte-order mark some spreadsheet tools add; newline="" is what csv needs.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
