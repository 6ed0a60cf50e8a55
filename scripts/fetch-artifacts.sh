#!/usr/bin/env bash
# Fill the local artifact cache (DESIGN 3.4) from Maven Central and PyPI, idempotently:
#   Kafka jars (+ kafka-tools + the logging binding: reload4j for 3.9, Log4j 2 for 4.x), the Spark Kafka connector, pyspark + py4j wheels.
# Usage: ./scripts/fetch-artifacts.sh [--cache DIR] [--kafka 4.4.0] [--spark 3.5.7]
# Default cache: $FASTDATA_CACHE/artifacts (git-ignored). `fab deploy` pushes from here to the nodes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
exec python -m roles.artifacts "$@"
