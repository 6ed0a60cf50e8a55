"""Pure parsing of the Chicago "Crimes - 2001 to Present" portal CSV into crime events.

No I/O here: :func:`parse_rows` takes rows from ``csv.reader`` (never split on commas: quoted fields such
as ``"SCHOOL, PUBLIC, GROUNDS"`` and the ``Location`` column contain commas) and returns the events plus
the count of skipped rows per reason. A bad row is skipped and counted, never fatal; only a header
without the columns we need is (the whole file is then not a portal export).

No row is altered on the way in: a row with bytes that are not UTF-8 (see apps.producer.source) or with
a NUL character is skipped under its own reason rather than replayed with the bytes replaced or
stripped, and a Primary Type with nothing tag-safe in it (``???``) is skipped rather than replayed with
an empty ``type`` tag (InfluxDB refuses empty tag values, and an empty series name on the dashboard
would say nothing). Skipping, not a placeholder type, because such a row is garbage, not a crime of an
unknown type: it is treated like an empty Primary Type.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apps.common.errors import DataError

CHICAGO = ZoneInfo("America/Chicago")

# Chicago city limits with a margin; full exports contain rows geocoded at X/Y = 0 (a point in Missouri).
LAT_MIN, LAT_MAX = 41.6, 42.1
LON_MIN, LON_MAX = -88.0, -87.5

# The portal renamed the type in 2019; full exports hold both spellings of the same offence.
TYPE_ALIASES = {"CRIM SEXUAL ASSAULT": "CRIMINAL SEXUAL ASSAULT"}

REQUIRED_COLUMNS = ("ID", "Case Number", "Date", "Primary Type", "Latitude", "Longitude")
OPTIONAL_COLUMNS = (
    "Description",
    "Location Description",
    "Arrest",
    "Domestic",
    "Beat",
    "District",
    "Ward",
    "Community Area",
    "FBI Code",
)
DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"

# Reasons a row is skipped, with what each means; the counters are always reported with all of them,
# zero or not, and --help lists them from here.
SKIP_REASON_HELP = {
    "wrong_column_count": "the row has more or fewer fields than the header",
    "repeated_header": "a header line in the middle (concatenated exports)",
    "malformed_id": "ID is not an integer",
    "malformed_date": "Date is not MM/DD/YYYY hh:mm:ss AM|PM",
    "missing_type": "Primary Type is empty",
    "unusable_type": "Primary Type has no letter or digit a tag can carry (e.g. '???')",
    "missing_coordinates": "Latitude/Longitude empty: not geocoded yet (~10 % of recent rows)",
    "malformed_coordinates": "Latitude/Longitude present but not numbers",
    "out_of_area": "geocoded outside lat 41.6..42.1 / lon -88.0..-87.5",
    "csv_error": "the csv module could not read the line (e.g. a field over 128 KiB)",
    "undecodable_bytes": "bytes that are not UTF-8 (a Latin-1 export, a damaged file)",
    "nul_byte": "a NUL character (binary junk, a UTF-16 file read as UTF-8)",
}
SKIP_REASONS = tuple(SKIP_REASON_HELP)
# What surrogateescape decoding leaves for each byte that is not UTF-8 (apps.producer.source).
_UNDECODED = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class CrimeEvent:
    """One crime as replayed; ``event_time`` is timezone-aware (America/Chicago)."""

    id: int
    case_number: str
    event_time: datetime
    primary_type: str
    type_slug: str
    description: str
    location_description: str
    arrest: bool
    domestic: bool
    beat: str
    district: str
    ward: int | None
    community_area: int | None
    fbi_code: str
    lat: float
    lon: float

    def shifted(self, delta: timedelta) -> CrimeEvent:
        """The same event ``delta`` later (used when the replay loops)."""
        return replace(self, event_time=self.event_time + delta)

    def to_json_dict(self, emit_time: datetime) -> dict[str, Any]:
        """The Kafka value (docs/reference/demo-reference.md 5.2 plus ``emit_time``, the wall clock when
        replayed)."""
        return {
            "id": self.id,
            "case_number": self.case_number,
            "event_time": self.event_time.isoformat(),
            "emit_time": emit_time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "primary_type": self.primary_type,
            "type_slug": self.type_slug,
            "description": self.description,
            "location_description": self.location_description,
            "arrest": self.arrest,
            "domestic": self.domestic,
            "beat": self.beat,
            "district": self.district,
            "ward": self.ward,
            "community_area": self.community_area,
            "fbi_code": self.fbi_code,
            "lat": self.lat,
            "lon": self.lon,
        }


@dataclass
class ParseResult:
    events: list[CrimeEvent] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    rows: int = 0  # data rows seen (the header excluded)
    first_skipped: dict[str, int] = field(default_factory=dict)  # reason -> first data row (1-based)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1
        self.first_skipped.setdefault(reason, self.rows)

    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class Skip(Exception):
    """Raised inside row parsing with the reason the row is skipped; never escapes :func:`parse_rows`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalise_type(primary_type: str) -> str:
    cleaned = " ".join(primary_type.strip().upper().split())
    return TYPE_ALIASES.get(cleaned, cleaned)


