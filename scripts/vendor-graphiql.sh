#!/usr/bin/env bash
# Re-fetches GraphiQL's browser assets (React, ReactDOM, GraphiQL and their licences)
# from the npm registry with `npm pack`, at the versions pinned in the manifest, into
# the gateway package, and checks each file against the manifest's SHA-256.
#
#   scripts/vendor-graphiql.sh           fetch, verify, write the files (fails on a mismatch)
#   scripts/vendor-graphiql.sh --update  fetch, write the files and their new hashes
#                                        (after changing a version in the manifest)
#
# Only this script touches the network; the gateway serves the committed files, so the
# wheel, the images and a running gateway need no network at all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

vendor=gateway/src/salesguard_gateway/graphiql_assets/vendor
manifest="$vendor/MANIFEST.tsv"
update=false
case "${1:-}" in
    "") ;;
    --update) update=true ;;
    *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac
command -v npm >/dev/null || { echo "vendor-graphiql: npm is required" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One `npm pack` per package@version (npm checks the tarball against the registry's
# integrity); each is unpacked to $work/<package>-<version>/package.
unpacked() { # package version → directory of the unpacked package
    local dir="$work/${1//\//-}-$2"
    if [ ! -d "$dir" ]; then
        mkdir -p "$dir"
        local tarball
        tarball="$(npm pack --silent --pack-destination "$dir" "$1@$2" | tail -n 1)"
        tar -xzf "$dir/$tarball" -C "$dir"
    fi
    echo "$dir/package"
}

new_manifest="$work/MANIFEST.tsv"
fresh="$work/vendor"
mismatches=0
while IFS= read -r line; do
    if [[ -z "$line" || "$line" == \#* ]]; then
        echo "$line" >>"$new_manifest"
        continue
    fi
    IFS=$'\t' read -r package version file expected <<<"$line"
    source_file="$(unpacked "$package" "$version")/$file"
    [ -f "$source_file" ] || { echo "vendor-graphiql: $package@$version has no $file" >&2; exit 1; }
    target="$fresh/${package//\//-}-$version/$(basename "$file")"
    mkdir -p "$(dirname "$target")"
    cp "$source_file" "$target"
    actual="$(sha256sum "$target" | cut -d' ' -f1)"
    if [ "$actual" != "$expected" ] && ! $update; then
        echo "vendor-graphiql: $package@$version $file: sha256 $actual, manifest says $expected" >&2
        mismatches=$((mismatches + 1))
    fi
    printf '%s\t%s\t%s\t%s\n' "$package" "$version" "$file" "$actual" >>"$new_manifest"
done <"$manifest"

if [ "$mismatches" -gt 0 ]; then
    echo "vendor-graphiql: $mismatches file(s) differ from the manifest; nothing written" >&2
    exit 1
fi
# Replace the vendored files whole, so a dropped package or version leaves nothing behind.
find "$vendor" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
cp -R "$fresh"/. "$vendor"/
cp "$new_manifest" "$manifest"
echo "vendor-graphiql: $(grep -cv '^#' "$manifest") files in $vendor match $manifest"
