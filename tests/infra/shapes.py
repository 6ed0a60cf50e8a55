"""The shape of a `cluster` output, for the contract test: aws, azure and local must agree.

`cluster_shape(output)` maps a value to its structure: dict keys recursively, lists to the merged shape of
their items, scalars to their type name, None to "null". `assert_same_shape(a, b)` compares two shapes,
letting "null" match any scalar (publicIp is null on local containers, bootstrap is null without DC/OS)
and an empty list match any list.
"""

from __future__ import annotations

from typing import Any

Shape = Any


def cluster_shape(value: Any) -> Shape:
    if isinstance(value, dict):
        return {k: cluster_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        merged: Shape = None
        for item in value:
            merged = _merge(merged, cluster_shape(item), path="[]")
        return ["list", merged]
    if value is None:
        return "null"
    return type(value).__name__


def _merge(a: Shape, b: Shape, path: str) -> Shape:
    if a is None:
        return b
    assert_same_shape(a, b, path)
    return a if a != "null" else b


def assert_same_shape(a: Shape, b: Shape, path: str = "cluster") -> None:
    if isinstance(a, dict) or isinstance(b, dict):
        assert isinstance(a, dict) and isinstance(b, dict), f"{path}: {a!r} vs {b!r}"
        assert a.keys() == b.keys(), f"{path}: keys differ: {sorted(a.keys() ^ b.keys())}"
        for key in a:
            assert_same_shape(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) or isinstance(b, list):
        assert isinstance(a, list) and isinstance(b, list), f"{path}: {a!r} vs {b!r}"
        if a[1] is not None and b[1] is not None:
            assert_same_shape(a[1], b[1], f"{path}[]")
    elif "null" not in (a, b):
        assert a == b, f"{path}: {a} vs {b}"
