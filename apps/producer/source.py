"""Opening the data set: a local path or an http(s) URL, optionally gzip-compressed, as text lines."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import requests

from apps.common.errors import DataError

# The real sample shipped with the repository (data/README.md); deployments ship it beside apps/.
DEFAULT_DATASET = str(Path(__file__).resolve().parents[2] / "data" / "chicago-crimes-2015-10-17_18.csv")
GZIP_MAGIC = b"\x1f\x8b"


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
        with resp:
            yield _text(io.BufferedReader(resp.raw), location)
        return
    path = Path(parsed.path if parsed.scheme == "file" else location)
    if not path.is_file():
        raise DataError(f"data set {path} does not exist: pass a path or URL with --data (env DATA_FILE)")
    with path.open("rb") as raw:
        yield _text(io.BufferedReader(raw), location)


def _text(raw: io.BufferedReader, location: str) -> IO[str]:
    binary: Any = raw  # a raw stream or a GzipFile around it
    if raw.peek(2)[:2] == GZIP_MAGIC:
        binary = gzip.GzipFile(fileobj=raw, mode="rb")
    elif location.endswith(".gz"):
        raise DataError(f"{location} is named .gz but is not gzip data: re-download it")
    # utf-8-sig drops a byte-order mark some spreadsheet tools add; newline="" is what csv needs.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
