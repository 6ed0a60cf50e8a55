"""The small geohash encoder/decoder against published reference hashes."""

from __future__ import annotations

import pytest

from apps.common import geohash

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("lat", "lon", "precision", "expected"),
    [
        (57.64911, 10.40744, 11, "u4pruydqqvj"),  # Wikipedia's "Geohash" example
        (42.6, -5.6, 5, "ezs42"),  # Wikipedia's decoding example, encoded back
        (48.8583, 2.2945, 8, "u09tunqu"),  # Eiffel Tower
        (0.0, 0.0, 6, "s00000"),  # the origin sits at the start of the NE quadrant's cell
        (-90.0, -180.0, 4, "0000"),
        (90.0, 180.0, 4, "zzzz"),  # top edges clamp into the last cell
        (41.785268355, -87.614452924, 6, "dp3twq"),  # the sample's first row (Chicago, Washington Park)
    ],
)
def test_encode_matches_reference(lat: float, lon: float, precision: int, expected: str) -> None:
    assert geohash.encode(lat, lon, precision) == expected


def test_decode_bounds_contain_the_point_and_centre_round_trips() -> None:
    lat, lon = 41.881832, -87.623177  # the Loop
    code = geohash.encode(lat, lon, 6)
    south, west, north, east = geohash.bounds(code)
    assert south <= lat < north and west <= lon < east
    # precision 6 cells are 360/2**15 deg of longitude by 180/2**15 deg of latitude
    assert (east - west, north - south) == pytest.approx((360 / 2**15, 180 / 2**15))
    assert geohash.encode(*geohash.centre(code), 6) == code


def test_decode_of_reference_hash() -> None:
    lat, lon = geohash.centre("ezs42")
    assert lat == pytest.approx(42.605, abs=0.03) and lon == pytest.approx(-5.603, abs=0.03)


@pytest.mark.parametrize(("bad", "message"), [("", "empty"), ("dp3a", "not in the base32 alphabet")])
def test_bad_geohash_is_rejected(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        geohash.bounds(bad)


def test_out_of_range_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a WGS84 coordinate"):
        geohash.encode(91.0, 0.0)
    with pytest.raises(ValueError, match=r"precision must be 1\.\.12"):
        geohash.encode(0.0, 0.0, 13)
