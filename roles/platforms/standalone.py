"""The standalone platform: Kafka (KRaft) + Spark standalone on plain systemd units.

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
from roles.engine.placement import BROKERS, EVERY_AGENT, EVERY_MASTER, FIRST_BROKER, every
from roles.engine.spec import demo_enabled
from roles.packages import influxdb, kafka, kafka_reassign, spark
from roles.platforms import common

PLATFORM = Platform(
    name=PlatformName.STANDALONE,
    steps=(
        # JVMs: the Spark master (and the demo's processor) on masters, Kafka and Spark workers on agents;
        # public agents run InfluxDB and the dashboard, so no Java there.
        *common.steps(java_roles=(Role.MASTER, Role.AGENT)),
        Step("masters", EVERY_MASTER, spark.plan_master),
        Step("agents", BROKERS, kafka.plan_broker),
        Step("agents", BROKERS, kafka.plan_tools),
        Step("agents", EVERY_AGENT, spark.plan_worker),
        Step("packages", every(Role.MASTER, Role.AGENT), spark.plan_connector),
        *demo.STEPS,
        # after the topic exists: its partitions and replicas spread over every broker (scale out)
        Step("demo", FIRST_BROKER, kafka_reassign.balance_planner(demo_common.TOPIC), when=demo_enabled),
    ),
    handlers={
        **common.handlers(),
        kafka.HANDLER: kafka.handler(),
        **spark.handlers(),
        **demo.handlers(),
    },
    gates=(
        *kafka.gates("platform up", after_phase="agents"),
        *spark.gates("platform up", after_phase="agents"),
        *demo.GATES,
    ),
    units=(
        common.SERVER_UNIT,
        kafka.UNIT,
        spark.MASTER_UNIT,
        spark.WORKER_UNIT,
        influxdb.UNIT,
        *demo.UNITS.values(),
    ),
    configs=(
        "/etc/kafka",
        "/etc/systemd/system/kafka.service",
        "/etc/systemd/system/spark-master.service",
        "/etc/systemd/system/spark-worker.service",
        "/var/lib/kafka/data/meta.properties",
        *demo.CONFIGS,
    ),
    artifacts=(common.KAFKA_BUNDLE, *common.SPARK_BUNDLES, *common.DEMO_BUNDLES),
    # `fab drain`, in order (HDFS adds its DataNode decommission before the worker stops)
    drain=(kafka_reassign.DRAIN_BROKER, lifecycle.STOP_KAFKA_BROKER, lifecycle.STOP_SPARK_WORKER),
)
