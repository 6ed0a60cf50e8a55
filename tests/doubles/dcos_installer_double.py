#!/usr/bin/env python3
""":"
exec python3 "$0" "$@"
" -- bash ran the line above (`bash dcos_install.sh master`); Python reads this block as the docstring.

Contract double of DC/OS 2.2's `dcos_generate_config.sh` and the `dcos_install.sh` it generates
(stdlib only; test use only). Run as `dcos_generate_config.sh` (symlink) or as a `dcos_install.sh` it
wrote; both also run under `bash <file>`, as the real ones are run.

dcos_generate_config.sh [--genconf | --generate-node-upgrade-script <installed> | --version | --help],
in the directory holding genconf/:
- reads genconf/config.yaml (a YAML subset: `key: value` lines, values plain scalars or JSON/flow lists;
  anything else is refused as unparsable, where real gen would parse full YAML), stringifies it as gen does
  (lists -> JSON, booleans -> 'true'/'false') and validates what dcos/dcos gen/calc.py validates
  (docs/reference/dcos-mesos.md 1.4, 6.1): required keys reported "unset", master_discovery and
  exhibitor_storage_backend choices, master_list (JSON list of unique IPv4, 1/3/5/7/9 masters),
  bootstrap_url (not ending in '/'), resolvers, dns_search, booleans, enable_ipv6 vs
  dcos_l4lb_enable_ipv6, calculated keys set by hand, ip_detect_filename (must exist; this double also
  wants it executable and starting with #!, as the docs ask) and ip_detect_public_filename. Unknown keys
  pass silently, as in gen. Errors print as `key: message`, exit 1.
- on success writes genconf/serve/: dcos_install.sh (this file, with the bootstrap URL and version baked
  in), bootstrap.latest, bootstrap/<id>.bootstrap.tar.xz (empty) and <id>.active.json,
  cluster-package-info.json; and genconf/cluster_packages.json.
- `--generate-node-upgrade-script <installed>` (dcos/dcos dcos_installer/upgrade.py; docs/reference/
  dcos-mesos.md 1.8): validates config.yaml as --genconf does, writes
  genconf/serve/upgrade/<uuid>/dcos_node_upgrade.sh (this file, with the from/to versions, the bootstrap
  URL and master_list baked in) and prints `Node upgrade script URL: <bootstrap_url>/upgrade/<uuid>/
  dcos_node_upgrade.sh` as its last line; refuses an <installed> that is not a version or is not a
  supported path to this installer's version (2.0.x, 2.1.x or 2.2.x to 2.2.x, not a downgrade).
- Simulated: no Docker is needed or run; no packages are built.

dcos_node_upgrade.sh [--skip-checks] [-v] (a generated one):
- refuses unless the node's /opt/mesosphere/etc/dcos-version.json (under $DCOS_DOUBLE_ROOT) says the
  <installed> version it was generated for, as the real script does;
- on an agent (roles slave, slave_public) refuses unless every master of master_list already serves the
  new version at http://<master>/dcos-metadata/dcos-version.json: DC/OS upgrades masters first (the real
  script's `dcos-check-runner check cluster` before it starts; simulated by this check);
- writes the new version into the version file (what `pkgpanda activate` leaves) and exits 0.

dcos_install.sh [-d|--disable-preflight] [-p|--preflight-only] [--no-block-dcos-setup] ROLE
  (ROLE: master, slave or slave_public)
- refuses another role or option (usage, exit 1), refuses to run unless root, refuses an existing
  installation (dcos.target or a non-empty /opt/mesosphere), as the real preflight does;
- writes under $DCOS_DOUBLE_ROOT (default /): etc/mesosphere/roles/<role>,
  etc/mesosphere/setup-flags/{repository-url,bootstrap-id}, etc/systemd/system/dcos.target and
  opt/mesosphere/etc/dcos-version.json (what dcos-setup leaves: version, bootstrap-id, dcos-variant open).
- Simulated: nothing is downloaded, no unit is started.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

VERSION = "2.2.1"
BOOTSTRAP_ID = "5df43052907c021eeb5de145419a3da1898c58a5"
BAKED: dict[str, str] = {}  # set in a generated dcos_install.sh: bootstrap_url, version, bootstrap_id
RESERVED = ("198.51.100.1", "198.51.100.2", "198.51.100.3")  # gen's own TEST-NET-2 addresses
ROLES = ("master", "slave", "slave_public")
REQUIRED = ("bootstrap_url", "cluster_name", "exhibitor_storage_backend", "master_discovery")
BACKENDS = ("agent_only_group_no_exhibitor", "aws_s3", "shared_filesystem", "static", "zookeeper", "azure")
BOOLEANS = (
    "oauth_enabled",
    "telemetry_enabled",
    "enable_ipv6",
    "dcos_l4lb_enable_ipv6",
    "check_time",
    "use_proxy",
    "enable_docker_gc",
)
BACKEND_KEYS = {
    "zookeeper": ("exhibitor_zk_hosts", "exhibitor_zk_path"),
    "aws_s3": ("aws_region", "s3_bucket", "s3_prefix"),
    "azure": ("exhibitor_azure_account_name", "exhibitor_azure_account_key", "exhibitor_azure_prefix"),
    "shared_filesystem": ("exhibitor_fs_config_dir",),
}


class ParseError(Exception):
    pass


def parse_config(text: str) -> dict[str, Any]:
    """The YAML subset: `key: value` per line; # comments; values JSON, else a plain string."""
    out: dict[str, Any] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*):\s*(.*)", line)
        if not m:
            raise ParseError(f"line {n}: expected `key: value`, got {raw!r}")
        key, value = m.groups()
        if key in out:
            raise ParseError(f"line {n}: duplicate key {key!r}")
        try:
            out[key] = json.loads(value) if value else ""
        except json.JSONDecodeError:
            if value[:1] in "[{\"'":
                raise ParseError(f"line {n}: cannot parse the value of {key}: {value!r}") from None
            out[key] = value
    return out


