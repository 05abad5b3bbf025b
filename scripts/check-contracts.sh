#!/usr/bin/env bash
# Contract checks of `make lint`: the protos (`buf breaking`, buf.yaml's FILE rules) and
# the GraphQL schema (tests/contracts/graphql_breaking.py) against the previous commit,
# HEAD~1 (on main: the main branch as it was before this change).
#
# A deliberate break is marked by a line starting "BREAKING:" in a commit message of
# HEAD~1..HEAD (a merge commit's range holds the merged branch's commits too); the
# breaks are then printed as accepted instead of failing.
#
# Without a previous commit (a repository of one commit, or a shallow clone whose
# parent cannot be fetched) there is nothing to compare with: the check says so and
# passes, rather than failing on something that is not a break.
set -euo pipefail

cd "$(git rev-parse --show-toplevel)"

has_base() { git rev-parse --verify --quiet 'HEAD~1^{commit}' >/dev/null; }

if ! has_base && [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    # CI's shallow clone: fetch the parent from where the clone came from.
    git fetch --quiet --deepen=1 2>/dev/null || true
fi
if ! has_base; then
    echo "contract checks skipped: no previous commit (HEAD~1) to compare with"
    exit 0
fi
base="$(git rev-parse 'HEAD~1^{commit}')"

accepted=false
if git log --format=%B 'HEAD~1..HEAD' | grep -q '^BREAKING:'; then
    accepted=true
    echo "a commit message marks a deliberate break (BREAKING:): breaks are reported, not fatal"
fi

before="$(mktemp -d)"
trap 'rm -rf "$before"' EXIT

in_base() { git cat-file -e "$base:$1" 2>/dev/null; }

status=0

if in_base buf.yaml && in_base proto; then
    # The previous commit's buf workspace as a directory input: works in worktrees and
    # shallow clones alike, where buf's own .git input would need the whole repository.
    git archive "$base" -- buf.yaml proto | tar -x -C "$before"
    if buf breaking --against "$before"; then
        echo "buf breaking: no breaking change against ${base:0:12}"
    elif $accepted; then
        echo "buf breaking: the breaks above are accepted (BREAKING: in a commit message)"
    else
        echo "buf breaking: breaking changes against ${base:0:12}; a deliberate break needs" \
            "a line 'BREAKING: <why>' in its commit message (README, Developing)" >&2
        status=1
    fi
else
    echo "buf breaking skipped: ${base:0:12} has no buf workspace"
fi

schema=gateway/schema.graphql
if in_base "$schema"; then
    git show "$base:$schema" >"$before/schema.graphql"
    flags=()
    if $accepted; then flags+=(--accepted); fi
    uv run --frozen python -m tests.contracts.graphql_breaking \
        "$before/schema.graphql" "$schema" "${flags[@]}" || status=1
else
    echo "GraphQL breaking check skipped: ${base:0:12} has no $schema"
fi

exit "$status"
