#!/usr/bin/env bash
# Makes sure the pinned JavaScript tools of the GraphQL contract (tools/graphql:
# graphql-schema-linter, graphql-codegen and its TypeScript plugins, tsc,
# graphql-inspector) are installed, exactly as tools/graphql/package-lock.json says.
# Idempotent and fast: `npm ci` runs only when node_modules was not installed from
# this very lock file by this Node.js major (a stamp in node_modules records both).
#
# Node.js: the machine's (20 or newer). A machine without one gets Debian's nodejs
# and npm with apt-get, like PostgreSQL and Chromium.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools/graphql" && pwd)"
stamp="$dir/node_modules/.salesguard-installed"
min_node_major=20

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "ensure-graphql-tools: installing nodejs and npm with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Wait for a concurrent apt-get (another ensure-* script) rather than fail.
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends nodejs npm >&2
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt "$min_node_major" ]; then
    echo "ensure-graphql-tools: Node.js $(node --version) is too old for the pinned tools" \
        "(they need $min_node_major or newer)" >&2
    exit 1
fi

want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) node$node_major"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi

# One installer at a time (make lint may run in two worktrees' shells at once).
exec 9>"$dir/.install.lock"
flock 9
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    start=$SECONDS
    # --prefer-offline: packages already in npm's cache (~/.npm) are not fetched again.
    # Some transitive packages declare Node.js 22 (code paths of the URL and GitHub
    # schema loaders); the tools run on 20, which make lint itself shows, so npm's
    # engine warnings are not printed.
    (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
    echo "ensure-graphql-tools: installed tools/graphql in $((SECONDS - start)) s" >&2
fi
