"""Operation primitives: files, packages, users, directories, artifacts, systemd services.

Each returns an `Op` whose check reads state with one cheap command and explains itself ("already
installed"), and whose apply yields only the commands needed. Facts are parsed by small pure functions
so unit tests can feed fake command output.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence

from contract import Node
from roles.artifacts import Artifact
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Handler, Op, RenderedFile
from roles.engine.spec import ArtifactServer, DeploySpec

q = shlex.quote


def parse_running(text: str) -> tuple[str, int, int] | None:
    """(version, start epoch, newest config mtime) from a daemon's running-facts probe (one line
    `<version> <started> <changed>`), None when the daemon does not run."""
    parts = text.split()
    if len(parts) != 3 or not all(p.isdigit() for p in parts[1:]):
        return None
    return parts[0], int(parts[1]), int(parts[2])


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


def state_op(
    key: str,
    name: str,
    probe: str,
    state: Callable[[RunResult], tuple[str, str]],
    act: Callable[[Remote, str, str], None],
    done: str = "installed",
) -> Op:
    """An op whose probe classifies the node (`state` -> (state, detail)); it holds in state `done`.
    Its apply reads the state again and hands it to `act`, which fixes it or refuses with a reason."""

    def judge(res: RunResult) -> Check:
        current, detail = state(res)
        return Check(current == done, detail)

    def apply(r: Remote) -> None:
        current, detail = state(r.run(probe, check=False))
        act(r, current, detail)

    return probed(key, name, probe, judge, apply)


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
    """Packages (of `packages`) not fully installed, from `dpkg-query -W -f='${Package} ${Status}...'`."""
    installed = set()
    for line in output.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].split()[:3] == ["install", "ok", "installed"]:
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


def parse_rpm(output: str, packages: Sequence[str]) -> list[str]:
    """Packages (of `packages`) not installed, from `rpm -q --qf '%{NAME} installed\\n'` (which prints
    "package X is not installed" for the missing ones)."""
    installed = {parts[0] for parts in map(str.split, output.splitlines()) if parts[1:] == ["installed"]}
    return [p for p in packages if p not in installed]


def _dpkg_query(packages: Sequence[str], with_version: bool = False) -> str:
    fields = "${Package} ${Status} ${Version}" if with_version else "${Package} ${Status}"
    return f"dpkg-query -W -f='{fields}\\n' {' '.join(q(p) for p in packages)} 2>/dev/null"


def _apt_install(packages: Sequence[str]) -> str:
    # Nodes reach Debian's mirrors (NAT on the local cloud; the VPC's egress on aws/azure).
    return (
        "export DEBIAN_FRONTEND=noninteractive; "
        "apt-get -o DPkg::Lock::Timeout=120 update -qq && "
        "apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "
        + " ".join(q(p) for p in packages)
    )


def parse_dpkg_versions(output: str) -> dict[str, str]:
    """package -> installed version, from `dpkg-query -W -f='${Package} ${Status} ${Version}\\n'`."""
    versions: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[1:4] == ["install", "ok", "installed"]:
            versions[parts[0].split(":")[0]] = parts[4]
    return versions


def apt_op(
    key: str, packages: Sequence[str], name: str | None = None, versions: Mapping[str, str] | None = None
) -> Op:
    """Debian packages installed; `versions` pins some of them to an upstream version (package -> e.g.
    1.6.7): apt installs `name=<version>*` and a different installed version is not the desired state."""
    pins = dict(versions or {})

    def judge(res: RunResult) -> Check:
        missing = parse_dpkg(res.stdout, packages)
        if missing:
            return Check(False, f"missing {', '.join(missing)}")
        installed = parse_dpkg_versions(res.stdout)
        wrong = [
            f"{p} {installed.get(p, '?')} (wanted {v})"
            for p, v in pins.items()
            if not installed.get(p, "").split(":")[-1].startswith(v)
        ]
        return Check(not wrong, f"other version: {', '.join(wrong)}" if wrong else "already installed")

    def apply(r: Remote) -> None:
        r.run(_apt_install([f"{p}={pins[p]}*" if p in pins else p for p in packages]), timeout=900)

    query = _dpkg_query(packages, with_version=bool(pins))
    return probed(key, name or f"packages {', '.join(packages)} installed", f"{query} || true", judge, apply)


def system_packages_op(key: str, apt: Sequence[str], yum: Sequence[str], name: str) -> Op:
    """Packages installed with whichever manager the node has: `apt` names on Debian (the local cloud),
    `yum` names on CentOS/RHEL 7 (the DC/OS images on aws/azure). The probe's first line says which."""

    def judge(res: RunResult) -> Check:
        manager, _, rest = res.stdout.partition("\n")
        if manager.strip() == "apt":
            missing = parse_dpkg(rest, apt)
        elif manager.strip() == "yum":
            missing = parse_rpm(rest, yum)
        else:
            return Check(
                False, "neither dpkg-query nor rpm found: the node is neither Debian nor CentOS/RHEL"
            )
        return Check(not missing, f"missing {', '.join(missing)}" if missing else "already installed")

    def apply(r: Remote) -> None:
        if r.run("command -v dpkg-query", check=False).ok:
            r.run(_apt_install(apt), timeout=900)
        else:
            r.run(f"yum install -y -q {' '.join(q(p) for p in yum)}", timeout=900)

    rpm = f"rpm -q --qf '%{{NAME}} installed\\n' {' '.join(q(p) for p in yum)}"
    probe = (
        f"if command -v dpkg-query >/dev/null; then echo apt; {_dpkg_query(apt)}; "
        f"elif command -v rpm >/dev/null; then echo yum; {rpm}; else echo none; fi; true"
    )
    return probed(key, name, probe, judge, apply)


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


