#!/usr/bin/env bash
# Fill the local artifact cache (DESIGN 3.4) from Maven Central and PyPI, idempotently:
#   Kafka 3.9.x jars (+ kafka-tools + reload4j binding), the Spark Kafka connector, pyspark + py4j wheels.
# Usage: ./scripts/fetch-artifacts.sh [--cache DIR] [--kafka 3.9.1] [--spark 3.5.7]
# Default cache: $FASTDATA_CACHE/artifacts (git-ignored). `fab deploy` pushes from here to the nodes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
exec python -m roles.artifacts "$@"
