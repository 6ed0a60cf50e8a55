"""Operation primitives: files, packages, users, directories, artifacts, systemd services.

Each returns an `Op` whose check reads state with one cheap command and explains itself ("already
installed"), and whose apply yields only the commands needed. Facts are parsed by small pure functions
so unit tests can feed fake command output.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable, Sequence

from roles.artifacts import Artifact
from roles.connection import Remote, RunResult
from roles.engine import Check, Op, RenderedFile

q = shlex.quote


def probed(
    key: str,
    name: str,
    probe: str,
    judge: Callable[[RunResult], Check],
    apply: Callable[[Remote], None],
    **kw: object,
) -> Op:
    """An op whose check is one read-only command + a pure judge (so the executor can batch it)."""

    def check(r: Remote) -> Check:
        return judge(r.run(probe, check=False))

    return Op(key, name, check, apply, probe=probe, judge=judge, **kw)  # type: ignore[arg-type]


# --- facts (pure parsers) ------------------------------------------------------------------------------


def parse_file_fact(output: str) -> tuple[str, str, str] | None:
    """`sha256 mode owner` from file_fact_command, or None when the file is absent."""
    parts = output.split()
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def file_fact_command(path: str) -> str:
    return (
        f"test -f {q(path)} && printf '%s %s %s\\n' \"$(sha256sum < {q(path)} | cut -d' ' -f1)\" "
        f'"$(stat -c %a {q(path)})" "$(stat -c %U {q(path)})" || true'
    )


def parse_dpkg(output: str, packages: Sequence[str]) -> list[str]:
    """Packages (of `packages`) not fully installed, from `dpkg-query -W -f='${Package} ${Status}\\n'`."""
    installed = set()
    for line in output.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip() == "install ok installed":
            installed.add(parts[0].split(":")[0])
    return [p for p in packages if p not in installed]


# --- primitives -----------------------------------------------------------------------------------------


def file_op(
    key: str,
    name: str,
    path: str,
    content: str | bytes,
    mode: int = 0o644,
    owner: str = "root",
    notify: Sequence[str] = (),
) -> Op:
    data = content.encode() if isinstance(content, str) else content
    want = hashlib.sha256(data).hexdigest()

    def judge(res: RunResult) -> Check:
        fact = parse_file_fact(res.stdout)
        if fact is None:
            return Check(False, f"{path} missing")
        sha, fmode, fowner = fact
        if sha != want:
            return Check(False, f"{path} content differs")
        if int(fmode, 8) != mode or fowner != owner:
            return Check(False, f"{path} mode/owner {fmode}/{fowner}, want {mode:o}/{owner}")
        return Check(True, f"{path} up to date")

    def apply(r: Remote) -> None:
        r.put(data, path, mode=mode, owner=owner)

    return probed(
        key,
        name,
        file_fact_command(path),
        judge,
        apply,
        notify=tuple(notify),
        files=(RenderedFile(path, data, mode),),
    )


def apt_op(key: str, packages: Sequence[str], name: str | None = None) -> Op:
    pkgs = " ".join(q(p) for p in packages)

    def judge(res: RunResult) -> Check:
        missing = parse_dpkg(res.stdout, packages)
        return Check(not missing, f"missing {', '.join(missing)}" if missing else "already installed")

    def apply(r: Remote) -> None:
        # Nodes reach Debian's mirrors (NAT on the local cloud; the VPC's egress on aws/azure).
        r.run(
            "export DEBIAN_FRONTEND=noninteractive; "
            "apt-get -o DPkg::Lock::Timeout=120 update -qq && "
            f"apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends {pkgs}",
            timeout=900,
        )

    return probed(
        key,
        name or f"packages {', '.join(packages)} installed",
        f"dpkg-query -W -f='${{Package}} ${{Status}}\\n' {pkgs} 2>/dev/null || true",
        judge,
        apply,
    )


def user_op(key: str, user: str, home: str) -> Op:
    def judge(res: RunResult) -> Check:
        ok = res.ok
        return Check(ok, f"user {user} exists" if ok else f"user {user} missing")

    def apply(r: Remote) -> None:
        r.run(
            f"useradd --system --user-group --home-dir {q(home)} --no-create-home "
            f"--shell /usr/sbin/nologin {q(user)}"
        )

    return probed(key, f"system user {user} present", f"id -u {q(user)}", judge, apply)


def directory_op(key: str, path: str, owner: str = "root", mode: int = 0o755) -> Op:
    def judge(res: RunResult) -> Check:
        out = res.stdout.split()
        if not out:
            return Check(False, f"{path} missing")
        if out[-2:] != [owner, f"{mode:o}"] or out[0] != "directory":
            return Check(False, f"{path} is {' '.join(out)}, want directory {owner} {mode:o}")
        return Check(True, f"{path} present")

    def apply(r: Remote) -> None:
        r.run(f"install -d -o {q(owner)} -g {q(owner)} -m {mode:o} {q(path)}")

    return probed(
        key, f"directory {path} present", f"stat -c '%F %U %a' {q(path)} 2>/dev/null || true", judge, apply
    )


ARTIFACT_DIR = "/opt/fastdata/artifacts"


def artifact_op(key: str, art: Artifact, notify: Sequence[str] = ()) -> Op:
    """The cached file on the node, pushed only when missing or its sha256 differs."""
    path = f"{ARTIFACT_DIR}/{art.filename}"

    def judge(res: RunResult) -> Check:
        out = res.stdout.split()
        if not out:
            return Check(False, f"{art.filename} not on node")
        if out[0] != art.sha256:
            return Check(False, f"{art.filename} sha256 differs")
        return Check(True, f"{art.filename} sha256 matches")

    def apply(r: Remote) -> None:
        r.put(art.path, path, mode=0o644)

    return probed(
        key,
        f"artifact {art.filename} on node ({art.size / 1e6:.0f} MB)",
        f"sha256sum {q(path)} 2>/dev/null || true",
        judge,
        apply,
        notify=tuple(notify),
    )


def marker_op(
    key: str,
    name: str,
    marker: str,
    want: str,
    what: str,
    apply: Callable[[Remote], None],
    notify: Sequence[str] = (),
) -> Op:
    """State recorded by a marker file whose content identifies what was installed."""

    def judge(res: RunResult) -> Check:
        have = res.stdout.strip()
        if have == want:
            return Check(True, f"{what} already installed")
        if not have:
            return Check(False, f"{what} not installed")
        return Check(False, f"{what}: installed {have[:16]}, want {want[:16]}")

    return probed(key, name, f"cat {q(marker)} 2>/dev/null || true", judge, apply, notify=tuple(notify))


def unpack_op(key: str, art: Artifact, dest: str, notify: Sequence[str] = ()) -> Op:
    """The tar artifact extracted to `dest` (replaced as a whole when the artifact changes)."""
    marker = f"{dest}/.fastdata-sha256"
    src = f"{ARTIFACT_DIR}/{art.filename}"

    def apply(r: Remote) -> None:
        new = f"{dest}.new"
        r.run(
            f"rm -rf {q(new)} && mkdir -p {q(new)} && tar -xf {q(src)} -C {q(new)} && "
            f"echo {art.sha256} > {q(new)}/.fastdata-sha256 && rm -rf {q(dest)} && mv {q(new)} {q(dest)}"
        )

    return marker_op(key, f"{art.name} unpacked in {dest}", marker, art.sha256, art.name, apply, notify)


def parse_systemctl(output: str) -> tuple[str, str]:
    """(enabled-state, active-state) from `systemctl is-enabled U; systemctl is-active U`."""
    lines = [x.strip() for x in output.splitlines() if x.strip()]
    return (lines[0] if lines else "unknown", lines[1] if len(lines) > 1 else "unknown")


def service_op(key: str, unit: str, name: str, satisfies: Sequence[str] = ()) -> Op:
    """Unit enabled and running. `satisfies`: restarts made moot when this op starts the unit."""

    def judge(res: RunResult) -> Check:
        enabled, active = parse_systemctl(res.stdout)
        if enabled == "enabled" and active == "active":
            return Check(True, "already enabled and running")
        return Check(False, f"{unit} is {enabled}/{active}")

    def apply(r: Remote) -> None:
        r.run(f"systemctl daemon-reload && systemctl enable --now {q(unit)}")

    probe = f"systemctl is-enabled {q(unit)} 2>/dev/null; systemctl is-active {q(unit)} 2>/dev/null; true"
    return probed(key, name, probe, judge, apply, satisfies=tuple(satisfies))


def restart_unit(unit: str) -> Callable[[Remote], None]:
    def restart(r: Remote) -> None:
        r.run(f"systemctl daemon-reload && systemctl restart {q(unit)}")

    return restart


def unit_active(unit: str) -> Callable[[Remote], Check]:
    def check(r: Remote) -> Check:
        state = r.run(f"systemctl is-active {q(unit)}", check=False).stdout.strip()
        return Check(state == "active", f"{unit} {state}")

    return check