def stamp_path(path: str) -> str:
    """Where an artifact's checksum stamp lives: `sha256 size mtime`, written after a verified transfer."""
    directory, name = posixpath.split(path)
    return f"{directory}/.{name}.stamp"


def artifact_probe(path: str) -> str:
    """`<sha256> stamp` when the stamp still matches the file's size and mtime, else `<sha256> hashed`.

    This is rsync's quick check. A no-op run reads a few bytes per artifact instead of hashing
    hundreds of MB on every node."""
    f, s = q(path), q(stamp_path(path))
    return (
        f"test -f {f} || exit 0; st=$(stat -c '%s %Y' {f}); "
        f'if [ -f {s} ] && [ "$(cut -d" " -f2- {s})" = "$st" ]; then echo "$(cut -d" " -f1 {s}) stamp"; '
        f'else echo "$(sha256sum < {f} | cut -d" " -f1) hashed"; fi'
    )


def write_stamp(path: str, sha256: str, verify: bool) -> str:
    """Shell: record the stamp (after checking the file's sha256 when `verify`); fails on a mismatch."""
    f, s = q(path), q(stamp_path(path))
    check = f'[ "$(sha256sum < {f} | cut -d" " -f1)" = {sha256} ] && ' if verify else ""
    return f"test -f {f} && {check}echo \"{sha256} $(stat -c '%s %Y' {f})\" > {s}"


# Runs on the node: stream one file from the artifact server, hashing as it goes (stdlib only).
_FETCH = """\
import hashlib, sys, urllib.request
url, dest, want, server = sys.argv[1:5]
h = hashlib.sha256()
try:
    with urllib.request.urlopen(url, timeout=60) as r, open(dest, "wb") as f:
        for b in iter(lambda: r.read(1 << 20), b""):
            h.update(b)
            f.write(b)
except OSError as e:
    sys.exit(f"cannot fetch {url}: {e}; check fastdata-artifacts.service on {server} (the artifact server)")
if h.hexdigest() != want:
    sys.exit(f"{url}: sha256 {h.hexdigest()}, want {want}; the copy on {server} is damaged, re-run deploy")
"""


