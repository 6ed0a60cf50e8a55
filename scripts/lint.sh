#!/usr/bin/env bash
# The static checks, each named in the output; every check runs, and the exit status is non-zero when any
# failed (the summary names which):
#   ruff check .                 lint rules of pyproject.toml [tool.ruff.lint]
#   ruff format --check .        formatting (fix with: ruff format .)
#   mypy                         the files listed in pyproject.toml [tool.mypy] (incremental cache .mypy_cache)
#   go test ./...                in each Go module under tools/ that has *_test.go files (Go env: go-env.sh)
# Usage: ./scripts/lint.sh [--root DIR]
#   --root DIR   check the project in DIR (pyproject.toml, tools/*/go.mod) with this checkout's ruff, mypy
#                and Go instead of this checkout; the unit tests point it at small fixture projects.
# Needs .venv (./scripts/setup.sh). ./scripts/test.sh runs it before the test tiers.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
log() { printf 'lint: %s\n' "$*"; }
die() { printf 'lint: error: %s\n' "$*" >&2; exit 2; }

root=$FASTDATA_ROOT
while [ $# -gt 0 ]; do
    case "$1" in
        --root) shift; root="${1:?--root needs a directory}" ;;
        --root=*) root="${1#--root=}" ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
    shift
done
root=$(cd "$root" && pwd) || die "no such directory: $root"
venv="$FASTDATA_ROOT/.venv/bin"
for tool in ruff mypy; do
    [ -x "$venv/$tool" ] || die "$venv/$tool is missing; run ./scripts/setup.sh"
done
cd "$root"

failed=()
secs() { LC_ALL=C awk -v now="$EPOCHREALTIME" -v t0="$1" 'BEGIN { printf "%.1f", now - t0 }'; }
check() { # name, hint on failure, command...
    local name=$1 hint=$2 t0=$EPOCHREALTIME out rc
    shift 2
    set +e
    out=$("$@" 2>&1)
    rc=$?
    set -e
    if [ $rc -eq 0 ]; then
        log "$name: ok ($(secs "$t0")s)"
    else
        printf '%s\n' "$out"
        log "$name: FAILED (exit $rc, $(secs "$t0")s)${hint:+; $hint}"
        failed+=("$name")
    fi
}

start=$EPOCHREALTIME
check "ruff check" "fix: ruff check --fix . (or by hand)" "$venv/ruff" check .
check "ruff format --check" "fix: ruff format ." "$venv/ruff" format --check .
check "mypy" "" "$venv/mypy"

# Go modules: each directory under tools/ with a go.mod; those without test files are named, not run.
mapfile -t mods < <(find tools -name go.mod -not -path '*/testdata/*' 2>/dev/null | LC_ALL=C sort)
tested=()
for mod in "${mods[@]}"; do
    dir=$(dirname "$mod")
    if [ -z "$(find "$dir" -name '*_test.go' -not -path '*/testdata/*' | head -n1)" ]; then
        log "go test $dir: no test files, skipped"
    else
        tested+=("$dir")
    fi
done
if [ ${#tested[@]} -gt 0 ]; then
    . "$here/go-env.sh"
    need_go=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "${tested[@]/%//go.mod}" | sort -V | tail -n1)
    GO=$(fastdata_go "${need_go:-1.21}") || die "no Go >= ${need_go:-1.21} (see above)"
    for dir in "${tested[@]}"; do
        check "go test $dir" "" bash -c 'cd "$1" && shift && exec "$@"' _ "$dir" "$GO" test "${FASTDATA_GO_FLAGS[@]}" ./...
    done
fi

if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: $(IFS=,; echo "${failed[*]}" | sed 's/,/, /g') (all checks: $(secs "$start")s)"
    exit 1
fi
log "all checks passed in $(secs "$start")s"
