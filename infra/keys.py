"""SSH keys made by the program: the admin key pair of a stack and the SSH host keys of cloud VMs.

Both are ed25519 key pairs generated once, at create, by a Pulumi dynamic provider and kept in state
(private halves as secrets). The admin public key goes onto every node; host keys reach cloud VMs
through cloud-init `ssh_keys`, so the inventory can pin them and no connection trusts on first use.

Why the provider class is built inside a function: Pulumi dill-pickles the provider object into state
and the dynamic-provider process unpickles it. dill pickles a class that lives in an importable module
*by reference* (module path + name), and that process runs with infra/ as its working directory (Pulumi
sets the program's cwd to the `main:` directory), where `infra.keys` imports only thanks to the editable
install. A class defined in a function is pickled *by value*: state carries its code and stays valid
whatever happens to this module later.
The class therefore holds no clients and references only installed packages; the private key never
reaches the pickled object (it is an output, not an attribute).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic
import yaml

KEY_TYPE = "ssh-ed25519"


def _make_provider() -> pulumi.dynamic.ResourceProvider:
    """The provider instance. Everything it uses is imported inside its methods (see module docstring)."""

    class Ed25519KeyProvider(pulumi.dynamic.ResourceProvider):
        """Creates an ed25519 key pair once; never rotates it on its own (rotation = replace)."""

        def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
            import base64
            import hashlib

            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ed25519

            key = ed25519.Ed25519PrivateKey.generate()
            private = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            ).decode()
            public = (
                key.public_key()
                .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
                .decode()
            )
            blob = base64.b64decode(public.split()[1])
            fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
            outs = {
                "comment": props.get("comment", ""),
                "public_key": public,
                "authorized_key": f"{public} {props.get('comment', '')}".strip(),
                "private_key": private,
                "fingerprint": fingerprint,
            }
            return pulumi.dynamic.CreateResult(id_=fingerprint, outs=outs)

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
            # The comment only labels the authorized_keys line; changing it must not rotate a key that
            # nodes already trust, so no input ever forces a replacement.
            changed = olds.get("comment") != news.get("comment")
            return pulumi.dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

        def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
            outs = dict(olds)
            outs["comment"] = news.get("comment", "")
            outs["authorized_key"] = f"{olds['public_key']} {outs['comment']}".strip()
            return pulumi.dynamic.UpdateResult(outs=outs)

        def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
            # The key exists only in state: refresh has nothing else to compare it with.
            return pulumi.dynamic.ReadResult(id_=id_, outs=props)

    return Ed25519KeyProvider()


PROVIDER = _make_provider()


class Ed25519Key(pulumi.dynamic.Resource, module="fastdata", name="Ed25519Key"):
    """An ed25519 key pair kept in Pulumi state. Type token: pulumi-python:dynamic/fastdata:Ed25519Key."""

    public_key: pulumi.Output[str]  # "ssh-ed25519 AAAA..."
    authorized_key: pulumi.Output[str]  # public key plus the comment: an authorized_keys line
    private_key: pulumi.Output[str]  # OpenSSH PEM, a secret
    fingerprint: pulumi.Output[str]  # "SHA256:...", as ssh-keygen -l prints it
    comment: pulumi.Output[str]

    def __init__(self, name: str, comment: str, opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["private_key"])
        super().__init__(
            PROVIDER,
            name,
            {
                "comment": comment,
                "public_key": None,
                "authorized_key": None,
                "private_key": None,
                "fingerprint": None,
            },
            pulumi.ResourceOptions.merge(opts, secret),
        )


def admin_key(cluster_name: str, parent: pulumi.Resource) -> Ed25519Key:
    """The stack's admin SSH key: Fabric logs in with it as `sshUser` on every node."""
    return Ed25519Key(
        f"{cluster_name}-admin-key",
        comment=f"fastdata-admin@{cluster_name}",
        opts=pulumi.ResourceOptions(parent=parent),
    )


def host_key(cluster_name: str, node_name: str, parent: pulumi.Resource) -> Ed25519Key:
    """The SSH host key of one cloud VM, installed by cloud-init and pinned in the inventory."""
    return Ed25519Key(
        f"{cluster_name}-{node_name}-host-key",
        comment=f"root@{cluster_name}-{node_name}",
        opts=pulumi.ResourceOptions(parent=parent),
    )


def host_key_cloud_config(private_key: str, public_key: str) -> str:
    """cloud-init user data that installs the given ed25519 host key and no other.

    `ssh_deletekeys` removes the image's baked-in keys and `ssh_genkeytypes: []` stops cloud-init from
    generating others, so the only key sshd can present is the one the inventory pins.
    """
    doc = {
        "ssh_deletekeys": True,
        "ssh_genkeytypes": [],
        "ssh_keys": {"ed25519_private": private_key, "ed25519_public": public_key},
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, default_flow_style=False, sort_keys=True)


def host_key_user_data(key: Ed25519Key) -> pulumi.Output[str]:
    """cloud-init user data for one VM's host key (a secret: it holds the private half)."""
    pair = pulumi.Output.all(key.private_key, key.public_key)
    return pulumi.Output.secret(pair.apply(lambda kv: host_key_cloud_config(kv[0], kv[1])))
