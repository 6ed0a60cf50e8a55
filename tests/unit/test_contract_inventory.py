"""The contract between infra/ and roles/: ClusterSpec -> `cluster` output -> inventory, and the inventory
entry point's refusals (every bad input named as a field, all problems at once, no traceback)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from typing import Any

import pytest

from contract import Cluster, InvalidInventory
from contract.settings import Settings
from infra.spec import parse_spec
from tests.unit.test_engine import inventory_dict

pytestmark = pytest.mark.unit


def host_key(seed: int) -> str:
    """A well-formed ssh-ed25519 public key blob (type string + 32 key bytes)."""
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes([seed]) * 32
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def cluster_json(agents: int = 3, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The engine tests' inventory (master-0, agent-N, public-agent-0), with these settings."""
    data = inventory_dict(agents)
    data["endpoints"] = {**data["endpoints"], "bootstrap": None}
    data["settings"] = settings if settings is not None else {}
    return data


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{path}.{k}" if path else k))
        return out or {path: {}}
    return {path: value}


def test_spec_to_output_to_inventory_round_trip_keeps_every_setting() -> None:
    """Every settings key the stack config sets reaches the inventory unchanged (non-default values, so
    a key dropped on the way would fall back to its default and be noticed)."""
    config = {
        "cloud": "local",
        "nodes": {"agent": {"count": 4}},
        "versions": {"kafka": "3.9.0", "spark": "3.5.6", "zookeeper": "3.9.2", "influxdb": "1.8.10"},
        "kafka": {"brokers": 3, "replicationFactor": 2, "minInsyncReplicas": 1, "partitions": 9,
                  "heap": "1g"},
        "spark": {"masterHeap": "640m", "workerHeap": "384m", "workerMemory": "3g", "workerCores": 1},
        "demo": {"enabled": True, "dataset": "data/x.csv", "speedup": 30.0, "maxEventsPerSecond": 250,
                 "retention": "2w"},
        "dcos": {"resolvers": ["10.0.0.2"], "config": {"dns_search": "example.internal"},
                 "packageVersions": {"kafka": "2.9.0-2.4.0"}},
        "artifacts": {"cacheDir": "/srv/cache"},
        "publicPorts": [80, 8443],
    }  # fmt: skip
    spec = parse_spec(config, project="fastdata", stack="local")
    data = cluster_json(agents=4, settings=spec.settings.to_json())
    cluster = Cluster.from_json(json.loads(json.dumps(data)))  # through JSON, as Fabric reads it
    assert cluster.settings == spec.settings
    assert cluster.to_json() == data
    given = _leaves({k: v for k, v in config.items() if k not in ("cloud", "nodes")})
    carried = _leaves(cluster.settings.to_json())
    for key, value in given.items():
        want = value if key != "publicPorts" else sorted(value)
        assert carried[key] == want, key
    assert [n.name for n in cluster.brokers] == ["agent-0", "agent-1", "agent-2"]


def test_settings_defaults_adapt_to_a_two_agent_cluster() -> None:
    spec = parse_spec({"cloud": "local", "nodes": {"agent": {"count": 2}}}, project="fastdata", stack="local")
    k = spec.settings.kafka
    assert (k.brokers, k.replication_factor, k.min_insync_replicas) == (2, 2, 1)


def test_an_explicit_replication_factor_that_cannot_fit_names_both_keys() -> None:
    with pytest.raises(ValueError) as err:
        parse_spec(
            {"cloud": "local", "nodes": {"agent": {"count": 2}}, "kafka": {"replicationFactor": 3}},
            project="fastdata",
            stack="local",
        )
    text = str(err.value)
    assert "fastdata:kafka.replicationFactor" in text and "fastdata:nodes.agent.count" in text


def _with(path: str, value: Any, agents: int = 3) -> dict[str, Any]:
    data = cluster_json(agents)
    target: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    last = parts[-1]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


_DELETE = object()

