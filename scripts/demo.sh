#!/usr/bin/env bash
# Fresh machine -> a local cluster running the Chicago-crime demo, then its URLs and live counters.
#
#   ./scripts/demo.sh                 set up, create the local stack's nodes, deploy, wait for data to flow
#   ./scripts/demo.sh --stack NAME    another local stack (its config: stacks/Pulumi.NAME.yaml)
#   ./scripts/demo.sh --destroy       remove the stack's containers, bridge and NAT rules
#
# Steps (each is idempotent, so re-running resumes where a failure stopped):
#   1. scripts/setup.sh          toolchain: apt packages, .venv, Pulumi CLI
#   2. scripts/fetch-artifacts   Kafka, Spark connector and HDFS jars (Maven Central), pyspark and the demo's wheels
#                                (PyPI), the dashboard bundle (npm): the nodes download nothing themselves
#   3. pulumi up                 the nodes (LXC containers; needs root)
#   4. fab deploy                Kafka (KRaft) + Spark standalone + HDFS + InfluxDB + the demo apps (the
#                                processor submitted to the Spark master)
#   5. fab status                layered readiness, ending with an end-to-end data probe
set -euo pipefail
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

stack=local
destroy=0
while [ $# -gt 0 ]; do
    case "$1" in
        --stack) shift; stack="${1:?--stack needs a name}" ;;
        --stack=*) stack="${1#--stack=}" ;;
        --destroy) destroy=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "demo.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

here="$(cd "$(dirname "$0")" && pwd)"
step() { printf '\n==> %s\n' "$*"; }
die() { printf 'demo.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "the local cloud needs root (containers, a bridge, NAT): run sudo -E $0"
step "setup"
"$here/setup.sh"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
[ -f "stacks/Pulumi.$stack.yaml" ] || die "no stack config stacks/Pulumi.$stack.yaml (copy stacks/Pulumi.local.yaml)"

if [ $destroy = 1 ]; then
    step "pulumi destroy --stack $stack"
    pulumi destroy --stack "$stack" --yes --skip-preview
    exit 0
fi

step "artifact cache"
"$here/fetch-artifacts.sh"

step "nodes: pulumi up --stack $stack"
pulumi stack select "$stack" >/dev/null 2>&1 || pulumi stack init "$stack"
pulumi up --stack "$stack" --yes --skip-preview

step "cluster: fab deploy --stack $stack"
fab deploy --stack "$stack"

step "readiness: fab status --stack $stack"
ok=0
for attempt in 1 2 3; do
    if fab status --stack "$stack"; then ok=1; break; fi
    echo "demo.sh: not ready yet (attempt $attempt of 3); checking again in 20 s"
    sleep 20
done
[ $ok = 1 ] || die "the cluster did not pass every readiness gate; see above, then: fab diagnose --stack $stack"

# plain outputs: no --show-secrets, no key material
endpoints=$(pulumi stack output endpoints --stack "$stack" --json)
public=$(printf '%s' "$endpoints" | python -c 'import json,sys; print(json.load(sys.stdin)["publicAgents"][0])')
master=$(printf '%s' "$endpoints" | python -c 'import json,sys; print(json.load(sys.stdin)["masters"][0])')
step "the demo is running"
cat <<EOF
  dashboard         $(pulumi stack output dashboardUrl --stack "$stack")
  producer counters http://$master:9108/metrics
  Spark master UI   http://$master:8080/  (the processor is an application there)
  HDFS NameNode UI  http://$master:9870/  (archive: /fastdata/archive/crimes)
  InfluxDB          http://$public:8086/  (database crimes)
EOF
printf '  live counters     '
curl -sf "http://$public/api/clock" || echo "(dashboard API not answering)"
echo
