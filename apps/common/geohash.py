"""A small geohash encoder/decoder (https://en.wikipedia.org/wiki/Geohash).

Encoding uses integer cell indices: ``lon_index = floor((lon + 180) / 360 * 2**lon_bits)`` and the same
for latitude, then interleaves the bits (longitude first) and maps 5-bit groups to the geohash base32
alphabet. The processor computes exactly this arithmetic as Spark column expressions
(:func:`apps.processor.aggregate.geohash_column`), so the JVM and this module agree on every point; the
tests check both against published reference hashes and against each other.
"""

from __future__ import annotations

import math

BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"
_DECODE = {ch: i for i, ch in enumerate(BASE32)}


def bit_split(precision: int) -> tuple[int, int]:
    """(longitude bits, latitude bits) of a ``precision``-character geohash; longitude gets the odd bit."""
    if not 1 <= precision <= 12:
        raise ValueError(f"geohash precision must be 1..12, got {precision}")
    total = 5 * precision
    return (total + 1) // 2, total // 2


def cell_index(value: float, lower: float, span: float, bits: int) -> int:
    """Index of the cell of ``value`` in [lower, lower + span) split into 2**bits; the top edge is clamped."""
    index = math.floor((value - lower) / span * (1 << bits))
    return min(max(index, 0), (1 << bits) - 1)


def encode(lat: float, lon: float, precision: int = 6) -> str:
    """Geohash of a WGS84 point; raises ValueError outside lat -90..90 / lon -180..180."""
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"not a WGS84 coordinate: lat={lat}, lon={lon}")
    lon_bits, lat_bits = bit_split(precision)
    lon_idx = cell_index(lon, -180.0, 360.0, lon_bits)
    lat_idx = cell_index(lat, -90.0, 180.0, lat_bits)
    chars = []
    for char_no in range(precision):
        code = 0
        for bit_no in range(5 * char_no, 5 * char_no + 5):
            code = (code << 1) | interleaved_bit(bit_no, lon_idx, lon_bits, lat_idx, lat_bits)
        chars.append(BASE32[code])
    return "".join(chars)


def interleaved_bit(bit_no: int, lon_idx: int, lon_bits: int, lat_idx: int, lat_bits: int) -> int:
    """Bit ``bit_no`` (0 = most significant) of the interleaved code: even positions are longitude."""
    if bit_no % 2 == 0:
        return (lon_idx >> (lon_bits - 1 - bit_no // 2)) & 1
    return (lat_idx >> (lat_bits - 1 - bit_no // 2)) & 1


def bounds(geohash: str) -> tuple[float, float, float, float]:
    """(south, west, north, east) of a geohash cell; raises ValueError on a character outside base32."""
    if not geohash:
        raise ValueError("empty geohash")
    lon_bits, lat_bits = bit_split(len(geohash))
    code = 0
    for ch in geohash.lower():
        if ch not in _DECODE:
            raise ValueError(f"{geohash!r} is not a geohash: {ch!r} is not in the base32 alphabet")
        code = (code << 5) | _DECODE[ch]
    total = 5 * len(geohash)
    lon_idx = lat_idx = 0
    for bit_no in range(total):
        bit = (code >> (total - 1 - bit_no)) & 1
        if bit_no % 2 == 0:
            lon_idx = (lon_idx << 1) | bit
        else:
            lat_idx = (lat_idx << 1) | bit
    lat_size = 180.0 / (1 << lat_bits)
    lon_size = 360.0 / (1 << lon_bits)
    south = -90.0 + lat_idx * lat_size
    west = -180.0 + lon_idx * lon_size
    return south, west, south + lat_size, west + lon_size


def centre(geohash: str) -> tuple[float, float]:
    """(lat, lon) of the centre of a geohash cell."""
    south, west, north, east = bounds(geohash)
    return (south + north) / 2.0, (west + east) / 2.0
