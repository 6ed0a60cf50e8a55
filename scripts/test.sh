#!/usr/bin/env bash
# Run setup, the static checks (scripts/lint.sh: ruff, mypy, go test), then the test tiers. Usage:
#   ./scripts/test.sh                 every tier: unit, infra, integration, e2e
#   ./scripts/test.sh --fast          unit + infra only (under a minute)
#   ./scripts/test.sh --tier unit --tier integration
#   ./scripts/test.sh -- -k spec      anything after -- goes to pytest
# The checks run in every mode. Exits non-zero when a check or any test fails (or when a selected tier
# collects no test); the last line names what failed.
set -euo pipefail
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

tiers=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --fast) tiers+=(unit infra) ;;
        --tier) shift; tiers+=("${1:?--tier needs a name: unit, infra, integration or e2e}") ;;
        --tier=*) tiers+=("${1#--tier=}") ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "test.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[ ${#tiers[@]} -gt 0 ] || tiers=(unit infra integration e2e)
for tier in "${tiers[@]}"; do
    case "$tier" in unit|infra|integration|e2e) ;; *) echo "test.sh: unknown tier '$tier'" >&2; exit 2 ;; esac
done

here="$(cd "$(dirname "$0")" && pwd)"
"$here/setup.sh"
. "$here/env.sh"
cd "$FASTDATA_ROOT"

mkdir -p test-results
failed=()
echo "=== lint ==="
start=$(date +%s)
set +e
"$here/lint.sh"
rc=$?
set -e
echo "=== lint: exit $rc in $(( $(date +%s) - start ))s ==="
[ $rc -eq 0 ] || failed+=(lint)
for tier in "${tiers[@]}"; do
    echo "=== tier: $tier ==="
    start=$(date +%s)
    set +e
    python -m pytest -m "$tier" --junitxml="test-results/$tier.xml" "${extra[@]}"
    rc=$?
    set -e
    echo "=== tier $tier: exit $rc in $(( $(date +%s) - start ))s ==="
    # pytest exits 5 when nothing was collected: a tier with no test is a failure, not a pass.
    [ $rc -eq 0 ] || failed+=("tier $tier")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "test.sh: FAILED: $(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')"
    exit 1
fi
