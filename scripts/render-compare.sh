#!/usr/bin/env bash
# Render every shipped stack at two revisions and diff the results. Usage:
#   ./scripts/render-compare.sh BASE [NEW]      NEW defaults to the work tree as it is (uncommitted too)
#   KEEP=1 ./scripts/render-compare.sh ...      keep the rendered trees (the path is printed)
# For each stack in stacks/: the `cluster` output is built by that revision's Pulumi program under mocks
# (scripts/render_inventory.py), then `fab render --inventory` writes every file each node would get.
# Exits 0 when the trees are byte-identical, 1 when they differ (the diff is printed), 2 on errors.
# Masked before diffing: the demo-apps bundle's checksum (it follows the apps/ sources, which differ
# between revisions by design). Needs the artifact cache (./scripts/fetch-artifacts.sh).
set -euo pipefail
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h|--help|"") usage; [ -n "${1:-}" ]; exit $? ;; esac
base=$1
new=${2:-WORKTREE}

here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
root="$FASTDATA_ROOT"
cache="${FASTDATA_CACHE:-$root/.cache}/artifacts"
[ -f "$cache/manifest.json" ] || { echo "render-compare: no artifact cache at $cache; run ./scripts/fetch-artifacts.sh" >&2; exit 2; }

work=$(mktemp -d /tmp/fastdata-render-compare.XXXXXX)
cleanup() {
    for d in "$work"/tree-*; do [ -d "$d" ] && git -C "$root" worktree remove --force "$d" >/dev/null 2>&1; done
    [ -n "${KEEP:-}" ] && echo "render-compare: kept $work" || rm -rf "$work"
}
trap cleanup EXIT

stacks=$(cd "$root/stacks" && ls Pulumi.*.yaml | sed 's/^Pulumi\.\(.*\)\.yaml$/\1/' | grep -v '^bench-\|^test-')

render_at() {  # render_at LABEL REV -> $work/render-LABEL/<stack>/...
    local label=$1 rev=$2 tree
    if [ "$rev" = WORKTREE ]; then
        tree=$root
    else
        tree="$work/tree-$label"
        git -C "$root" worktree add --detach --quiet "$tree" "$rev"
        # the apps' front-end bundle is built, not committed: reuse this checkout's
        mkdir -p "$tree/apps/dashboard/web" && cp -r "$root/apps/dashboard/web/dist" "$tree/apps/dashboard/web/"
    fi
    # the generator is self-contained; older revisions may not have it
    cp "$here/render_inventory.py" "$work/render_inventory-$label.py"
    sed -i "s|^ROOT = .*|ROOT = Path('$tree')|" "$work/render_inventory-$label.py"
    mkdir -p "$work/render-$label" "$work/inv-$label"
    local stack
    for stack in $stacks; do
        local c="$work/cache-$label-$stack"
        mkdir -p "$c" && cp -al "$cache/." "$c/"
        (cd "$tree" && PYTHONPATH="$tree" python "$work/render_inventory-$label.py" --stack "$stack" \
            --standins "$work/standins" --cache "$c" --out "$work/inv-$label/$stack.json") \
            || { echo "render-compare: $label: building the $stack inventory failed" >&2; return 2; }
        (cd "$tree" && PYTHONPATH="$tree" fab render --inventory "$work/inv-$label/$stack.json" \
            --out "$work/render-$label/$stack" >"$work/render-$label/$stack.log" 2>&1) \
            || { echo "render-compare: $label: fab render of $stack failed:" >&2; cat "$work/render-$label/$stack.log" >&2; return 2; }
        # the demo apps bundle is named by the checksum of apps/: mask it (see the header)
        grep -rlZ 'demo-apps-[0-9a-f]\{16\}' "$work/render-$label/$stack" 2>/dev/null \
            | xargs -0 -r sed -i "s/demo-apps-[0-9a-f]\{16\}/demo-apps-<sha>/g"
        echo "render-compare: $label ($rev): $stack rendered ($(find "$work/render-$label/$stack" -type f | wc -l) files)"
    done
}

render_at base "$base" || exit 2
render_at new "$new" || exit 2
if diff -ru "$work/render-base" "$work/render-new" --exclude='*.log'; then
    echo "render-compare: identical: $(echo $stacks | wc -w) stacks, $base vs $new"
else
    echo "render-compare: the renders of $base and $new differ (above)"
    exit 1
fi