def stringify(config: Mapping[str, Any]) -> dict[str, str]:
    """gen/__init__.py stringify_configuration: lists/dicts to JSON, booleans to 'true'/'false'."""
    out = {}
    for key, value in config.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | dict):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out


def _ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def _json_list(value: str, key: str, errors: dict[str, str]) -> list[Any] | None:
    try:
        items = json.loads(value)
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list):
        errors[key] = f"Must be a JSON formatted list, but couldn't be parsed the same way: {value!r}"
        return None
    if len(set(map(str, items))) != len(items):
        errors[key] = f"List cannot contain duplicates: {items}"
        return None
    return items


def calculated(key: str) -> str:
    return f"{key} must be calculated, but was explicitly set in the configuration"


def validate(config: Mapping[str, str], genconf_parent: Path) -> dict[str, str]:
    """{key: message} as `dcos_installer.config.Config.do_validate()` flattens it; {} when valid."""
    errors: dict[str, str] = {}
    for key in REQUIRED:
        if key not in config:
            errors[key] = "Must set " + key + ", no way to calculate value."
    url = config.get("bootstrap_url")
    if url is not None:
        if len(url) <= 1:
            errors["bootstrap_url"] = (
                "Should be a url (http://example.com/bar or file:///path/to/local/cache)"
            )
        elif url.endswith("/"):
            errors["bootstrap_url"] = "Must not end in a '/'"
    discovery = config.get("master_discovery")
    if discovery is not None and discovery not in ("master_http_loadbalancer", "static"):
        errors["master_discovery"] = "Must be one of 'master_http_loadbalancer', 'static'."
    backend = config.get("exhibitor_storage_backend")
    if backend is not None and backend not in BACKENDS:
        errors["exhibitor_storage_backend"] = "Must be one of " + ", ".join(f"'{b}'" for b in BACKENDS) + "."
    for key in BACKEND_KEYS.get(backend or "", ()):
        if key not in config:
            errors[key] = "Must set " + key + ", no way to calculate value."
    if discovery == "static":
        if "master_list" not in config:
            errors["master_list"] = "Must set master_list, no way to calculate value."
        else:
            masters = _json_list(config["master_list"], "master_list", errors)
            if masters is not None:
                bad = [m for m in masters if not (isinstance(m, str) and _ipv4(m))]
                if bad:
                    errors["master_list"] = f"Invalid IPv4 addresses in list: {', '.join(map(str, bad))}"
                elif len(masters) not in (1, 3, 5, 7, 9):
                    errors["num_masters"] = f"Must have 1, 3, 5, 7, or 9 masters. Found {len(masters)}"
        if "num_masters" in config:
            errors["num_masters"] = (
                "num_masters must be calculated, but was explicitly set in the configuration"
            )
    elif discovery == "master_http_loadbalancer":
        if backend == "static":
            errors["exhibitor_storage_backend"] = (
                "When master_discovery is not static, exhibitor_storage_backend must be non-static. "
                "Having a variable list of masters which may change and static storage is not supported."
            )
        for key in ("exhibitor_address", "num_masters"):
            if key not in config:
                errors[key] = "Must set " + key + ", no way to calculate value."
    if "resolvers" in config:
        resolvers = _json_list(config["resolvers"], "resolvers", errors)
        if resolvers is not None:
            bad = [r for r in resolvers if not (isinstance(r, str) and _ipv4(r.split(":")[0]))]
            if bad:
                errors["resolvers"] = f"Invalid IPv4 addresses in list: {', '.join(map(str, bad))}"
            elif any(
                str(r).split(":")[0] in ("198.51.100.1", "198.51.100.2", "198.51.100.3") for r in resolvers
            ):
                errors["resolvers"] = "198.51.100.1-3 are reserved IP addresses used by DC/OS; use others"
    search = config.get("dns_search")
    if search is not None:
        if "\n" in search or "," in search:
            errors["dns_search"] = "Must be space-separated list of domains, no newlines or commas"
        elif len(search) >= 256 or len(search.split()) > 6:
            errors["dns_search"] = "Must be at most 6 domains and under 256 characters"
    for key in BOOLEANS:
        if key in config and config[key] not in ("true", "false"):
            errors[key] = f"Must be one of 'false', 'true'. Got {config[key]!r}"
    if config.get("enable_ipv6", "true") == "false" and config.get("dcos_l4lb_enable_ipv6", "true") == "true":
        errors["dcos_l4lb_enable_ipv6"] = "Must be false when enable_ipv6 is false"
    if "fault_domain_enabled" in config:
        errors["fault_domain_enabled"] = calculated("fault_domain_enabled")
    for key, what in (("ip_detect_filename", "ip-detect"), ("ip_detect_public_filename", "ip-detect-public")):
        name = config.get(key, "genconf/ip-detect" if key == "ip_detect_filename" else "")
        if not name:
            continue
        path = genconf_parent / name
        if not path.is_file():
            errors[key] = f"{what} script `{name}` must exist"
        elif not os.access(path, os.X_OK) or not path.read_bytes().startswith(b"#!"):
            errors[key] = f"{what} script `{name}` must be executable and start with #! (a shebang)"
    return errors


