"""The SSH key provider: real ed25519 keys, generated once, and state that needs nothing of this repo."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest
import yaml
from pulumi.dynamic.dynamic import serialize_provider

from infra.keys import PROVIDER, host_key_cloud_config

pytestmark = pytest.mark.unit
INFRA = Path(__file__).resolve().parents[2] / "infra"


def test_create_makes_a_matching_ed25519_pair() -> None:
    result = PROVIDER.create({"comment": "fastdata-admin@c"})
    outs = result.outs
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(outs["private_key"]))
    assert outs["public_key"] == f"ssh-ed25519 {key.get_base64()}"
    assert outs["authorized_key"] == f"{outs['public_key']} fastdata-admin@c"
    assert outs["fingerprint"] == key.fingerprint  # same "SHA256:..." form as ssh-keygen -l
    assert result.id == outs["fingerprint"]


def test_every_create_is_a_new_key_and_nothing_rotates_it() -> None:
    first, second = PROVIDER.create({"comment": "a"}).outs, PROVIDER.create({"comment": "a"}).outs
    assert first["private_key"] != second["private_key"]
    diff = PROVIDER.diff("id", first, {"comment": "b"})
    assert diff.changes and not diff.replaces
    updated = PROVIDER.update("id", first, {"comment": "b"}).outs
    assert updated["private_key"] == first["private_key"] and updated["authorized_key"].endswith(" b")
    assert not PROVIDER.diff("id", first, {"comment": "a"}).changes


def test_serialized_provider_carries_its_own_code() -> None:
    """Pulumi unpickles the provider in another process whose cwd is infra/ (the `main:` directory). The
    pickled state carries the provider's code, so it loads and works without importing `infra` at all
    (state stays valid across refactors and on machines without the editable install)."""
    blob = serialize_provider(PROVIDER)
    script = (
        "import base64, sys, dill\n"
        "assert 'infra' not in sys.modules\n"
        "p = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        "print(p.create({'comment': 'x'}).outs['public_key'].split()[0])\n"
        "assert not [m for m in sys.modules if m == 'infra' or m.startswith('infra.')]\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=blob,
        cwd=INFRA,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ssh-ed25519"


def test_cloud_config_installs_only_the_given_host_key() -> None:
    outs = PROVIDER.create({"comment": "root@node"}).outs
    text = host_key_cloud_config(outs["private_key"], outs["public_key"])
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert doc == {
        "ssh_deletekeys": True,
        "ssh_genkeytypes": [],
        "ssh_keys": {"ed25519_private": outs["private_key"], "ed25519_public": outs["public_key"]},
    }
