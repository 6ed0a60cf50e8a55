#!/usr/bin/env bash
# Fill the local artifact cache (DESIGN 3.4) from Maven Central and PyPI, idempotently:
#   Kafka jars (+ kafka-tools + the logging binding: reload4j for 3.9, Log4j 2 for 4.x), the Spark Kafka connector, pyspark + py4j wheels, the HDFS
#   jars and UI files (Hadoop 3.4.x), the demo apps' wheels and the dashboard bundle.
# Usage: ./scripts/fetch-artifacts.sh [--cache DIR] [--kafka V] [--spark V] [--hadoop V]
# Default cache: $FASTDATA_CACHE/artifacts (git-ignored). `fab deploy` pushes from here to the nodes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
exec python -m roles.artifacts "$@"
