"""Render the files in roles/templates/ (plain str.format: the configs are flat key=value files)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@cache
def _load(name: str) -> str:
    return (TEMPLATES / name).read_text()


def render(name: str, **values: Any) -> str:
    return _load(name).format(**values)
