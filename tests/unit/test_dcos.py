"""The dcos platform's planners, genconf files and installer handling, checked against the installer
double (tests/doubles/dcos_installer_double.py), which validates config.yaml as dcos/dcos `gen` does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from roles import tasks
from roles.engine.connection import RunResult
from roles.engine.executor import Op, plan_phases
from roles.engine.inventory import parse_inventory
from roles.errors import ArtifactMissing, ConfigError
from roles.platforms import dcos
from tests.dcos_cluster import dcos_inventory, dcos_spec, doubles, installer_settings
from tests.mesos_cluster import inventory_file

pytestmark = [pytest.mark.unit, pytest.mark.double]
INSTALLER, _ = doubles()

PREREQ_KEYS = [
    "dcos-prerequisites",
    "dcos-groups",
    "firewalld-disabled",
    "dnsmasq-disabled",
    "docker-running",
    "artifact-dir",
]


def keys(ops: list[Op]) -> list[str]:
    return [o.key for o in ops]


def files_of(ops: list[Op]) -> dict[str, str]:
    return {f.path: f.content.decode() for op in ops for f in op.files}


def test_three_master_plan_exact_ops_and_files(tmp_path: Path) -> None:
    """bootstrap-0: artifact server with the installer, genconf, the generator run, serve published;
    masters one install op each (serial phase), agents slave / slave_public; packages from master-0."""
    spec, inv = dcos_spec(tmp_path, masters=3, agents=3)
    phases = plan_phases(dcos.PLATFORM, spec, inv)
    assert {h: keys(o) for h, o in phases["prerequisites"].items()} == {
        n.name: PREREQ_KEYS for n in inv.nodes
    }
    assert keys(phases["bootstrap"]["bootstrap-0"]) == [
        "seed-dcos-installer",
        "seed-py4j",
        "seed-pyspark",
        "seed-spark-kafka",
        "artifact-server-unit",
        "artifact-server-running",
        "dcos-genconf-dir",
        "dcos-config",
        "dcos-ip-detect",
        "dcos-genconf",
        "dcos-serve-published",
        "dcos-upgrade-script",
    ], "the Kafka jar bundle is not seeded: Kafka comes from the DC/OS package"
    assert list(phases["bootstrap"]) == ["bootstrap-0"]
    assert {h: keys(o) for h, o in phases["masters"].items()} == {
        f"master-{i}": ["dcos-installed", "dcos-upgraded"] for i in range(3)
    }
    assert {h: [o.name for o in ops] for h, ops in phases["agents"].items()} == {
        "agent-0": ["DC/OS 2.2.1 slave on agent-0", "DC/OS 2.2.1 running on agent-0"],
        "agent-1": ["DC/OS 2.2.1 slave on agent-1", "DC/OS 2.2.1 running on agent-1"],
        "agent-2": ["DC/OS 2.2.1 slave on agent-2", "DC/OS 2.2.1 running on agent-2"],
        "public-agent-0": [
            "DC/OS 2.2.1 slave_public on public-agent-0",
            "DC/OS 2.2.1 running on public-agent-0",
        ],
    }
    assert keys(phases["packages"]["master-0"]) == [
        "dcos-packages-dir",
        "hdfs-install-request",
        "package:hdfs",
        "kafka-install-request",
        "package:kafka",
        "spark-install-request",
        "package:spark",
    ]
    assert list(phases["packages"]) == ["master-0"] and phases["demo"] == {}

    boot = files_of(phases["bootstrap"]["bootstrap-0"])
    assert boot["/opt/fastdata/dcos/genconf/config.yaml"] == (
        "# Rendered by fastdata (roles/dcos.py): the DC/OS installer's configuration.\n"
        'bootstrap_url: "http://10.98.0.5:8099/dcos"\n'
        'cluster_name: "fastdata-dcos"\n'
        'exhibitor_storage_backend: "static"\n'
        'master_discovery: "static"\n'
        'master_list: ["10.98.0.11", "10.98.0.12", "10.98.0.13"]\n'
        'resolvers: ["8.8.8.8", "8.8.4.4"]\n'
        'ip_detect_filename: "genconf/ip-detect"\n'
        "oauth_enabled: false\n"
        "telemetry_enabled: false\n"
        "enable_ipv6: false\n"
        "dcos_l4lb_enable_ipv6: false\n"
    )
    assert "ip -4 -o route get 10.98.0.11" in boot["/opt/fastdata/dcos/genconf/ip-detect"]
    kafka = json.loads(files_of(phases["packages"]["master-0"])["/etc/fastdata/dcos/packages/kafka.json"])
    assert kafka == {
        "packageName": "kafka",
        "packageVersion": "2.10.0-2.4.0",
        "options": {
            "service": {"name": "kafka"},
            "brokers": {"count": 3, "port": 9092},
            "kafka": {
                "auto_create_topics_enable": True,
                "num_partitions": 6,
                "default_replication_factor": 3,
                "min_insync_replicas": 2,
            },
        },
    }


def test_one_master_plan_and_demo_steps(tmp_path: Path) -> None:
    """1 master: master_list of one; with the demo every agent gets the pipeline's files, the bootstrap node
    serves the processor's entry point and master-0 submits it to the Spark package's dispatcher."""
    spec, inv = dcos_spec(tmp_path, masters=1, agents=1, demo=True)
    phases = plan_phases(dcos.PLATFORM, spec, inv)
    assert list(phases["masters"]) == ["master-0"]
    config = files_of(phases["bootstrap"]["bootstrap-0"])["/opt/fastdata/dcos/genconf/config.yaml"]
    assert 'master_list: ["10.98.0.11"]\n' in config
    assert keys(phases["demo"]["agent-0"])[:3] == ["base-packages", "artifact-dir", "spark-kafka-artifact"]
    assert keys(phases["demo"]["public-agent-0"])[:1] == ["base-packages"]
    assert [k for k in keys(phases["demo"]["master-0"]) if k.startswith(("app:", "spark-"))] == [
        "app:/fastdata/demo/producer",
        "app:/fastdata/demo/dashboard",
        "spark-submissions-dir",
        "spark-request:processor",
        "spark-job:processor",
    ], "the processor is a Spark job submitted to the Spark package's dispatcher, not a Marathon app"
    assert keys(phases["demo"]["bootstrap-0"]) == ["demo-jobs-dir", "demo-job-entry"]
    request = json.loads(files_of(phases["demo"]["master-0"])["/etc/fastdata/spark/processor.json"])
    assert request["appResource"] == "http://10.98.0.5:8099/jobs/crime-processor.py"
    props = request["sparkProperties"]
    assert props["spark.master"] == "mesos://zk://10.98.0.11:2181/mesos"
    assert props["spark.mesos.driverEnv.MESOS_NATIVE_JAVA_LIBRARY"] == "/opt/mesosphere/lib/libmesos.so"


def genconf_dir(tmp_path: Path, config: str, ip_detect: str) -> Path:
    (tmp_path / "genconf").mkdir(parents=True)
    (tmp_path / "genconf" / "config.yaml").write_text(config)
    (tmp_path / "genconf" / "ip-detect").write_text(ip_detect)
    (tmp_path / "genconf" / "ip-detect").chmod(0o755)
    return tmp_path


def run_generator(cwd: Path, installer: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(installer)], cwd=cwd, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(("masters", "cloud"), [(1, "local"), (3, "aws"), (5, "azure")])
def test_rendered_genconf_is_accepted_by_the_generator_double(
    tmp_path: Path, masters: int, cloud: str
) -> None:
    spec, inv = dcos_spec(tmp_path / "spec", masters=masters, agents=1, cloud=cloud)
    boot = files_of(plan_phases(dcos.PLATFORM, spec, inv)["bootstrap"]["bootstrap-0"])
    cwd = genconf_dir(
        tmp_path / "run",
        boot["/opt/fastdata/dcos/genconf/config.yaml"],
        boot["/opt/fastdata/dcos/genconf/ip-detect"],
    )
    out = run_generator(cwd, spec.artifact("dcos-installer").path)
    assert out.returncode == 0, out.stderr
    served = (cwd / "genconf/serve/dcos_install.sh").read_text()
    assert "'bootstrap_url': 'http://10.98.0.5:8099/dcos'" in served


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda c: c.replace('master_discovery: "static"\n', ""),
            "master_discovery: Must set master_discovery",
        ),
        (lambda c: c.replace('8099/dcos"', '8099/dcos/"'), "bootstrap_url: Must not end in a '/'"),
        (lambda c: c.replace('"10.98.0.13"', '"10.98.0.12"'), "master_list: List cannot contain duplicates"),
        (
            lambda c: c.replace(', "10.98.0.13"', ""),
            "num_masters: Must have 1, 3, 5, 7, or 9 masters. Found 2",
        ),
        (
            lambda c: c.replace("dcos_l4lb_enable_ipv6: false", "dcos_l4lb_enable_ipv6: true"),
            "dcos_l4lb_enable_ipv6:",
        ),
        (
            lambda c: c.replace("oauth_enabled: false", 'oauth_enabled: "yes"'),
            "oauth_enabled: Must be one of",
        ),
        (
            lambda c: c + "resolvers2: x\nfault_domain_enabled: false\n",
            "fault_domain_enabled must be calculated",
        ),
        (lambda c: c.replace('"8.8.4.4"', '"198.51.100.1"'), "resolvers: 198.51.100.1-3 are reserved"),
        (
            lambda c: c.replace('"static"\nmaster_d', '"s3"\nmaster_d'),
            "exhibitor_storage_backend: Must be one of",
        ),
    ],
)
def test_broken_config_is_rejected_by_the_generator_double_naming_the_key(
    tmp_path: Path, change: object, error: str
) -> None:
    spec, inv = dcos_spec(tmp_path / "spec", masters=3, agents=1)
    boot = files_of(plan_phases(dcos.PLATFORM, spec, inv)["bootstrap"]["bootstrap-0"])
    config = boot["/opt/fastdata/dcos/genconf/config.yaml"]
    broken = change(config)  # type: ignore[operator]
    assert broken != config
    cwd = genconf_dir(tmp_path / "run", broken, boot["/opt/fastdata/dcos/genconf/ip-detect"])
    out = run_generator(cwd, spec.artifact("dcos-installer").path)
    assert out.returncode == 1 and error in out.stderr, out.stderr
    assert not (cwd / "genconf/serve").exists()


def test_generator_double_needs_an_executable_ip_detect(tmp_path: Path) -> None:
    spec, inv = dcos_spec(tmp_path / "spec", masters=1, agents=1)
    boot = files_of(plan_phases(dcos.PLATFORM, spec, inv)["bootstrap"]["bootstrap-0"])
    cwd = genconf_dir(tmp_path / "run", boot["/opt/fastdata/dcos/genconf/config.yaml"], "")
    (cwd / "genconf/ip-detect").unlink()
    out = run_generator(cwd, spec.artifact("dcos-installer").path)
    assert (
        out.returncode == 1
        and "ip_detect_filename: ip-detect script `genconf/ip-detect` must exist" in out.stderr
    )
    (cwd / "genconf/ip-detect").write_text("echo 10.0.0.1\n")
    out = run_generator(cwd, spec.artifact("dcos-installer").path)
    assert out.returncode == 1 and "must be executable and start with #!" in out.stderr


def test_ip_detect_per_cloud(tmp_path: Path) -> None:
    """aws asks IMDSv2 for a token first; azure asks IMDS with Metadata: true; local runs here and prints
    the address it reaches the first master from (127.0.0.1 for a master on loopback)."""
    scripts = {
        cloud: dcos.ip_detect(parse_inventory(dcos_inventory(1, 1, net="127.0.0", cloud=cloud)))
        for cloud in ("aws", "azure", "local")
    }
    assert "-X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60'" in scripts["aws"]
    assert "X-aws-ec2-metadata-token: $token" in scripts["aws"] and "meta-data/local-ipv4" in scripts["aws"]
    assert "-H 'Metadata: true'" in scripts["azure"] and "privateIpAddress?api-version=" in scripts["azure"]
    for text in scripts.values():
        assert text.startswith("#!/usr/bin/env bash\n")
        assert subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True).returncode == 0
    local = tmp_path / "ip-detect"
    local.write_text(scripts["local"])
    out = subprocess.run(["bash", str(local)], capture_output=True, text=True, timeout=10)
    # the kernel's answer for a route to 127.0.0.11 here: `local 127.0.0.11 dev lo src 127.0.0.1`
    assert (out.returncode, out.stdout) == (0, "127.0.0.1\n"), out.stderr


def test_invalid_settings_fail_before_any_node_naming_the_key(tmp_path: Path) -> None:
    """settings.dcos feeding config.yaml is checked as gen would, before anything connects."""
    settings = installer_settings(tmp_path)
    cases = [
        ({"resolvers": ["10.0.0.2", "10.0.0.2"]}, "- resolvers: List cannot contain duplicates"),
        ({"config": {"num_masters": 3}}, "- num_masters: num_masters must be calculated"),
        (
            {"config": {"enable_ipv6": False, "dcos_l4lb_enable_ipv6": True}},
            "- dcos_l4lb_enable_ipv6: Must be false",
        ),
        ({"config": {"dns_search": "a.example,b.example"}}, "- dns_search: Must be a space-separated list"),
    ]
    for i, (dcos_settings, message) in enumerate(cases):
        (tmp_path / str(i)).mkdir()
        inv_file = inventory_file(
            tmp_path / str(i), dcos_inventory(3, 1, artifacts=settings, dcos_settings=dcos_settings)
        )
        with pytest.raises(ConfigError) as info:
            tasks.deploy(None, str(inv_file), dry_run=True)
        assert message in str(info.value) and "nothing was changed on any node" in str(info.value)
    two = dcos_inventory(2, 1, artifacts=settings)
    (tmp_path / "two").mkdir()
    with pytest.raises(ConfigError, match="needs 1, 3, 5, 7 or 9 masters, the inventory has 2"):
        tasks.render(None, str(inventory_file(tmp_path / "two", two)), tmp_path / "out")


def test_missing_or_wrong_installer_fails_before_any_node_naming_the_keys(tmp_path: Path) -> None:
    inv_file = inventory_file(tmp_path, dcos_inventory(1, 1, artifacts={"cacheDir": str(tmp_path / "cache")}))
    for call in (
        lambda: tasks.deploy(None, str(inv_file), dry_run=True),
        lambda: tasks.render(None, str(inv_file), tmp_path / "out"),
    ):
        with pytest.raises(ArtifactMissing) as info:
            call()
        msg = str(info.value)
        assert (
            "fastdata:artifacts.dcosInstallerUrl" in msg and "fastdata:artifacts.dcosInstallerSha256" in msg
        )
        assert "nothing was changed on any node" in msg
    assert not (tmp_path / "out").exists()
    wrong = {
        **installer_settings(tmp_path / "w"),
        "dcosInstallerSha256": "0" * 64,
        "cacheDir": str(tmp_path / "c"),
    }
    inv_file = inventory_file(tmp_path / "w", dcos_inventory(1, 1, artifacts=wrong))
    with pytest.raises(ArtifactMissing, match=r"settings\.artifacts\.dcosInstallerSha256 says 0{64}"):
        tasks.render(None, str(inv_file), tmp_path / "out")


def test_render_writes_every_file_per_node_without_ssh(tmp_path: Path) -> None:
    inv_file = inventory_file(tmp_path, dcos_inventory(3, 2, artifacts=installer_settings(tmp_path)))
    out = tmp_path / "render"
    written = tasks.render(None, str(inv_file), out)
    assert {p.relative_to(out).parts[0] for p in written} == {"bootstrap-0", "master-0"}
    assert (out / "bootstrap-0/opt/fastdata/dcos/genconf/ip-detect").stat().st_mode & 0o777 == 0o755
    assert "master_list" in (out / "bootstrap-0/opt/fastdata/dcos/genconf/config.yaml").read_text()
    assert (out / "master-0/etc/fastdata/dcos/packages/spark.json").is_file()
    listing = (out / "master-2/OPERATIONS.txt").read_text()
    assert listing.endswith(
        "masters\tdcos-installed\tDC/OS 2.2.1 master on master-2\n"
        "masters\tdcos-upgraded\tDC/OS 2.2.1 running on master-2\n"
    )


@pytest.mark.parametrize(
    ("stdout", "state"),
    [
        ("@@fastdata-roles\n", "absent"),
        ('{"version": "2.2.1"}\n@@fastdata-roles\nslave\n', "installed"),
        ('{"version": "2.2.0"}\n@@fastdata-roles\nslave\n', "upgrade"),
        ("@@fastdata-roles\nslave\n", "unfinished"),
        ('{"version": "2.2.1"}\n@@fastdata-roles\nmaster\n', "other-role"),
    ],
)
def test_install_state_from_the_version_file(stdout: str, state: str) -> None:
    assert dcos.install_state(RunResult("probe", 0, stdout, ""), "2.2.1", "slave")[0] == state
