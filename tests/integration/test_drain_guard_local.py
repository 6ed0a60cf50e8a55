"""The drain guard with the real Pulumi engine on the local cloud: lowering the agent count of a stack
whose last agent is not drained is refused in `pulumi preview` and `pulumi up` (the container survives,
the message names `fab drain`); once the agent carries the drained record, `pulumi up` deletes it; and
`pulumi destroy` still removes everything. A small stack: 1 master, 2 agents, no demo."""

from __future__ import annotations

import subprocess

import pytest

from tests.cluster import pulumi, throwaway_stack, write_stack_file
from tests.helpers import report

pytestmark = pytest.mark.integration

STACK = "it-scale-guard"
CONTAINER = f"fastdata-{STACK}-agent-1"


def _config(agents: int) -> dict:
    return {
        "local": {"bridge": "fdsc0", "subnet": "10.98.42.0/24"},
        "nodes": {
            # memory limits only: nothing is deployed, so the containers use little of them
            "master": {"count": 1, "size": "3G"},
            "agent": {"count": agents, "size": "4G"},
            "publicAgent": {"count": 0, "size": "2G"},
        },
        "demo": {"enabled": False},
    }


def _exists(name: str) -> bool:
    out = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=True).stdout.split()
    return name in out


def test_an_undrained_agent_is_not_deleted_and_a_drained_one_is() -> None:
    with throwaway_stack(STACK, _config(2)):
        assert _exists(CONTAINER)
        write_stack_file(STACK, _config(1))
        for args in (("preview",), ("up", "--yes", "--skip-preview")):
            run = pulumi(STACK, *args, check=False)
            text = run.stdout + run.stderr
            assert run.returncode != 0, f"pulumi {args[0]} went through:\n{text[-3000:]}"
            assert "agent agent-1 would be deleted but it is not drained" in text, text[-3000:]
            assert f"fab drain --stack {STACK} --node agent-1" in text
            assert _exists(CONTAINER), f"pulumi {args[0]} deleted the container"
        # what `fab drain` writes last, on the node itself
        subprocess.run(
            ["lxc-attach", "-n", CONTAINER, "--", "sh", "-c",
             "mkdir -p /var/lib/fastdata && printf 'node=agent-1\\n' > /var/lib/fastdata/drained"],
            check=True,
        )  # fmt: skip
        up = pulumi(STACK, "up", "--yes", "--skip-preview")
        assert not _exists(CONTAINER), up.stdout[-2000:]
        report("drain guard: undrained removal refused in preview and up; drained agent deleted")
