"""Pulumi.yaml declares exactly the keys ClusterSpec reads, with the same defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.spec import DEFAULTS, KEYS, NAMESPACE, REQUIRED_KEYS

pytestmark = pytest.mark.unit

PROJECT = yaml.safe_load((Path(__file__).resolve().parents[2] / "Pulumi.yaml").read_text())
DECLARED = {k.split(":", 1)[1]: v for k, v in PROJECT["config"].items()}


def test_every_key_is_declared_with_a_type_and_description() -> None:
    assert all(k.startswith(f"{NAMESPACE}:") for k in PROJECT["config"])
    assert set(DECLARED) == set(KEYS)
    for key, decl in DECLARED.items():
        assert decl.get("type") in {"string", "integer", "boolean", "array", "object"}, key
        assert decl.get("description"), key
        if decl["type"] == "array":
            assert "items" in decl, f"{key}: Pulumi refuses arrays without items"


def test_defaults_match_the_program() -> None:
    for key in REQUIRED_KEYS:
        assert "default" not in DECLARED[key], f"{key} is required: no default"
    for key, default in DEFAULTS.items():
        assert DECLARED[key].get("default") == default, key