def artifact_op(
    key: str, art: Artifact, server: ArtifactServer | None = None, notify: Sequence[str] = ()
) -> Op:
    """The cached file on the node, verified by sha256; transferred only when missing or different.

    `server` None: pushed from the control machine over SSH. Otherwise fetched from the artifact server,
    which the control machine seeded first (roles/platforms/common.py)."""
    path = f"{ARTIFACT_DIR}/{art.filename}"

    def judge(res: RunResult) -> Check:
        out = res.stdout.split()
        if not out:
            return Check(False, f"{art.filename} not on node")
        if out[0] != art.sha256:
            return Check(False, f"{art.filename} sha256 differs")
        if out[1:] != ["stamp"]:
            return Check(False, f"{art.filename} sha256 matches, checksum stamp missing")
        return Check(True, f"{art.filename} sha256 matches")

    def apply(r: Remote) -> None:
        if r.run(write_stamp(path, art.sha256, verify=True), check=False).ok:
            return  # the file was right; only its stamp was missing
        if server is None:
            r.put(art.path, path, mode=0o644)
            r.run(write_stamp(path, art.sha256, verify=True))
            return
        part = f"{ARTIFACT_DIR}/.{art.filename}.part"
        r.run(
            f"python3 -c {q(_FETCH)} {q(server.url + '/' + art.filename)} {q(part)} {art.sha256} "
            f"{q(server.node)} && chmod 644 {q(part)} && mv -f {q(part)} {q(path)} && "
            f"{write_stamp(path, art.sha256, verify=False)}; rc=$?; rm -f {q(part)}; exit $rc",
            timeout=900,
        )

    via = "" if server is None else f", from {server.node}"
    return probed(
        key,
        f"artifact {art.filename} on node ({art.size / 1e6:.0f} MB{via})",
        artifact_probe(path),
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


def service_disabled_op(key: str, unit: str, name: str) -> Op:
    """Unit stopped and disabled, or not installed at all (e.g. firewalld, which DC/OS needs off)."""

    def judge(res: RunResult) -> Check:
        enabled, active = parse_systemctl(res.stdout)
        if enabled in ("enabled", "enabled-runtime") or active == "active":
            return Check(False, f"{unit} is {enabled}/{active}")
        return Check(True, f"{unit} not running ({enabled}/{active})")

    def apply(r: Remote) -> None:
        r.run(f"systemctl disable --now {q(unit)}")

    probe = (
        f"echo $(systemctl is-enabled {q(unit)} 2>/dev/null || echo absent); "
        f"systemctl is-active {q(unit)} 2>/dev/null; true"
    )
    return probed(key, name, probe, judge, apply)


def restart_unit(unit: str) -> Callable[[Remote], None]:
    def restart(r: Remote) -> None:
        r.run(f"systemctl daemon-reload && systemctl restart {q(unit)}")

    return restart


def unit_active(unit: str) -> Callable[[Remote], Check]:
    def check(r: Remote) -> Check:
        state = r.run(f"systemctl is-active {q(unit)}", check=False).stdout.strip()
        return Check(state == "active", f"{unit} {state}")

    return check


def source(spec: DeploySpec, node: Node) -> ArtifactServer | None:
    """Where `node` gets artifacts from: None (pushed over SSH) on the artifact server itself."""
    server = spec.artifact_server
    return None if server is None or server.node == node.name else server


def unit_handler(
    key: str,
    name: str,
    unit: str,
    healthy: Callable[[Remote], Check] | None = None,
    rolling: bool = True,
    timeout: float = 120.0,
) -> Handler:
    """The restart of a systemd unit; healthy: `healthy` on the node, by default the unit active."""
    return Handler(key, name, restart_unit(unit), healthy or unit_active(unit), rolling, timeout)


def http_get(url: str) -> str:
    """Shell: print the body of `url` (stdlib Python: every node has python3, not every image curl)."""
    code = f"import urllib.request;print(urllib.request.urlopen({url!r},timeout=10).read().decode())"
    return f"python3 -c {q(code)}"