def generate(cwd: Path, source: Path) -> int:
    config_path = cwd / "genconf" / "config.yaml"
    if not config_path.is_file():
        print(f"Config file not found: {config_path}; create genconf/config.yaml first", file=sys.stderr)
        return 1
    try:
        config = stringify(parse_config(config_path.read_text()))
    except ParseError as exc:
        print(f"Unable to parse genconf/config.yaml: {exc}", file=sys.stderr)
        return 1
    errors = validate(config, cwd)
    if errors:
        print("Errors:", file=sys.stderr)
        for key, message in sorted(errors.items()):
            print(f"{key}: {message}", file=sys.stderr)
        return 1
    serve = cwd / "genconf" / "serve"
    (serve / "bootstrap").mkdir(parents=True, exist_ok=True)
    baked = {"bootstrap_url": config["bootstrap_url"], "version": VERSION, "bootstrap_id": BOOTSTRAP_ID}
    text = source.read_text().replace("BAKED: dict[str, str] = {}", f"BAKED: dict[str, str] = {baked!r}", 1)
    (serve / "dcos_install.sh").write_text(text)
    (serve / "bootstrap.latest").write_text(BOOTSTRAP_ID + "\n")
    (serve / "bootstrap" / f"{BOOTSTRAP_ID}.bootstrap.tar.xz").write_bytes(b"")
    (serve / "bootstrap" / f"{BOOTSTRAP_ID}.active.json").write_text("[]\n")
    info = {"version": VERSION, "bootstrap_id": BOOTSTRAP_ID, "cluster_name": config["cluster_name"]}
    (serve / "cluster-package-info.json").write_text(json.dumps(info) + "\n")
    (cwd / "genconf" / "cluster_packages.json").write_text("{}\n")
    print(f"Package filename: dcos_install.sh\nGenerating configuration files... done ({serve})")
    return 0


