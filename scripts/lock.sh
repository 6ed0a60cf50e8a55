#!/usr/bin/env bash
# Lock the Python dependency graph with hashes (uv pip compile) into requirements/:
#   control.lock     the control machine's .venv: pyproject.toml's dependencies + the `dev` extra + the build
#                    backend ([build-system] requires), for CPython 3.11 on linux x86_64. setup.sh installs it
#                    with `pip install --require-hashes`, then the project itself with --no-deps.
#   node-demo.lock   the demo apps' wheels shipped to the nodes: roles/artifacts.py DEMO_PACKAGES at their
#                    pyproject.toml pins + their dependencies, for the nodes' CPython 3.11 manylinux x86_64
#                    (binary wheels only), at the versions control.lock has (the tests run the same code).
#   node-spark.lock  pyspark at its pyproject.toml pin (the sdist the nodes' wheel is built from) + py4j.
#   node-spark-<v>.lock  the same for each older Spark patch release in [tool.fastdata] node-spark-versions
#                    (clusters deployed with it roll to the pin).
# Usage: ./scripts/lock.sh              re-lock after a pin changed; other packages keep their locked versions
#        ./scripts/lock.sh --upgrade    also move every unpinned (transitive) package to its newest version
# Commit requirements/ with the pyproject.toml change; tests/unit/test_locks.py fails while they disagree.
# uv comes from PyPI at the version below, into $FASTDATA_TOOLS/uv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
log() { printf 'lock: %s\n' "$*" >&2; }
die() { printf 'lock: error: %s\n' "$*" >&2; exit 1; }

UV_VERSION=0.13.9
upgrade=()
case "${1:-}" in
    "") ;;
    --upgrade) upgrade=(--upgrade) ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (try --help)" ;;
esac

uv="$FASTDATA_TOOLS/uv/bin/uv"
if [ "$("$uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    log "installing uv $UV_VERSION from PyPI into $FASTDATA_TOOLS/uv"
    python3 -m venv --clear "$FASTDATA_TOOLS/uv" || die "could not create a venv with python3"
    "$FASTDATA_TOOLS/uv/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" \
        || die "could not install uv==$UV_VERSION from PyPI"
fi

# The inputs, read from pyproject.toml and roles/artifacts.py (plain python3 >= 3.11: this may run before setup).
inputs=$(PYTHONPATH="$FASTDATA_ROOT" python3 - <<'EOF'
import re
import tomllib

from roles.artifacts import DEMO_PACKAGES

data = tomllib.load(open("pyproject.toml", "rb"))
pins = {}
for req in data["project"]["dependencies"]:
    name = re.split(r"[=<>!~ ;\[]", req, maxsplit=1)[0]
    pins[re.sub(r"[-_.]+", "-", name).lower()] = req
print("build\t" + "\t".join(data["build-system"]["requires"]))
print("demo\t" + "\t".join(pins[re.sub(r"[-_.]+", "-", p).lower()] for p in DEMO_PACKAGES))
print("spark\t" + pins["pyspark"])
print("oldspark\t" + "\t".join(data.get("tool", {}).get("fastdata", {}).get("node-spark-versions", [])))
EOF
) || die "could not read the lock inputs from pyproject.toml and roles/artifacts.py"
field() { printf '%s\n' "$inputs" | sed -n "s/^$1\t//p" | tr '\t' '\n'; }

mkdir -p requirements
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
        --custom-compile-command ./scripts/lock.sh "${upgrade[@]}")

compile() { # output, then uv arguments; writes into $tmp first so a failure leaves the old lock in place
    local out=$1; shift
    if [ -f "requirements/$out" ]; then cp "requirements/$out" "$tmp/$out"; fi
    "$uv" pip compile "${common[@]}" -o "$tmp/$out" "$@" || die "uv pip compile for requirements/$out failed (see above)"
}

field build > "$tmp/build-system.in"
field demo > "$tmp/demo.in"
field spark > "$tmp/spark.in"
compile control.lock pyproject.toml --extra dev "$tmp/build-system.in"
# The nodes' locks take the packages they share with the control venv at control.lock's versions.
sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p' "$tmp/control.lock" > "$tmp/control.constraints"
compile node-demo.lock "$tmp/demo.in" --only-binary :all: -c "$tmp/control.constraints"
compile node-spark.lock "$tmp/spark.in" -c "$tmp/control.constraints"
locks=(control.lock node-demo.lock node-spark.lock)
for v in $(field oldspark); do
    echo "pyspark==$v" > "$tmp/spark-$v.in"
    grep -v '^pyspark==' "$tmp/control.constraints" > "$tmp/control-but-pyspark.constraints"
    compile "node-spark-$v.lock" "$tmp/spark-$v.in" -c "$tmp/control-but-pyspark.constraints"
    sed -i "s|$tmp/control-but-pyspark.constraints|requirements/control.lock|" "$tmp/node-spark-$v.lock"
    sed -i "s|$tmp/spark-$v.in|pyproject.toml [tool.fastdata] node-spark-versions|" "$tmp/node-spark-$v.lock"
    locks+=("node-spark-$v.lock")
done
for f in requirements/node-spark-*.lock; do  # a version dropped from the list: its lock goes too
    [ -e "$f" ] || continue
    case " ${locks[*]} " in *" ${f#requirements/} "*) ;; *) git rm -q --cached "$f" 2>/dev/null || true; rm -f "$f"; log "$f: removed" ;; esac
done

for f in "${locks[@]}"; do
    # uv's annotations name the temporary input files; say what they hold instead.
    sed -i -e "s|$tmp/build-system.in|pyproject.toml [build-system] requires|" \
        -e "s|$tmp/demo.in|pyproject.toml pins of DEMO_PACKAGES (roles/artifacts.py)|" \
        -e "s|$tmp/spark.in|pyproject.toml pin of pyspark|" \
        -e "s|$tmp/control.constraints|requirements/control.lock|" "$tmp/$f"
    if cmp -s "$tmp/$f" "requirements/$f"; then
        log "requirements/$f: unchanged"
    else
        mv "$tmp/$f" "requirements/$f"
        log "requirements/$f: written ($(grep -c '^[a-z0-9]' "requirements/$f") packages)"
    fi
done
