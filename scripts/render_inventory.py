"""Write a shipped stack's `cluster` output, built by the Pulumi program under mocks, as an inventory file.

Used by scripts/render-compare.sh to render every shipped stack (local and cloud) without a cloud account
or containers. Self-contained on purpose: the comparison copies it into older checkouts, so it uses only
what every revision has (infra/__main__.py, infra.keys.PROVIDER, infra.lxc.preflight).

    python scripts/render_inventory.py --stack prod-aws --standins DIR --out cluster.json

The node addresses come from the program (local) or from deterministic mock answers (clouds). Platforms
whose binaries no registry serves (mesos, dcos) get stand-in packages written under DIR (deterministic
tars, so every revision sees the same checksums) in settings.artifacts, the way a user would supply them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import runpy
import sys
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _config_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _tar(path: Path, members: dict[str, bytes]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def standin_artifacts(platform: str, root: Path) -> dict[str, str]:
    """settings.artifacts for the user-supplied binaries of `platform` (stand-ins: render reads their
    member lists and checksums, nothing executes them)."""
    root.mkdir(parents=True, exist_ok=True)
    if platform == "mesos":
        mesos = root / "mesos-1.11.0.tar"
        marathon = root / "marathon-1.11.24.tar"
        return {
            "mesosPackageSource": str(mesos),
            "mesosPackageSha256": _tar(
                mesos,
                {"usr/sbin/mesos-master": b"#!/bin/sh\n", "usr/sbin/mesos-agent": b"#!/bin/sh\n",
                 "usr/lib/libmesos-1.11.0.so": b""},
            ),
            "marathonPackageSource": str(marathon),
            "marathonPackageSha256": _tar(marathon, {"marathon-1.11.24/bin/marathon": b"#!/bin/sh\n"}),
        }  # fmt: skip
    if platform == "dcos":
        installer = root / "dcos_generate_config.sh"
        installer.write_bytes(b"#!/bin/sh\n# stand-in for render: never executed\n")
        return {
            "dcosInstallerUrl": installer.as_uri(),
            "dcosInstallerSha256": hashlib.sha256(installer.read_bytes()).hexdigest(),
        }
    return {}


def stack_config(stack: str) -> dict[str, Any]:
    import yaml

    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return {k.split(":", 1)[1]: v for k, v in (doc.get("config") or {}).items() if k.startswith("fastdata:")}


def cluster_output(stack: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run infra/__main__.py under pulumi mocks (as tests/infra does) and return the `cluster` export."""
    import pulumi
    from pulumi.runtime import rpc
    from pulumi.runtime.stack import wait_for_rpcs

    import infra.lxc
    from infra.keys import PROVIDER

    infra.lxc.preflight = lambda *_a, **_k: None  # no containers are created under mocks

    def reveal(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
                return reveal(value.get("value"))
            return {k: reveal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [reveal(v) for v in value]
        return value

    class Mocks(pulumi.runtime.Mocks):
        addresses = 0

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            inputs = reveal(dict(args.inputs))
            state: dict[str, Any] = {"name": args.name, **inputs}
            if args.typ.endswith("Ed25519Key"):
                created = PROVIDER.create({"comment": inputs.get("comment", "")})
                return created.id, {**inputs, **created.outs}
            if args.typ == "pulumi-python:dynamic:Resource" and "container" in inputs:
                host = PROVIDER.create({"comment": f"root@{inputs['hostname']}"}).outs["public_key"]
                return inputs["container"], {**inputs, "host_key": host, "base_build_seconds": 0}
            if args.typ in ("aws:ec2/instance:Instance", "azure-native:network:PublicIPAddress"):
                Mocks.addresses += 1
                field = "publicIp" if args.typ.startswith("aws") else "ipAddress"
                state[field] = f"192.0.2.{Mocks.addresses}"
            if args.typ == "aws:lb/loadBalancer:LoadBalancer":
                state["dnsName"] = f"{args.name}.elb.example.invalid"
            if args.typ == "aws:ec2/getAmi:getAmi":
                state["id"] = "ami-0123456789abcdef0"
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
            if args.token == "aws:ec2/getAmi:getAmi":
                return {"id": "ami-0123456789abcdef0", "imageId": "ami-0123456789abcdef0",
                        "name": "debian-12-amd64-standin"}  # fmt: skip
            return {}

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_all_config({f"fastdata:{k}": _config_string(v) for k, v in config.items()})
    pulumi.runtime.set_mocks(Mocks(), project="fastdata", stack=stack, preview=False)
    exports: dict[str, Any] = {}
    pulumi.export = lambda name, value: exports.__setitem__(name, value)  # type: ignore[assignment]
    runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")
    out = loop.run_until_complete(pulumi.Output.from_input(exports["cluster"]).future())
    loop.run_until_complete(wait_for_rpcs())
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="a shipped stack: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--standins", required=True, type=Path, help="directory for stand-in packages")
    parser.add_argument("--cache", type=Path, help="settings.artifacts.cacheDir to write into the file")
    parser.add_argument("--out", required=True, type=Path, help="inventory file to write")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    config = stack_config(args.stack)
    platform = str(config.get("platform", "standalone"))
    config["artifacts"] = {**(config.get("artifacts") or {}), **standin_artifacts(platform, args.standins)}
    if args.cache:
        config["artifacts"]["cacheDir"] = str(args.cache)
    cluster = cluster_output(args.stack, config)
    args.out.write_text(json.dumps(cluster, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
