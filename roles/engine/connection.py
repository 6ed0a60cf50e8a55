"""SSH to the nodes: host keys pinned from the inventory, nothing learned on first use.

Fabric 3 hard-codes paramiko's AutoAddPolicy and never loads known_hosts (fabric/fabric#1804, #2071);
`StrictConnection` swaps in RejectPolicy and loads only the inventory's `ssh.knownHosts`.
`Remote` is what operations see: run a command (as root), upload bytes or a file.
"""

from __future__ import annotations

import base64
import io
import posixpath
import shlex
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import fabric
import paramiko
from invoke.exceptions import CommandTimedOut, UnexpectedExit

from contract import Cluster, Node
from roles.errors import FastdataError, HostKeyRejected, InventoryError

# A dead peer (container stopped, VM gone) must surface as an error in tens of seconds, not after the
# kernel's default ~15 minutes of TCP retransmissions.
TCP_USER_TIMEOUT_MS = 20_000
KEEPALIVE_S = 5


class CommandFailed(FastdataError):
    """A remote command exited non-zero (or timed out); carries what the error report needs."""

    def __init__(self, host: str, command: str, exit_code: int | None, output: str) -> None:
        self.host, self.command, self.exit_code, self.output = host, command, exit_code, output
        status = "timed out" if exit_code is None else f"exit {exit_code}"
        super().__init__(f"{host}: `{command}` {status}\n{tail(output)}")


class Unreachable(FastdataError):
    """The node cannot be reached over SSH (refused, timed out, connection lost)."""


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


@dataclass(frozen=True)
class RunResult:
    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Remote(Protocol):
    """The node as operations see it. Commands run as root (sudo when the SSH user is not root)."""

    node: Node

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult: ...

    def put(self, data: bytes | Path, path: str, mode: int = 0o644, owner: str = "root") -> None: ...


def load_private_key(text: str) -> paramiko.PKey:
    """The inventory key as a paramiko key object: never written anywhere, never printed."""
    errors = []
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(f"{cls.__name__}: {type(exc).__name__}")
    raise InventoryError(f"ssh.privateKey could not be loaded as ed25519, ecdsa or rsa ({'; '.join(errors)})")


def host_key_names(address: str, port: int) -> list[str]:
    # paramiko looks a non-22 port up as "[addr]:port" (known_hosts convention).
    return [address] if port == 22 else [f"[{address}]:{port}", address]


class StrictConnection(fabric.Connection):
    """A Fabric Connection that trusts exactly the host keys the inventory pins for this node."""

    def __init__(
        self, node: Node, inventory: Cluster, pkey: paramiko.PKey, connect_timeout: float = 10.0
    ) -> None:
        config = fabric.Config(overrides={"load_ssh_configs": False, "run": {"hide": True, "warn": True}})
        super().__init__(
            host=node.address,
            user=inventory.ssh.user,
            port=inventory.ssh.port,
            config=config,
            connect_timeout=connect_timeout,
            connect_kwargs={"pkey": pkey, "look_for_keys": False, "allow_agent": False},
        )
        self.node = node
        keys = self.client.get_host_keys()
        pinned = inventory.known_host_keys().get(node.address, [])
        for name in host_key_names(node.address, inventory.ssh.port):
            for keytype, b64 in pinned:
                keys.add(name, keytype, paramiko.PKey.from_type_string(keytype, base64.b64decode(b64)))
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())

    def open(self) -> None:
        if self.is_connected:
            return
        where = f"{self.node.name} ({self.host}:{self.port})"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise Unreachable(f"{where}: cannot open SSH connection: {exc.strerror or exc}") from exc
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, TCP_USER_TIMEOUT_MS)
        self.connect_kwargs["sock"] = sock
        try:
            super().open()
        except paramiko.BadHostKeyException as exc:
            sock.close()
            raise HostKeyRejected(
                f"{where}: host key CHANGED - it presented {exc.key.get_name()} "
                f"{exc.key.fingerprint}, the inventory pins {exc.expected_key.fingerprint}. Refusing to "
                "connect. If the node was re-created on purpose, re-read its keys with "
                "`pulumi refresh && pulumi up`; otherwise treat it as a possible man-in-the-middle."
            ) from exc
        except paramiko.SSHException as exc:
            sock.close()
            if "not found in known_hosts" in str(exc):
                raise HostKeyRejected(
                    f"{where}: host key UNKNOWN - the inventory's ssh.knownHosts has no key of the type "
                    "this node offered. Refusing to connect (no trust on first use). Re-read the keys with "
                    "`pulumi refresh && pulumi up`."
                ) from exc
            raise Unreachable(f"{where}: SSH handshake failed: {exc}") from exc
        except (OSError, EOFError) as exc:
            sock.close()
            raise Unreachable(f"{where}: SSH connection failed: {exc}") from exc
        finally:
            self.connect_kwargs.pop("sock", None)
        if self.transport is not None:
            self.transport.set_keepalive(KEEPALIVE_S)


