"""The producer's pure CSV parsing: exact counts on the real sample, and bad rows skipped and counted."""

from __future__ import annotations

import io
import itertools
import re
from datetime import timedelta
from pathlib import Path

import pytest

from apps.common.errors import DataError
from apps.producer.parse import SKIP_REASONS, parse_rows, sort_by_event_time, type_slug

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "chicago-crimes-2015-10-17_18.csv"
HEADER = (
    "ID,Case Number,Date,Block,IUCR,Primary Type,Description,Location Description,Arrest,Domestic,Beat,"
    "District,Ward,Community Area,FBI Code,X Coordinate,Y Coordinate,Year,Updated On,"
    "Latitude,Longitude,Location"
)

# Derived independently of the parser, with grep on the raw file (see the test's docstring):
#   grep -c ',,,$'  -> 102 rows end in empty Latitude,Longitude,Location (not geocoded)
#   grep -c ')"$'   -> 897 rows end in a quoted "(lat, lon)" Location (geocoded)
#   grep ')"$' FILE | grep -c ",<TYPE>,"  -> the geocoded rows of each Primary Type (below); the sample's
#   geocoded range is lat 41.654..42.022, lon -87.904..-87.533, all inside the area box, so none is
#   out of area. "CRIM SEXUAL ASSAULT" (6 geocoded rows) becomes criminal_sexual_assault.
EXPECTED_PER_TYPE = {
    "battery": 195, "theft": 162, "criminal_damage": 145, "narcotics": 80, "other_offense": 54,
    "assault": 46, "burglary": 41, "motor_vehicle_theft": 37, "robbery": 32, "criminal_trespass": 29,
    "deceptive_practice": 19, "weapons_violation": 16, "public_peace_violation": 11,
    "interference_with_public_officer": 8, "criminal_sexual_assault": 6, "offense_involving_children": 5,
    "arson": 2, "kidnapping": 2, "homicide": 2, "sex_offense": 2, "intimidation": 1, "prostitution": 1,
    "stalking": 1,
}  # fmt: skip


def parse_text(text: str):
    return parse_rows(io.StringIO(text, newline=""))


def test_sample_gives_exact_counts_per_type_and_skip_reason() -> None:
    """999 data rows: 897 geocoded events, 102 skipped for missing coordinates, nothing else skipped.

    Expected numbers come from grep on the raw file (comment above EXPECTED_PER_TYPE), not from the parser.
    """
    with SAMPLE.open(newline="") as f:
        result = parse_rows(f)
    assert result.rows == 999
    assert len(result.events) == 897
    assert dict(result.skipped) == {"missing_coordinates": 102}
    per_type: dict[str, int] = {}
    for event in result.events:
        per_type[event.type_slug] = per_type.get(event.type_slug, 0) + 1
    assert per_type == EXPECTED_PER_TYPE
    assert sum(EXPECTED_PER_TYPE.values()) == 897


def test_sample_sorted_oldest_first_with_chicago_offsets() -> None:
    with SAMPLE.open(newline="") as f:
        events = sort_by_event_time(parse_rows(f).events)
    assert events[0].event_time.isoformat() == "2015-10-17T14:05:00-05:00"
    assert events[-1].event_time.isoformat() == "2015-10-18T23:50:00-05:00"
    assert all(a.event_time <= b.event_time for a, b in itertools.pairwise(events))
    first = events[-1]  # the file's first data row (10278872) is among the newest
    assert any(e.id == 10278872 and e.case_number == "HY467389" for e in events[-5:])
    assert first.event_time.utcoffset() == timedelta(hours=-5)


