#!/usr/bin/env bash
# Install everything fastdata needs on this machine, idempotently:
#   1. the Debian packages in scripts/apt-packages.txt that are missing (apt-get),
#   2. .venv with the pinned Python dependencies of pyproject.toml (re-installed only when it changes),
#   3. the Pulumi CLI + Python language host at the pinned SDK version (scripts/build-pulumi.sh),
#   4. the git filter that keeps Pulumi's per-machine encryption salt out of git (scripts/setup-git.sh),
#   5. with --cloud (or FASTDATA_CLOUD=1): the aws and azure-native plugins (scripts/setup-cloud.sh).
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
py=${FASTDATA_PYTHON:-python3}
stamp=".venv/.fastdata-deps"
want_stamp=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $("$py" --version 2>&1)"
    "$py" -m venv .venv || die "could not create .venv with $py (set FASTDATA_PYTHON to a Python 3.11 or 3.12)"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
    log "installing the pinned Python dependencies into .venv (pyproject.toml changed or first run)"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' \
        || die "pip install failed; see the messages above"
    echo "$want_stamp" > "$stamp"
fi

# --- 3. Pulumi CLI -----------------------------------------------------------------------------------
"$here/build-pulumi.sh"

# --- 4. git ignores Pulumi's per-machine salt; 5. cloud plugins only when asked (--cloud or FASTDATA_CLOUD=1)
"$here/setup-git.sh"
case " $* ${FASTDATA_CLOUD:+--cloud} " in *" --cloud "*) "$here/setup-cloud.sh" || log "cloud plugins not installed (see above); local stacks do not need them" ;; esac