# (what is wrong, the document, the field the problem must name)
BAD_INVENTORIES: list[tuple[str, Any, str]] = [
    ("not an object", [1, 2], "(document)"),
    ("node name walks up", _with("nodes.1.name", "../../x"), "nodes[1].name"),
    ("absolute node name", _with("nodes.1.name", "/etc/passwd"), "nodes[1].name"),
    ("cluster name walks up", _with("name", "../../../tmp/x"), "name"),
    ("duplicate node name", _with("nodes.2.name", "agent-0"), "nodes[2].name"),
    ("duplicate address", _with("nodes.2.privateIp", "10.98.0.20"), "nodes[2].privateIp"),
    ("unknown role", _with("nodes.1.role", "worker"), "nodes[1].role"),
    ("no agent", {**cluster_json(0)}, "nodes"),
    ("not an address", _with("nodes.0.privateIp", "master.local"), "nodes[0].privateIp"),
    ("port as a string", _with("ssh.port", "22"), "ssh.port"),
    ("private key missing", _with("ssh.privateKey", "[secret]"), "ssh.privateKey"),
    ("host key not base64", _with("ssh.knownHosts", "10.98.0.10 ssh-ed25519 ***not-base64***\n"),
     "ssh.knownHosts"),
    ("unknown host key type", _with("ssh.knownHosts", f"10.98.0.10 ssh-foo {host_key(1).split()[1]}\n"),
     "ssh.knownHosts"),
    ("min.insync not a number", _with("settings.kafka.minInsyncReplicas", "x"),
     "settings.kafka.minInsyncReplicas"),
    ("replication factor a boolean", _with("settings.kafka.replicationFactor", True),
     "settings.kafka.replicationFactor"),
    ("negative rate", _with("settings.demo.maxEventsPerSecond", -5), "settings.demo.maxEventsPerSecond"),
    ("cores as a word", _with("settings.spark.workerCores", "many"), "settings.spark.workerCores"),
    ("demo enabled as 'no'", _with("settings.demo.enabled", "no"), "settings.demo.enabled"),
    ("demo as a string", _with("settings.demo", "on"), "settings.demo"),
    ("versions as a list", _with("settings.versions", ["3.9.1"]), "settings.versions"),
    ("unsupported Kafka", _with("settings.versions.kafka", "2.8.0"), "settings.versions.kafka"),
    ("more brokers than agents", _with("settings.kafka.brokers", 4), "settings.kafka.brokers"),
    ("demo without a public agent", {**cluster_json(), "nodes": cluster_json()["nodes"][:-1]},
     "settings.demo.enabled"),
    ("unknown setting", _with("settings.kafak", {}), "settings.kafak"),
    ("credentials in a URL are not echoed",
     _with("settings.artifacts.mesosPackageSource", "ftp://user:s3cret@host/mesos.tgz"),
     "settings.artifacts.mesosPackageSource"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "data", "field"), BAD_INVENTORIES, ids=[b[0] for b in BAD_INVENTORIES])
def test_bad_inventories_are_refused_naming_the_field(what: str, data: Any, field: str) -> None:
    with pytest.raises(InvalidInventory) as err:
        Cluster.from_json(copy.deepcopy(data))
    fields = [p.key for p in err.value.problems]
    assert any(f == field or f.startswith(field) for f in fields), (what, fields)
    message = str(err.value)
    assert "Traceback" not in message and "s3cret" not in message
    for problem in err.value.problems:
        assert "\n" not in str(problem), problem  # one line per problem


def test_every_problem_is_reported_at_once() -> None:
    data = _with("nodes.1.name", "../x")
    data["settings"] = {"kafka": {"minInsyncReplicas": "x"}, "demo": {"enabled": "no"}}
    with pytest.raises(InvalidInventory) as err:
        Cluster.from_json(data)
    assert {"nodes[1].name", "settings.kafka.minInsyncReplicas", "settings.demo.enabled"} <= set(
        err.value.keys
    )


def test_a_good_inventory_parses_and_the_secret_stays_out_of_repr() -> None:
    cluster = Cluster.from_json(cluster_json())
    assert [n.index for n in cluster.agents] == [0, 1, 2]
    assert isinstance(cluster.settings, Settings)
    assert "PRIVATE KEY" not in repr(cluster)
    assert dataclasses.replace(cluster, name="other").name == "other"
