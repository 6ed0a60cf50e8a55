"""A test that fails on request (FASTDATA_CANARY=fail): proves the test command reports failures."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.unit


def test_canary() -> None:
    assert os.environ.get("FASTDATA_CANARY") != "fail", "canary failing on purpose (FASTDATA_CANARY=fail)"
