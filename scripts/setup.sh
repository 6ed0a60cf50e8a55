#!/usr/bin/env bash
# Install everything fastdata needs on this machine, idempotently:
#   1. the Debian packages in scripts/apt-packages.txt that are missing (apt-get),
#   2. .venv with exactly the Python packages of requirements/control.lock, hash-checked (re-installed only
#      when it or pyproject.toml changes), and the project itself (editable),
#   3. the Pulumi CLI + Python language host at the pinned SDK version (scripts/build-pulumi.sh),
#   4. the git filter that keeps Pulumi's per-machine encryption salt out of git (scripts/setup-git.sh),
#   5. with --cloud (or FASTDATA_CLOUD=1): the aws and azure-native plugins (scripts/setup-cloud.sh),
#   6. the dashboard's front-end bundle (apps/dashboard/build.sh) when it is missing or its sources changed:
#      `fab plan`/`render` checksum the demo-apps bundle, which contains it.
# Quiet when there is nothing to do; says what it installs otherwise. Safe to re-run at any time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- 1. Debian packages ------------------------------------------------------------------------------
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' -e 's/[[:space:]].*//' "$here/apt-packages.txt")
missing=()
for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); run this script as root or install them with apt-get"
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install failed for: ${missing[*]}"
fi

# --- 2. Python virtualenv ----------------------------------------------------------------------------
# Exactly the set in requirements/control.lock (hash-checked; regenerate it with scripts/lock.sh), then the
# project itself, editable, without dependencies. No build isolation: sdists (pyspark) and the project are
# built with the locked setuptools, so nothing unlocked is downloaded.
py=${FASTDATA_PYTHON:-python3}
lock=requirements/control.lock
[ -f "$lock" ] || die "$lock is missing; run ./scripts/lock.sh"
stamp=".venv/.fastdata-deps"
want_stamp=$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $("$py" --version 2>&1)"
    "$py" -m venv .venv || die "could not create .venv with $py (set FASTDATA_PYTHON to a Python 3.11 or 3.12)"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
    log "installing $lock into .venv (it or pyproject.toml changed, or first run)"
    pyver=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [ "$pyver" = 3.11 ] || log "note: $lock is resolved for Python 3.11; .venv has $pyver"
    pip=(.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes)
    # setuptools first: the build backend of the sdists below and of the project.
    "${pip[@]}" --no-deps -r <(awk '/^setuptools==/{p=1} p{print} p && !/\\$/{exit}' "$lock") \
        || die "pip install of the locked setuptools failed; see the messages above"
    "${pip[@]}" --no-build-isolation -r "$lock" || die "pip install -r $lock failed; see the messages above"
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . \
        || die "pip install -e . failed; see the messages above"
    # An existing .venv keeps nothing the lock does not list (a package installed by hand, a dropped pin).
    mapfile -t extra < <(.venv/bin/python - "$lock" <<'EOF'
import importlib.metadata as md
import re
import sys

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

locked = {norm(m) for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", open(sys.argv[1]).read(), re.M)}
for name in sorted({norm(d.metadata["Name"]) for d in md.distributions()} - locked - {"pip", "fastdata"}):
    print(name)
EOF
)
    if [ ${#extra[@]} -gt 0 ]; then
        log "removing from .venv what $lock does not list: ${extra[*]}"
        .venv/bin/python -m pip uninstall -q -y "${extra[@]}" || die "pip uninstall failed; see the messages above"
    fi
    echo "$want_stamp" > "$stamp"
fi

# --- 3. Pulumi CLI -----------------------------------------------------------------------------------
"$here/build-pulumi.sh"

# --- 4. git ignores Pulumi's per-machine salt; 5. cloud plugins only when asked (--cloud or FASTDATA_CLOUD=1)
"$here/setup-git.sh"
case " $* ${FASTDATA_CLOUD:+--cloud} " in *" --cloud "*) "$here/setup-cloud.sh" || log "cloud plugins not installed (see above); local stacks do not need them" ;; esac

# --- 6. the dashboard bundle (build output, git-ignored), rebuilt when its sources or lock change ---------
web=apps/dashboard/web
dash_stamp=".venv/.fastdata-dashboard"
want_dash=$(cd "$web" && find package.json package-lock.json index.html src -type f -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ ! -s "$web/dist/app.js" ] || [ "$(cat "$dash_stamp" 2>/dev/null)" != "$want_dash" ]; then
    log "building the dashboard bundle (apps/dashboard/build.sh)"
    apps/dashboard/build.sh >/dev/null || die "apps/dashboard/build.sh failed; run it to see why (needs Node.js 20 and npm)"
    echo "$want_dash" > "$dash_stamp"
fi
