"""The drain guard: a `pulumi preview` or `pulumi up` that would delete an agent not drained is refused,
before anything is deleted, with the command to run first (DESIGN 4; docs/contracts.md "Scaling").

One dynamic resource per stack, `AgentSet`, whose input is the list of agents (name, address, host key)
and the SSH login. When a run drops agents from the list (fastdata:nodes.agent.count lowered), the
provider's `check` - which the engine calls at registration, in preview and in up, with the previous
inputs - logs in to each dropped agent with the pinned host key and reads the record `fab drain` left
(roles/lifecycle.py, DRAINED_MARKER). An agent without it fails the check: the run stops while the
program is still registering, and Pulumi deletes removed resources only after the program finished, so
nothing is deleted. `pulumi destroy` deletes the AgentSet like any resource (no program runs then).

Why the provider class is built inside a function: see infra/keys.py (pickled by value into the state).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi.dynamic

from infra.inventory import NodeRecord
from infra.spec import ClusterSpec, Role

# Also spelled in roles/lifecycle.py (the program imports nothing from roles/).
DRAINED_MARKER = "/var/lib/fastdata/drained"
SSH_PORT = 22


def _make_provider() -> pulumi.dynamic.ResourceProvider:
    """The provider instance. Everything it uses is imported inside its methods (see infra/keys.py)."""

    class AgentSetProvider(pulumi.dynamic.ResourceProvider):
        """Refuses (in `check`) an input that drops an agent which is not drained."""

        def read_marker(self, agent: dict[str, Any], login: dict[str, Any]) -> str:
            """The drained record on `agent`, over SSH with its pinned host key ("" when absent)."""
            import base64
            import io

            import paramiko

            keytype, blob = str(agent["host_key"]).split()[:2]
            client = paramiko.SSHClient()
            port = int(login.get("port", 22))
            host = agent["address"] if port == 22 else f"[{agent['address']}]:{port}"
            client.get_host_keys().add(
                host, keytype, paramiko.PKey.from_type_string(keytype, base64.b64decode(blob))
            )
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            try:
                client.connect(
                    agent["address"],
                    port=port,
                    username=login["user"],
                    pkey=paramiko.Ed25519Key.from_private_key(io.StringIO(login["private_key"])),
                    timeout=15,
                    allow_agent=False,
                    look_for_keys=False,
                )
                _, out, _ = client.exec_command(f"cat {login['marker']} 2>/dev/null || true", timeout=15)
                return str(out.read().decode(errors="replace"))
            finally:
                client.close()

        def refusals(self, olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
            kept = {a["name"] for a in news.get("agents") or []}
            dropped = [a for a in olds.get("agents") or [] if a["name"] not in kept]
            login = {**(olds.get("login") or {}), "marker": olds.get("marker", "")}
            stack = news.get("stack") or olds.get("stack") or "STACK"
            out = []
            for agent in dropped:
                name = agent["name"]
                try:
                    text = self.read_marker(agent, login)
                except Exception as exc:  # noqa: BLE001 - any failure to read the record means "not known drained"
                    reason = f"its drained record could not be read ({type(exc).__name__}: {exc})"
                else:
                    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
                    if fields.get("node") == name:
                        continue
                    reason = f"it is not drained (no {login['marker']} naming it)"
                out.append(
                    f"agent {name} would be deleted but {reason}; nothing was deleted. Run first:\n"
                    f"    fab drain --stack {stack} --node {name}\n"
                    f"then `pulumi up` again. (An agent lost for good has nothing left to drain: check that "
                    f"`fab status --stack {stack}` shows no under-replicated partitions, then "
                    f"`pulumi state delete` this stack's fastdata:AgentSet resource and run `pulumi up`.)"
                )
            return out

        def check(self, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
            failures = [pulumi.dynamic.CheckFailure("agents", r) for r in self.refusals(olds, news)]
            return pulumi.dynamic.CheckResult(news, failures)

        def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
            return pulumi.dynamic.CreateResult(id_=f"agents-{props.get('stack', '')}", outs=props)

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
            keys = ("agents", "login", "marker", "stack")
            return pulumi.dynamic.DiffResult(
                changes=any(olds.get(k) != news.get(k) for k in keys),
                replaces=[],
                delete_before_replace=False,
            )

        def update(
            self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
        ) -> pulumi.dynamic.UpdateResult:
            return pulumi.dynamic.UpdateResult(outs=news)

        def delete(self, _id: str, _props: dict[str, Any]) -> None:
            return None  # destroy: the agents go with it; a scale-in was checked already

    return AgentSetProvider()


PROVIDER = _make_provider()


class AgentSet(pulumi.dynamic.Resource, module="fastdata", name="AgentSet"):
    """The agents as the drain guard sees them. Type token: pulumi-python:dynamic/fastdata:AgentSet."""

    def __init__(
        self,
        name: str,
        agents: Sequence[NodeRecord],
        spec: ClusterSpec,
        private_key: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["login"])
        super().__init__(
            PROVIDER,
            name,
            {
                "agents": [
                    {
                        "name": a.name,
                        # where the control machine reaches it, as Fabric does
                        "address": a.public_ip if a.public_ip is not None else a.private_ip,
                        "host_key": a.host_key,
                    }
                    for a in agents
                ],
                "login": pulumi.Output.secret(
                    pulumi.Output.all(private_key).apply(
                        lambda k: {"user": spec.ssh_user, "port": SSH_PORT, "private_key": k[0]}
                    )
                ),
                "marker": DRAINED_MARKER,
                "stack": spec.stack,
            },
            pulumi.ResourceOptions.merge(opts, secret),
        )


def agent_set(
    spec: ClusterSpec, records: Sequence[NodeRecord], private_key: pulumi.Input[str], parent: pulumi.Resource
) -> AgentSet:
    """The drain guard of one cluster component (every cloud declares it the same way)."""
    return AgentSet(
        f"{spec.name}-agents",
        [r for r in records if r.role is Role.AGENT],
        spec,
        private_key,
        opts=pulumi.ResourceOptions(parent=parent),
    )