class SshRemote:
    """`Remote` over a StrictConnection."""

    def __init__(self, conn: StrictConnection, default_timeout: float = 300.0) -> None:
        self.conn = conn
        self.node = conn.node
        self.default_timeout = default_timeout
        self.root = conn.user == "root"

    def _wrap(self, command: str) -> str:
        if self.root:
            return command
        return f"sudo -n -H bash -c {shlex.quote(command)}"

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        try:
            r = self.conn.run(
                self._wrap(command),
                hide=True,
                warn=True,
                in_stream=False,
                timeout=timeout or self.default_timeout,
            )
        except CommandTimedOut as exc:
            out = exc.result.stdout + exc.result.stderr
            raise CommandFailed(self.node.name, command, None, out) from exc
        except UnexpectedExit as exc:  # only with warn=False; kept for completeness
            raise CommandFailed(self.node.name, command, exc.result.exited, exc.result.stderr) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise Unreachable(
                f"{self.node.name} ({self.conn.host}): connection lost while running "
                f"`{command}`: {exc or type(exc).__name__}"
            ) from exc
        if r.exited == -1:  # the channel closed without an exit status: the node went away
            raise Unreachable(
                f"{self.node.name} ({self.conn.host}): connection lost while running "
                f"`{command}` (no exit status)"
            )
        result = RunResult(command, r.exited, r.stdout, r.stderr)
        if check and not result.ok:
            raise CommandFailed(self.node.name, command, result.exit_code, result.stdout + result.stderr)
        return result

    def put(self, data: bytes | Path, path: str, mode: int = 0o644, owner: str = "root") -> None:
        """Upload to a temp name, then install atomically with mode and owner.

        As root the temp file sits next to `path`, so installing it is a rename, not a second copy of a
        318 MB wheel; through sudo it goes to /tmp (the SSH user cannot write the target directory)."""
        directory = posixpath.dirname(path)
        if self.root:
            self.run(f"mkdir -p {shlex.quote(directory)}")
        tmp = posixpath.join(directory if self.root else "/tmp", f".fastdata-{uuid.uuid4().hex}")
        try:
            sftp = self.conn.sftp()
            if isinstance(data, Path):
                sftp.put(str(data), tmp)
            else:
                fh: IO[bytes] = io.BytesIO(data)
                sftp.putfo(fh, tmp)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise Unreachable(f"{self.node.name} ({self.conn.host}): upload of {path} failed: {exc}") from exc
        group = owner
        if self.root:
            install = (
                f"chmod {mode:o} {tmp} && chown {owner}:{group} {tmp} && mv -f {tmp} {shlex.quote(path)}"
            )
        else:
            install = (
                f"mkdir -p {shlex.quote(directory)} && "
                f"install -m {mode:o} -o {owner} -g {group} {tmp} {shlex.quote(path)}"
            )
        self.run(f"{install}; rc=$?; rm -f {tmp}; exit $rc")

    def close(self) -> None:
        self.conn.close()


def connect(inventory: Cluster, node: Node, pkey: paramiko.PKey, connect_timeout: float = 10.0) -> SshRemote:
    conn = StrictConnection(node, inventory, pkey, connect_timeout=connect_timeout)
    conn.open()
    return SshRemote(conn)
