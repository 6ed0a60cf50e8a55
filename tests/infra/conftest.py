"""Run the Pulumi program under mocks, one fresh run (and event loop) per call.

`run_program(config, stack)` executes infra/__main__.py the way Pulumi does (runpy), with `config` as
the `fastdata:` stack config, and returns every resource the program registered plus its exports.
Follows docs/reference/toolchain-offline.md 2.2: fresh event loop per test, settings restored, preview=False
so outputs are known.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import pickle
import runpy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import wait_for_rpcs

from infra.keys import PROVIDER

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "infra" / "__main__.py"
STACKS = ROOT / "stacks"
CLOUD_STACKS = ("dev-aws", "prod-aws", "dev-azure", "prod-azure")
KEY_TYPE = "pulumi-python:dynamic/fastdata:Ed25519Key"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass
class Call:
    token: str
    args: dict[str, Any]


LOOKED_UP_AMI = "ami-0fedcba9876543210"  # what the mocked get_ami answers


@dataclass
class ProgramRun:
    resources: list[Registered]
    exports: dict[str, Any] = field(default_factory=dict)
    secret: dict[str, bool] = field(default_factory=dict)  # per export: is the output a secret
    calls: list[Call] = field(default_factory=list)  # invokes the program made
    error: BaseException | None = None  # set only when run with allow_error=True

    @property
    def declared(self) -> list[Registered]:
        """Resources the program declared (the root stack is the runtime's, not the program's)."""
        return [r for r in self.resources if r.type != "pulumi:pulumi:Stack"]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{len(matches)} resources named {name}"
        return matches[0]


def _reveal(value: Any) -> Any:
    """Mocks receive secret inputs wrapped as {sig: secret-sig, value: ...}; the engine hands policies the
    plain values, so the recorded inputs are unwrapped the same way."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return _reveal(value.get("value"))
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every registration. Outputs are the inputs plus what the cloud would fill in; the SSH key
    resources run the real provider code (it is pure Python), so keys in the output are real keys."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self.calls: list[Call] = []
        self._addresses = 0

    def _public_address(self) -> str:
        self._addresses += 1
        return f"192.0.2.{self._addresses}"  # TEST-NET-1 (RFC 5737)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = _reveal(dict(args.inputs))
        self.resources.append(Registered(args.typ, args.name, inputs))
        state: dict[str, Any] = {"name": args.name, **inputs}
        if args.typ == KEY_TYPE:
            created = PROVIDER.create({"comment": inputs.get("comment", "")})
            return created.id, {**inputs, **created.outs}
        if args.typ == "pulumi-python:dynamic:Resource" and "container" in inputs:  # an LXC node
            # what the node provider reads back from a booted container: its ed25519 host key
            host = PROVIDER.create({"comment": f"root@{inputs['hostname']}"}).outs["public_key"]
            return inputs["container"], {**inputs, "host_key": host, "base_build_seconds": 0}
        if args.typ == "aws:ec2/instance:Instance":
            state["publicIp"] = self._public_address()
        elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state["dnsName"] = f"{args.name}.elb.example.invalid"
            state["arn"] = f"arn:aws:elasticloadbalancing:::loadbalancer/net/{args.name}"
        elif args.typ == "aws:lb/targetGroup:TargetGroup":
            state["arn"] = f"arn:aws:elasticloadbalancing:::targetgroup/{args.name}"
        elif args.typ == "aws:ec2/keyPair:KeyPair":
            state["keyName"] = args.name
        elif args.typ == "azure-native:network:PublicIPAddress":
            state["ipAddress"] = self._public_address()
        elif args.typ == "azure-native:resources:ResourceGroup":
            state["id"] = f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/{args.name}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        """Answers the one lookup the program makes (the AMI, when fastdata:image is not set) and records
        it; any other invoke is a test failure (the program stays deterministic)."""
        self.calls.append(Call(args.token, _reveal(dict(args.args))))
        if args.token == "aws:ec2/getAmi:getAmi":
            return {"id": LOOKED_UP_AMI, "imageId": LOOKED_UP_AMI, "name": "looked-up", **args.args}
        raise AssertionError(f"the program must not call invokes (got {args.token}): keep it deterministic")