def row(**overrides: str) -> str:
    """One data row in portal format; fields overridable by name (quoting is the caller's job)."""
    fields = {
        "ID": "10278872", "Case Number": "HY467389", "Date": "10/18/2015 11:50:00 PM",
        "Block": "060XX S VERNON AVE", "IUCR": "0560", "Primary Type": "ASSAULT", "Description": "SIMPLE",
        "Location Description": '"SCHOOL, PUBLIC, GROUNDS"', "Arrest": "false", "Domestic": "true",
        "Beat": "0313", "District": "003", "Ward": "20", "Community Area": "42", "FBI Code": "08A",
        "X Coordinate": "1180307", "Y Coordinate": "1865162", "Year": "2015",
        "Updated On": "10/25/2015 03:55:25 PM", "Latitude": "41.785268355", "Longitude": "-87.614452924",
        "Location": '"(41.785268355, -87.614452924)"',
    }  # fmt: skip
    fields.update(overrides)
    return ",".join(fields.values())


def test_quoted_commas_parse_into_the_right_columns() -> None:
    result = parse_text(HEADER + "\n" + row() + "\n")
    assert dict(result.skipped) == {}
    (event,) = result.events
    assert event.location_description == "SCHOOL, PUBLIC, GROUNDS"
    assert (event.lat, event.lon) == (41.785268355, -87.614452924)
    assert (event.district, event.beat, event.ward, event.community_area) == ("003", "0313", 20, 42)
    assert (event.arrest, event.domestic) == (False, True)


def test_bad_rows_are_skipped_and_counted_by_reason() -> None:
    """Every kind of bad row is counted under its reason; the good rows around them survive."""
    lines = [
        HEADER,
        row(ID="1"),
        row(ID="2", Latitude="", Longitude="", Location=""),  # not geocoded
        row(ID="3", Latitude="36.619446395", Longitude="-91.686565684"),  # X/Y = 0 geocode in Missouri
        row(ID="4", Latitude="41.9", Longitude="-86.9"),  # over the lake, east of the box
        row(ID="5", Date="2015-10-18 23:50"),  # not the portal's date format
        row(ID="6", Date="13/45/2015 11:50:00 PM"),  # impossible date
        "7,HY1,10/18/2015 11:50:00 PM,BLOCK,0560,ASSAULT",  # short row
        row(ID="8") + ",extra",  # one field too many
        row(ID="9", Latitude="north", Longitude="west"),
        row(ID="ten"),
        row(ID="11", **{"Primary Type": ""}),
        HEADER,  # a second header (concatenated exports)
        row(ID="12", **{"Primary Type": "CRIM SEXUAL ASSAULT"}),
        row(ID="13", **{"Primary Type": "CRIMINAL SEXUAL ASSAULT"}),
        "",  # blank line at the end: not a record
    ]
    result = parse_text("\n".join(lines) + "\n")
    assert [e.id for e in result.events] == [1, 12, 13]
    assert dict(result.skipped) == {
        "missing_coordinates": 1, "out_of_area": 2, "malformed_date": 2, "wrong_column_count": 2,
        "malformed_coordinates": 1, "malformed_id": 1, "missing_type": 1, "repeated_header": 1,
    }  # fmt: skip
    assert result.rows == 14 == len(result.events) + result.skipped_total()
    assert set(result.skipped) <= set(SKIP_REASONS)
    assert {e.type_slug for e in result.events[1:]} == {"criminal_sexual_assault"}


def test_unreadable_csv_line_is_counted_and_parsing_continues() -> None:
    huge = "x" * 200_000  # beyond csv's default field size limit (131072): csv.Error on that line
    text = "\n".join([HEADER, row(ID="1"), row(ID="2", Block=huge), row(ID="3")]) + "\n"
    result = parse_text(text)
    assert [e.id for e in result.events] == [1, 3]
    assert result.skipped["csv_error"] == 1


def test_header_without_required_columns_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"lacks column\(s\) \['Latitude', 'Longitude'\]"):
        parse_text("ID,Case Number,Date,Primary Type\n1,HY1,10/18/2015 11:50:00 PM,THEFT\n")
    with pytest.raises(DataError, match="empty"):
        parse_text("")