INSTALL_USAGE = """\
Usage: dcos_install.sh [-d|--disable-preflight] [-p|--preflight-only] [--no-block-dcos-setup] ROLE
ROLE is one of: master, slave, slave_public (contract double of DC/OS {version})"""


def install(argv: Sequence[str], env: Mapping[str, str]) -> int:
    options = {"-d", "--disable-preflight", "-p", "--preflight-only", "--no-block-dcos-setup", "-h", "--help"}
    flags = [a for a in argv if a.startswith("-")]
    roles = [a for a in argv if not a.startswith("-")]
    usage = INSTALL_USAGE.format(version=BAKED.get("version", VERSION))
    if {"-h", "--help"} & set(flags):
        print(usage)
        return 0
    unknown = [f for f in flags if f not in options]
    if unknown or len(roles) != 1 or roles[0] not in ROLES:
        what = f"unknown option {unknown[0]}" if unknown else f"invalid role {' '.join(roles) or '(none)'}"
        print(f"{what}\n{usage}", file=sys.stderr)
        return 1
    if not BAKED:
        print("this dcos_install.sh was not produced by dcos_generate_config.sh", file=sys.stderr)
        return 1
    root = Path(env.get("DCOS_DOUBLE_ROOT") or "/")
    if root == Path("/") and os.geteuid() != 0:
        print("dcos_install.sh must be run as root", file=sys.stderr)
        return 1
    mesosphere = root / "opt" / "mesosphere"
    if (root / "etc/systemd/system/dcos.target").exists() or (
        mesosphere.is_dir() and any(mesosphere.iterdir())
    ):
        print(
            "Found an existing DC/OS installation. To reinstall DC/OS on this this machine you must first "
            "uninstall DC/OS then run dcos_install.sh.",
            file=sys.stderr,
        )
        return 1
    if {"-p", "--preflight-only"} & set(flags):
        print("Preflight checks passed")
        return 0
    role = roles[0]
    etc = root / "etc" / "mesosphere"
    (etc / "roles").mkdir(parents=True, exist_ok=True)
    (etc / "roles" / role).write_text("")
    (etc / "setup-flags").mkdir(parents=True, exist_ok=True)
    (etc / "setup-flags" / "repository-url").write_text(BAKED["bootstrap_url"] + "\n")
    (etc / "setup-flags" / "bootstrap-id").write_text(f"BOOTSTRAP_ID={BAKED['bootstrap_id']}\n")
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    (root / "etc/systemd/system/dcos.target").write_text("[Unit]\nDescription=DC/OS (double)\n")
    (mesosphere / "etc").mkdir(parents=True, exist_ok=True)
    (mesosphere / "etc" / "dcos-version.json").write_text(
        json.dumps(
            {
                "version": BAKED["version"],
                "dcos-image-commit": "contract-double",
                "bootstrap-id": BAKED["bootstrap_id"],
                "dcos-variant": "open",
            }
        )
        + "\n"
    )
    print(f"Starting DC/OS Install Process (double): {role}")
    return 0


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def supported_upgrade(installed: str, target: str) -> str | None:
    """Why `installed` -> `target` is not a supported path (docs: 2.0.x/2.1.x -> 2.2.x, patches in 2.2)."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", installed):
        return f"'{installed}' is not a DC/OS version"
    if version_key(installed) >= version_key(target):
        return f"{installed} is not older than {target}"
    if version_key(installed)[:2] not in ((2, 0), (2, 1), (2, 2)):
        return f"upgrading from {installed} to {target} is not supported (from 2.0.x, 2.1.x or 2.2.x only)"
    return None


def generate_upgrade(cwd: Path, source: Path, installed: str) -> int:
    problem = supported_upgrade(installed, VERSION)
    if problem:
        print(f"Error: {problem}", file=sys.stderr)
        return 1
    config_path = cwd / "genconf" / "config.yaml"
    try:
        config = stringify(parse_config(config_path.read_text()))
    except (OSError, ParseError) as exc:
        print(f"Unable to read genconf/config.yaml: {exc}", file=sys.stderr)
        return 1
    errors = validate(config, cwd)
    if errors:
        print("Errors:", file=sys.stderr)
        for key, message in sorted(errors.items()):
            print(f"{key}: {message}", file=sys.stderr)
        return 1
    uid = uuid.uuid4().hex
    folder = cwd / "genconf" / "serve" / "upgrade" / uid
    folder.mkdir(parents=True)
    baked = {
        "mode": "upgrade",
        "bootstrap_url": config["bootstrap_url"],
        "version": VERSION,
        "from": installed,
        "master_list": config.get("master_list", "[]"),
    }
    text = source.read_text().replace("BAKED: dict[str, str] = {}", f"BAKED: dict[str, str] = {baked!r}", 1)
    (folder / "dcos_node_upgrade.sh").write_text(text)
    print(f"Node upgrade script URL: {config['bootstrap_url']}/upgrade/{uid}/dcos_node_upgrade.sh")
    return 0


def node_upgrade(argv: Sequence[str], env: Mapping[str, str]) -> int:
    unknown = [a for a in argv if a not in ("--skip-checks", "-v", "--verbose")]
    if unknown:
        print(
            f"unknown option {unknown[0]}; usage: dcos_node_upgrade.sh [--skip-checks] [-v]", file=sys.stderr
        )
        return 1
    root = Path(env.get("DCOS_DOUBLE_ROOT") or "/")
    version_file = root / "opt/mesosphere/etc/dcos-version.json"
    try:
        have = str(json.loads(version_file.read_text()).get("version"))
    except (OSError, ValueError):
        print(f"{version_file} is missing: DC/OS is not installed on this node", file=sys.stderr)
        return 1
    if have != BAKED["from"]:
        print(
            f"The installed DC/OS version {have} does not match {BAKED['from']}, the version this upgrade "
            "script was generated for",
            file=sys.stderr,
        )
        return 1
    roles = [p.name for p in (root / "etc/mesosphere/roles").glob("*")]
    if "master" not in roles:
        behind = []
        for master in json.loads(BAKED["master_list"]):
            try:
                url = f"http://{master}/dcos-metadata/dcos-version.json"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    version = json.loads(resp.read()).get("version")
            except (OSError, ValueError):
                version = "unreachable"
            if version != BAKED["version"]:
                behind.append(f"{master} ({version})")
        if behind:
            print(
                f"Cluster check failed: masters must be upgraded to {BAKED['version']} before agents; "
                f"not yet: {', '.join(behind)}",
                file=sys.stderr,
            )
            return 1
    document = json.loads(version_file.read_text())
    document["version"] = BAKED["version"]
    version_file.write_text(json.dumps(document) + "\n")
    print(f"Upgrade of {' '.join(roles)} node from {have} to {BAKED['version']} (double): done")
    return 0


def main(argv: Sequence[str], env: Mapping[str, str], program: str) -> int:
    if BAKED.get("mode") == "upgrade":  # a generated dcos_node_upgrade.sh
        return node_upgrade(argv, env)
    if BAKED or os.path.basename(program) == "dcos_install.sh":  # a generated dcos_install.sh
        return install(argv, env)
    args = list(argv) or ["--genconf"]
    if args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if args[0] == "--version":
        print(json.dumps({"version": VERSION, "variant": ""}))
        return 0
    if args[0] == "--generate-node-upgrade-script" and len(args) == 2:
        return generate_upgrade(Path.cwd(), Path(__file__).resolve(), args[1])
    if args != ["--genconf"]:
        print(f"unrecognized arguments: {' '.join(args)}; see --help", file=sys.stderr)
        return 1
    return generate(Path.cwd(), Path(__file__).resolve())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ, sys.argv[0]))