def type_slug(primary_type: str) -> str:
    """``MOTOR VEHICLE THEFT`` -> ``motor_vehicle_theft``: a bounded, escape-free InfluxDB tag value.

    Accents are folded first (``ÉVASION`` -> ``evasion``, not ``vasion``); the result is "" when nothing
    tag-safe is left, which :func:`parse_row` refuses.
    """
    folded = unicodedata.normalize("NFKD", primary_type)
    ascii_only = folded.encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_only.lower()).strip("_")


def parse_date(text: str) -> datetime:
    """Portal ``Date`` (local Chicago time) -> aware datetime; raises Skip("malformed_date").

    In the repeated hour when DST ends the portal gives no offset, so the first (CDT) reading is taken.
    """
    try:
        naive = datetime.strptime(text.strip(), DATE_FORMAT)
    except ValueError:
        raise Skip("malformed_date") from None
    return naive.replace(tzinfo=CHICAGO)


def _optional_int(text: str) -> int | None:
    try:
        return int(text) if text.strip() else None
    except ValueError:
        return None  # Ward/Community Area are informational; a garbled one does not lose the crime


def column_index(header: list[str]) -> dict[str, int]:
    """Column name -> position; raises DataError when a required column is missing (not a portal export)."""
    names = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise DataError(
            f"the CSV header lacks column(s) {missing}: expected the Chicago portal export header "
            f"(ID,Case Number,Date,...,Latitude,Longitude,Location); got {names[:25]}"
        )
    return {name: i for i, name in enumerate(names)}


def parse_row(row: list[str], columns: dict[str, int], width: int) -> CrimeEvent:
    """One data row -> event; raises Skip(reason) for any row that cannot become an in-area event."""
    joined = "".join(row)
    if _UNDECODED.search(joined):
        raise Skip("undecodable_bytes")
    if "\x00" in joined:
        raise Skip("nul_byte")
    if len(row) != width:
        raise Skip("wrong_column_count")
    if row[columns["ID"]].strip() == "ID":
        raise Skip("repeated_header")

    def get(name: str) -> str:
        pos = columns.get(name)
        return row[pos].strip() if pos is not None else ""

    try:
        crime_id = int(get("ID"))
    except ValueError:
        raise Skip("malformed_id") from None
    event_time = parse_date(get("Date"))
    primary_type = normalise_type(get("Primary Type"))
    if not primary_type:
        raise Skip("missing_type")
    slug = type_slug(primary_type)
    if not slug:
        raise Skip("unusable_type")
    lat_text, lon_text = get("Latitude"), get("Longitude")
    if not lat_text or not lon_text:
        raise Skip("missing_coordinates")
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise Skip("malformed_coordinates") from None
    if not (LAT_MIN <= lat <= LAT_MAX and LON_MIN <= lon <= LON_MAX):  # NaN fails this too
        raise Skip("out_of_area")
    return CrimeEvent(
        id=crime_id,
        case_number=get("Case Number"),
        event_time=event_time,
        primary_type=primary_type,
        type_slug=slug,
        description=get("Description"),
        location_description=get("Location Description"),
        arrest=get("Arrest").lower() == "true",
        domestic=get("Domestic").lower() == "true",
        beat=get("Beat"),
        district=get("District"),
        ward=_optional_int(get("Ward")),
        community_area=_optional_int(get("Community Area")),
        fbi_code=get("FBI Code"),
        lat=lat,
        lon=lon,
    )


def read_rows(lines: Iterable[str], result: ParseResult) -> Iterator[list[str]]:
    """csv.reader over ``lines`` that counts a line the csv module rejects instead of stopping."""
    reader = csv.reader(lines)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            result.rows += 1
            result.skip("csv_error")


def parse_rows(lines: Iterable[str]) -> ParseResult:
    """Parse a whole portal CSV (header first) given as text lines; see the module docstring."""
    result = ParseResult()
    rows = read_rows(lines, result)
    header = next(rows, None)
    if header is None:
        raise DataError("the CSV is empty: expected the Chicago portal export header and data rows")
    columns = column_index(header)
    width = len(header)
    for row in rows:
        if not row:
            continue  # csv.reader yields [] for a blank line (e.g. the end of a file): not a record
        result.rows += 1
        try:
            result.events.append(parse_row(row, columns, width))
        except Skip as skip:
            result.skip(skip.reason)
    return result


def sort_by_event_time(events: list[CrimeEvent]) -> list[CrimeEvent]:
    """Oldest first (portal exports are newest first); stable, so equal times keep file order."""
    # Sort on the instant, not the wall time: aware datetimes sharing a tzinfo compare naively, which
    # would misorder the repeated hour when DST ends.
    return sorted(events, key=lambda e: e.event_time.timestamp())