def test_columns_found_by_name_and_bom_tolerated() -> None:
    text = (
        "\ufeffPrimary Type,Longitude,Latitude,Date,ID,Case Number\n"
        "THEFT,-87.7,41.9,01/05/2016 01:00:00 AM,5,HZ1\n"
    )
    (event,) = parse_text(text).events
    assert (event.id, event.type_slug, event.lat, event.lon) == (5, "theft", 41.9, -87.7)
    assert event.event_time.utcoffset() == timedelta(hours=-6)  # January: CST
    assert event.district == "" and event.ward is None


def test_event_json_has_the_schema_fields() -> None:
    from datetime import UTC, datetime

    (event,) = parse_text(HEADER + "\n" + row() + "\n").events
    doc = event.to_json_dict(datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
    assert doc == {
        "id": 10278872, "case_number": "HY467389", "event_time": "2015-10-18T23:50:00-05:00",
        "emit_time": "2025-01-02T03:04:05.678Z", "primary_type": "ASSAULT", "type_slug": "assault",
        "description": "SIMPLE", "location_description": "SCHOOL, PUBLIC, GROUNDS", "arrest": False,
        "domestic": True, "beat": "0313", "district": "003", "ward": 20, "community_area": 42,
        "fbi_code": "08A", "lat": 41.785268355, "lon": -87.614452924,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("primary_type", "slug"),
    [("MOTOR VEHICLE THEFT", "motor_vehicle_theft"), ("NON - CRIMINAL", "non_criminal"),
     ("NON-CRIMINAL (SUBJECT SPECIFIED)", "non_criminal_subject_specified")],
)  # fmt: skip
def test_type_slug_is_tag_safe(primary_type: str, slug: str) -> None:
    assert type_slug(primary_type) == slug


def test_no_row_is_altered_on_the_way_in(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, NUL characters and a type with nothing tag-safe: each row is skipped
    under its reason (with the first row it happened on), not replayed with the bytes replaced."""
    from apps.producer.source import open_dataset

    lines = [
        HEADER.encode(),
        row(ID="1").encode(),
        row(ID="2", Description="SIMPLE\xe9").encode("latin-1"),  # a Latin-1 export: 0xE9 alone
        row(ID="3", Block="060XX S\x00VERNON").encode(),
        row(ID="4", **{"Primary Type": "???"}).encode(),
        row(ID="5", **{"Primary Type": "ÉVASION"}).encode(),  # valid UTF-8 with an accent: kept
        row(ID="6", **{"Primary Type": "犯罪"}).encode(),  # letters, but none a tag can carry
    ]
    data = tmp_path / "crimes.csv"
    data.write_bytes(b"\n".join(lines) + b"\n")
    with open_dataset(str(data)) as text:
        result = parse_rows(text)
    assert [e.id for e in result.events] == [1, 5]
    assert dict(result.skipped) == {"undecodable_bytes": 1, "nul_byte": 1, "unusable_type": 2}
    assert result.first_skipped == {"undecodable_bytes": 2, "nul_byte": 3, "unusable_type": 4}
    assert result.events[1].type_slug == "evasion" and result.events[1].primary_type == "ÉVASION"
    for event in result.events:  # nothing replaced or escaped made it into an event
        text_fields = [v for v in event.to_json_dict(event.event_time).values() if isinstance(v, str)]
        assert not any("\ufffd" in v or "\x00" in v or re.search("[\udc80-\udcff]", v) for v in text_fields)
    assert set(result.skipped) <= set(SKIP_REASONS)


@pytest.mark.parametrize("primary_type", ["???", "--", "...", "犯罪"])
def test_type_without_a_slug_is_never_an_empty_tag(primary_type: str) -> None:
    assert type_slug(primary_type) == ""
    result = parse_text(HEADER + "\n" + row(**{"Primary Type": primary_type}) + "\n")
    assert result.events == [] and dict(result.skipped) == {"unusable_type": 1}
