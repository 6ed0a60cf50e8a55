"""The standalone platform: Kafka (KRaft), Spark standalone and HDFS on plain systemd units.

The same executor runs mesos and dcos; a platform is only its steps, restart handlers, gates and
artifacts.
"""

from __future__ import annotations

from contract import Platform as PlatformName
from contract import Role
from roles import lifecycle
from roles.demo import common as demo_common
from roles.demo import systemd as demo
from roles.engine.executor import Platform, Step
from roles.engine.placement import BROKERS, EVERY_AGENT, EVERY_MASTER, FIRST_BROKER, FIRST_MASTER, every
from roles.engine.spec import demo_enabled
from roles.packages import hdfs, influxdb, kafka, kafka_reassign, spark
from roles.platforms import common

PLATFORM = Platform(
    name=PlatformName.STANDALONE,
    steps=(
        # JVMs: the Spark master (and the demo's processor) on masters, Kafka and Spark workers on agents;
        # public agents run InfluxDB and the dashboard, so no Java there.
        # Read-only, before anything changes: an unsupported Kafka version jump or quorum change is refused.
        Step("connect", BROKERS, kafka.plan_guard),
        *common.steps(java_roles=(Role.MASTER, Role.AGENT)),
        Step("masters", FIRST_MASTER, hdfs.plan_namenode),
        Step("masters", EVERY_MASTER, spark.plan_master),
        Step("agents", BROKERS, kafka.plan_broker),
        Step("agents", EVERY_AGENT, spark.plan_worker),
        Step("agents", EVERY_AGENT, hdfs.plan_datanode),
        Step("packages", every(Role.MASTER, Role.AGENT), spark.plan_connector),
        # After the agents phase rolled every broker onto the new version (4.x): finalize its features.
        Step("packages", FIRST_BROKER, kafka.plan_finalize),
        Step("packages", FIRST_MASTER, hdfs.plan_demo_tree, when=demo_enabled),
        *demo.STEPS,
        # after the topic exists: its partitions and replicas spread over every broker (scale out)
        Step("demo", FIRST_BROKER, kafka_reassign.balance_planner(demo_common.TOPIC), when=demo_enabled),
    ),
    handlers={
        **common.handlers(),
        kafka.HANDLER: kafka.handler(),
        # the demo's processor is a client-mode driver on the first master: stopped before the Spark master
        # restarts, started again (from its checkpoint) by the demo step once the workers rolled
        **spark.handlers(drivers=(demo.UNITS["processor"],)),
        **hdfs.handlers(),
        **demo.handlers(),
    },
    gates=(
        *kafka.gates("platform up", after_phase="agents"),
        *spark.gates("platform up", after_phase="agents"),
        *hdfs.gates("platform up", after_phase="agents"),
        *demo.GATES,
    ),
    units=(
        common.SERVER_UNIT,
        kafka.UNIT,
        spark.MASTER_UNIT,
        spark.WORKER_UNIT,
        hdfs.NAMENODE_UNIT,
        hdfs.DATANODE_UNIT,
        influxdb.UNIT,
        *demo.UNITS.values(),
    ),
    configs=(
        "/etc/kafka",
        "/etc/systemd/system/kafka.service",
        "/etc/systemd/system/spark-master.service",
        "/etc/systemd/system/spark-worker.service",
        "/var/lib/kafka/data/meta.properties",
        *hdfs.CONFIGS,
        *demo.CONFIGS,
    ),
    batch_job=demo.batch_job,
    artifacts=(common.KAFKA_BUNDLE, *common.SPARK_BUNDLES, common.HADOOP_BUNDLE, *common.DEMO_BUNDLES),
    # `fab drain`, in order: replicas moved off, the broker stopped, the DataNode decommissioned, the
    # Spark worker stopped
    drain=(
        kafka_reassign.DRAIN_BROKER,
        lifecycle.STOP_KAFKA_BROKER,
        hdfs.DRAIN_DATANODE,
        lifecycle.STOP_SPARK_WORKER,
    ),
)
