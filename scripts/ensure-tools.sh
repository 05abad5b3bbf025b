#!/usr/bin/env bash
# Makes sure the pinned Go-built tools (opa, buf, helm, regal, weed) are installed.
# Idempotent: a tool whose binary already carries the pinned version is left alone.
# The binaries land in $(go env GOBIN) or $(go env GOPATH)/bin; callers must put
# that directory on their own PATH (a child process cannot change the parent's).
#
# Usage: scripts/ensure-tools.sh [tool ...]   (default: every tool in versions.env)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

# Never let `go install` fetch a newer Go toolchain: fail loudly instead.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
mkdir -p "$gobin"
export PATH="$gobin:$PATH"

# One builder at a time: two concurrent `go install`s of the same tool would
# race on the output binary and double the (long) build time.
exec 9>"$gobin/.ensure-tools.lock"
flock 9

# The version check reads the Go build info embedded in the binary
# (`go version -m`): it names the main package and the module version exactly,
# which is more reliable than parsing each tool's own `version` output.
# The tools built inside their own module (see build_in_module) are the
# exception: their build info says "(devel)", so the version stamped into them
# at build time is read back from the tool.
has_pinned() { # binary package version
    local bin want_mod="$3"
    bin="$(command -v "$1" 2>/dev/null)" || return 1
    ! built_in_module "$1" || want_mod="(devel)"
    go version -m "$bin" 2>/dev/null | awk -v pkg="$2" -v ver="$want_mod" '
        $1 == "path" && $2 == pkg { p = 1 }
        $1 == "mod" && $3 == ver { v = 1 }
        END { exit !(p && v) }' || return 1
    case "$1" in
    weed) [[ "$("$bin" version 2>/dev/null)" == *" ${3##*-} "* ]] ;;
    regal) [ "$("$bin" version 2>/dev/null | awk '$1 == "Version:" { print $2 }')" = "$3" ] ;;
    *) return 0 ;;
    esac
}

# `go install pkg@version` does not do for these two, so they are built inside
# their own (downloaded) module, where its go.mod and go.sum apply as upstream
# intends:
# - SeaweedFS's go.mod has replace directives, which `go install` refuses. Its
#   tags are not semver, so it is pinned by pseudo-version, whose commit hash is
#   stamped into weed/util/version.COMMIT (`weed version` prints
#   "version 30GB 4.53 7506e5f91cd6 linux amd64").
# - Regal: the Go module proxy serves its versions but not its version list,
#   which `go install` reads for deprecation notices. The version is stamped
#   into pkg/version.Version (`regal version` prints "Version:    v0.35.1").
built_in_module() { [ "$1" = weed ] || [ "$1" = regal ]; }

build_in_module() { # binary package version
    local mod ldflags dir rel
    case "$1" in
    weed)
        mod=github.com/seaweedfs/seaweedfs
        ldflags="-X $mod/weed/util/version.COMMIT=${3##*-}"
        ;;
    regal)
        mod=github.com/styrainc/regal
        ldflags="-X $mod/pkg/version.Version=$3"
        ;;
    esac
    dir="$(cd / && go mod download -json "$mod@$3" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -d "$dir" ] || { echo "go mod download $mod@$3 gave no directory" >&2; return 1; }
    rel="${2#"$mod"}"
    (cd "$dir" && go build -ldflags "-s -w $ldflags" -o "$gobin/$1" "./${rel#/}")
}

wanted=" $* "
for name in "$@"; do
    grep -q "^$name " <<<"$TOOLS" || { echo "ensure-tools: unknown tool '$name'" >&2; exit 2; }
done
status=0
while read -r name spec; do
    [ -n "$name" ] || continue
    [ "$wanted" = "  " ] || [[ "$wanted" == *" $name "* ]] || continue
    pkg="${spec%@*}" ver="${spec##*@}"
    if has_pinned "$name" "$pkg" "$ver"; then
        echo "ensure-tools: $name $ver cached"
        continue
    fi
    start=$SECONDS
    log="$(mktemp)"
    if built_in_module "$name"; then build=(build_in_module "$name" "$pkg" "$ver"); else build=(go install "$spec"); fi
    if "${build[@]}" >"$log" 2>&1 && has_pinned "$name" "$pkg" "$ver"; then
        echo "ensure-tools: $name $ver built in $((SECONDS - start)) s"
    else
        echo "ensure-tools: $name $ver FAILED after $((SECONDS - start)) s:" >&2
        tail -n 30 "$log" >&2
        status=1
    fi
    rm -f "$log"
done <<<"$TOOLS"
exit "$status"
