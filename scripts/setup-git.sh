#!/usr/bin/env bash
# Keep this machine's Pulumi encryption salts out of git (idempotent; run by scripts/setup.sh).
#
# With the passphrase secrets provider, `pulumi up/preview/destroy` write `encryptionsalt: v1:...` into the
# stack's config file (stacks/Pulumi.<stack>.yaml) on first use. The salt is per machine (it goes with this
# machine's passphrase, .secrets/passphrase): committed, every user's salt would conflict, and a demo or
# test run would leave the tree dirty. Pulumi cannot keep it elsewhere (pulumi/pulumi#8408), so git does
# not see it: .gitattributes gives stacks/Pulumi.*.yaml the `pulumi-salt` filter, and this script defines
# that filter in the checkout's git config: a clean filter that drops the `encryptionsalt:` line. The salt
# stays in the file for Pulumi; `git status`, `git diff` and `git add` never see it.
#
#   scripts/setup-git.sh [CHECKOUT]     default: the checkout this script belongs to
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
log() { printf 'setup-git: %s\n' "$*" >&2; }

command -v git >/dev/null 2>&1 || { log "git is not installed: nothing to configure"; exit 0; }
git -C "$root" rev-parse --git-dir >/dev/null 2>&1 || { log "$root is not a git checkout: nothing to configure"; exit 0; }

want="sed -e '/^encryptionsalt:/d'"
if [ "$(git -C "$root" config --get filter.pulumi-salt.clean 2>/dev/null || true)" != "$want" ]; then
    git -C "$root" config filter.pulumi-salt.clean "$want"
    log "git ignores the per-machine encryptionsalt line of stacks/Pulumi.*.yaml (filter pulumi-salt)"
fi
# A stack file salted before the filter existed still looks modified to `git status` (its index entry is
# stale). Refresh exactly those whose content, cleaned, equals what is committed: nothing real is staged.
while IFS= read -r -d '' f; do
    staged=$(git -C "$root" ls-files -s -- "$f" | cut -d' ' -f2)
    [ -n "$staged" ] && [ "$(git -C "$root" hash-object --path="$f" -- "$f")" = "$staged" ] \
        && git -C "$root" add -- "$f"
done < <(git -C "$root" ls-files -z -m -- 'stacks/Pulumi.*.yaml')
exit 0
