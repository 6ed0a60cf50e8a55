# shellcheck shell=bash
# fastdata environment: source it (`. scripts/env.sh`) before running pulumi or fab by hand.
# The scripts in scripts/ source it themselves. Everything here respects values you already set.
#
#   FASTDATA_ROOT               the checkout (derived from this file's location)
#   PULUMI_BACKEND_URL          state backend; default file://$FASTDATA_ROOT/.pulumi-state (git-ignored)
#   PULUMI_CONFIG_PASSPHRASE    used as-is when set; otherwise PULUMI_CONFIG_PASSPHRASE_FILE, by default a
#                               passphrase generated once into $FASTDATA_ROOT/.secrets/passphrase (git-ignored)
#   PULUMI_HOME                 default $FASTDATA_ROOT/.pulumi-home (plugins, workspace settings)
#   FASTDATA_PULUMI             set to `system` to use a pulumi already on PATH instead of .tools/pulumi
#
# PULUMI_SKIP_UPDATE_CHECK and PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION stop the CLI from reaching the
# internet (it cannot, here; and in production you want the plugin versions you pinned, nothing else).

_fd_here="${BASH_SOURCE[0]:-$0}"
FASTDATA_ROOT="$(cd "$(dirname "$_fd_here")/.." && pwd)"
export FASTDATA_ROOT
unset _fd_here

export FASTDATA_TOOLS="${FASTDATA_TOOLS:-$FASTDATA_ROOT/.tools}"
export FASTDATA_CACHE="${FASTDATA_CACHE:-$FASTDATA_ROOT/.cache}"
export PULUMI_HOME="${PULUMI_HOME:-$FASTDATA_ROOT/.pulumi-home}"
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
    export PULUMI_BACKEND_URL="file://$FASTDATA_ROOT/.pulumi-state"
    mkdir -p "$FASTDATA_ROOT/.pulumi-state"  # the file backend does not create its own directory
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    _fd_pass="$FASTDATA_ROOT/.secrets/passphrase"
    if [ ! -s "$_fd_pass" ]; then
        mkdir -p "$(dirname "$_fd_pass")" && chmod 700 "$(dirname "$_fd_pass")"
        (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=' > "$_fd_pass")
        echo "fastdata: generated a stack passphrase in $_fd_pass (keep it: it decrypts your stacks' secrets)" >&2
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="$_fd_pass"
    unset _fd_pass
fi

case ":$PATH:" in
    *":$FASTDATA_ROOT/.venv/bin:"*) ;;
    *) PATH="$FASTDATA_ROOT/.venv/bin:$PATH" ;;
esac
if [ "${FASTDATA_PULUMI:-}" != "system" ]; then
    case ":$PATH:" in
        *":$FASTDATA_TOOLS/pulumi/bin:"*) ;;
        *) PATH="$FASTDATA_TOOLS/pulumi/bin:$PATH" ;;
    esac
fi
export PATH