def stack_config(stack: str) -> dict[str, Any]:
    """The `fastdata:` keys of a shipped stack file, without the namespace."""
    doc = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())
    return {k.split(":", 1)[1]: v for k, v in (doc.get("config") or {}).items() if k.startswith("fastdata:")}


def _as_config_string(value: Any) -> str:
    """How the Pulumi engine hands config to a program: strings, objects and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def plugin_home(root: Path, installed: bool = True) -> Path:
    """A PULUMI_HOME whose plugin directory holds the pinned aws and azure-native plugins (empty stand-in
    binaries: under mocks no plugin runs, the program only checks they are installed), or nothing."""
    from infra.plugins import PLUGINS

    (root / "plugins").mkdir(parents=True, exist_ok=True)
    if installed:
        for plugin in PLUGINS.values():
            where = root / "plugins" / f"resource-{plugin.name}-v{plugin.version}"
            where.mkdir(exist_ok=True)
            (where / plugin.binary).write_text("")
    return root


@pytest.fixture
def run_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., ProgramRun]]:
    monkeypatch.setenv("PULUMI_HOME", str(plugin_home(tmp_path / "pulumi-home")))
    # The SDK's serialize_provider wraps pickle._Pickler._batch_setitems once per dynamic resource and
    # never unwraps it (https://github.com/pulumi/pulumi/issues/17803): one program run adds a few levels,
    # but a whole tier in one process overflows the recursion limit. Restored after every test.
    monkeypatch.setattr(pickle._Pickler, "_batch_setitems", pickle._Pickler._batch_setitems)
    monkeypatch.setattr(pickle._Pickler, "save_dict", pickle._Pickler.save_dict)
    old_settings = runtime_settings.SETTINGS
    loops: list[asyncio.AbstractEventLoop] = []

    def run(config: Mapping[str, Any], stack: str = "test", allow_error: bool = False) -> ProgramRun:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        asyncio.set_event_loop(loop)
        pulumi.runtime.set_all_config({f"fastdata:{k}": _as_config_string(v) for k, v in config.items()})
        mocks = RecordingMocks()
        pulumi.runtime.set_mocks(mocks, project="fastdata", stack=stack, preview=False)
        result = ProgramRun(mocks.resources, calls=mocks.calls)
        monkeypatch.setattr(pulumi, "export", lambda name, value: result.exports.__setitem__(name, value))
        try:
            runpy.run_path(str(PROGRAM), run_name="__main__")
        except Exception as err:  # handed to the test, which asserts on it
            if not allow_error:
                raise
            result.error = err
            # a component may have started registering before the error: finish that in this run's loop,
            # or the runtime's count of outstanding RPCs leaks into the next run and it waits forever
            loop.run_until_complete(wait_for_rpcs())
            return result
        for name, value in list(result.exports.items()):
            output = pulumi.Output.from_input(value)
            result.exports[name] = loop.run_until_complete(output.future())
            result.secret[name] = loop.run_until_complete(output.is_secret())
        loop.run_until_complete(wait_for_rpcs())
        return result

    yield run
    runtime_settings.configure(old_settings)
    pulumi.runtime.set_all_config({})
    asyncio.set_event_loop(None)
    for loop in loops:
        loop.close()


def sdk_has_tags(resource_type: str) -> bool:
    """Whether the Pulumi SDK class for a type token (aws:ec2/vpc:Vpc, azure-native:network:Subnet) takes
    `tags`: ground truth for the policy pack's UNTAGGABLE list."""
    package, module, name = resource_type.split(":")
    root = {"aws": "pulumi_aws", "azure-native": "pulumi_azure_native"}[package]
    cls = getattr(importlib.import_module(f"{root}.{module.split('/')[0]}"), name)
    return "tags" in inspect.signature(cls._internal_init).parameters
