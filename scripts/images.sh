#!/usr/bin/env bash
# Builds the five images with podman and runs them as the Helm chart does (`make images`).
#
# No Docker daemon and no container registry here: the base image is bootstrapped
# from Debian's packages (debootstrap), uv comes from PyPI, and the OPA, PostgreSQL
# and SeaweedFS images the smoke run needs are built from that base and the pinned
# tools of scripts/ensure-tools.sh. Then tests/images runs the rendered chart with
# `podman kube play` and plays a story through the gateway container.
#
# Usage: scripts/images.sh [build|smoke|all|clean]   (default: all)
#   build  the base (cached by a content hash), uv, the five images, the support images;
#          prints build times and image sizes
#   smoke  pytest tests/images against the built images; prints how long each part took
#   clean  remove what a smoke run may have left (pods, network, secret, volumes)
# Environment: IMAGES_TAG, the images' tag (default: local); IMAGES_DIR, the scratch space
# of the bootstrap, the build logs, the smoke run's manifests and pod logs (default:
# /var/tmp/salesguard-images). Not SALESGUARD_*: that namespace is the components' settings.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=versions.env
. scripts/versions.env

COMPONENTS=(customers attendance orders commissions gateway)
TAG="${IMAGES_TAG:-local}"
export IMAGES_DIR="${IMAGES_DIR:-/var/tmp/salesguard-images}"
SCRATCH="$IMAGES_DIR"
# The CA bundle of this machine: builds reach PyPI through a TLS proxy that only it trusts.
HOST_CA=/etc/ssl/certs/ca-certificates.crt
mkdir -p "$SCRATCH"

say() { echo "images: $*" >&2; }
die() { echo "images: FAILED: $*" >&2; exit 1; }

# ── the base image: Debian bookworm (minbase) with Debian's Python 3.11 ────────────────
BASE_SUITE=bookworm
BASE_PACKAGES=python3.11,ca-certificates,tzdata
BASE_REPOSITORY=localhost/python-base

# The Debian mirror this machine's apt uses (deb822 sources or sources.list).
debian_mirror() {
    local uri
    uri="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)"
    [ -n "$uri" ] || uri="$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)"
    echo "${uri:-http://deb.debian.org/debian}"
}

# The base image's tag names what goes into it, so a changed recipe builds a new one and
# an unchanged one is reused (the bootstrap takes minutes).
base_image() {
    local recipe hash
    recipe="$(declare -f bootstrap_base)|$BASE_SUITE|$BASE_PACKAGES"
    hash="$(sha256sum <<<"$recipe" | cut -c1-12)"
    echo "$BASE_REPOSITORY:3.11-$hash"
}

bootstrap_base() { # image
    local root="$SCRATCH/base-root" mirror start=$SECONDS
    mirror="$(debian_mirror)"
    command -v debootstrap >/dev/null || die "debootstrap is missing: run scripts/ensure-podman.sh"
    rm -rf "$root" && mkdir -p "$root"
    say "bootstrapping $1 from $mirror ($BASE_SUITE minbase + $BASE_PACKAGES)"
    if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$BASE_SUITE" "$root" "$mirror" \
        >"$SCRATCH/debootstrap.log" 2>&1; then
        tail -n 30 "$SCRATCH/debootstrap.log" >&2
        die "debootstrap of $BASE_SUITE from $mirror (log: $SCRATCH/debootstrap.log)"
    fi
    # What an image needs no copy of: downloaded packages, package lists, documentation.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    # `python3` as well as `python3.11`, as python:3.11-slim has (no python3 package: it
    # would pull in more).
    ln -sf python3.11 "$root/usr/bin/python3"
    tar -C "$root" -c . | podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$1" >/dev/null
    rm -rf "$root"
    say "base image $1 bootstrapped in $((SECONDS - start)) s"
}

ensure_base() {
    local image
    image="$(base_image)"
    if podman image exists "$image"; then
        say "base image $image cached"
    else
        bootstrap_base "$image"
    fi
    echo "$image"
}

# ── uv: the version the Dockerfile pins, from PyPI, as an image holding /uv ─────────────
uv_image() {
    local version dir image
    version="$(sed -n 's/^ARG UV_IMAGE=.*:\([0-9.]*\)$/\1/p' Dockerfile)"
    [ -n "$version" ] || die "no uv version in the Dockerfile's ARG UV_IMAGE"
    image="localhost/uv:$version"
    if ! podman image exists "$image"; then
        dir="$(mktemp -d "$SCRATCH/uv.XXXXXX")"
        uv pip install --quiet --target "$dir/wheel" "uv==$version" ||
            die "uv $version could not be fetched from PyPI"
        cp "$dir/wheel/bin/uv" "$dir/uv"
        tar -C "$dir" -c uv | podman import --quiet - "$image" >/dev/null
        rm -rf "$dir"
        say "uv image $image made from PyPI's uv $version"
    fi
    echo "$image"
}

# The builds reach PyPI only through this machine's network and CA bundle: uv (whose own
# roots would not trust the proxy) is told to use the system's, which is this bundle.
build_mounts() {
    local conf="$SCRATCH/uv.toml"
    echo 'native-tls = true' >"$conf"
    [ -f "$HOST_CA" ] || die "no CA bundle at $HOST_CA"
    echo "--volume=$HOST_CA:/etc/ssl/certs/ca-certificates.crt:ro --volume=$conf:/etc/uv/uv.toml:ro"
}

# COMPONENT and PORT of each image, from skaffold.yaml's buildArgs: the one list.
image_build_args() {
    uv run --frozen --quiet python - <<'PY'
import yaml
for artifact in yaml.safe_load(open("skaffold.yaml"))["build"]["artifacts"]:
    args = artifact["docker"]["buildArgs"]
    print(artifact["image"], args["COMPONENT"], args["PORT"])
PY
}

build_images() {
    local base uv mounts image component port start total=$SECONDS
    base="$(ensure_base)"
    uv="$(uv_image)"
    # shellcheck disable=SC2207
    mounts=($(build_mounts))
    while read -r image component port; do
        start=$SECONDS
        if ! podman build --quiet --layers --format=docker --network=host "${mounts[@]}" \
            --build-arg "PYTHON_IMAGE=$base" --build-arg "UV_IMAGE=$uv" \
            --build-arg "COMPONENT=$component" --build-arg "PORT=$port" \
            --file Dockerfile --tag "localhost/$image:$TAG" . >"$SCRATCH/build-$component.log" 2>&1; then
            tail -n 40 "$SCRATCH/build-$component.log" >&2
            die "podman build of $image (log: $SCRATCH/build-$component.log)"
        fi
        say "built localhost/$image:$TAG in $((SECONDS - start)) s"
    done < <(image_build_args)
    build_support_images "$base"
    say "all images built in $((SECONDS - total)) s"
    report_sizes
}

# ── what the smoke run needs beside the five: OPA, PostgreSQL, SeaweedFS ────────────────
build_support_images() { # base
    local context target start
    context="$(mktemp -d "$SCRATCH/support.XXXXXX")"
    bash scripts/ensure-tools.sh opa weed helm >&2
    # Hard links: the binaries are large and on the same file system, or copies.
    for tool in opa weed; do
        ln "$(command -v "$tool")" "$context/$tool" 2>/dev/null || cp "$(command -v "$tool")" "$context/$tool"
    done
    for target in opa postgres seaweedfs; do
        start=$SECONDS
        if ! podman build --quiet --layers --network=host --build-arg "BASE=$1" \
            --target "$target" --file tests/images/support.Containerfile \
            --tag "localhost/salesguard-smoke-$target:$TAG" "$context" >"$SCRATCH/build-$target.log" 2>&1; then
            tail -n 40 "$SCRATCH/build-$target.log" >&2
            die "podman build of the $target support image (log: $SCRATCH/build-$target.log)"
        fi
        say "built localhost/salesguard-smoke-$target:$TAG in $((SECONDS - start)) s"
    done
    rm -rf "$context"
}

report_sizes() {
    uv run --frozen --quiet python -m tests.images.sizes "$TAG" >&2
}

# ── the smoke run: tests/images plays the chart's pods on podman ───────────────────────
smoke() {
    local start=$SECONDS status=0
    rm -f "$SCRATCH/smoke-report.json"
    IMAGES_SMOKE_TAG="$TAG" uv run --frozen pytest tests/images -x -q -p no:cacheprovider || status=$?
    if [ -f "$SCRATCH/smoke-report.json" ]; then
        uv run --frozen --quiet python - "$SCRATCH/smoke-report.json" <<'PY' >&2
import json, sys
report = json.load(open(sys.argv[1]))
for step, seconds in report["timings"].items():
    print(f"images: {step}: {seconds:.1f} s")
left_out = ", ".join(f"{count} {kind}" for kind, count in report["left out"].items())
print(f"images: not run by podman kube play: {left_out}")
PY
    fi
    [ "$status" = 0 ] || die "the smoke run (pytest tests/images; the pods' logs are in $SCRATCH/logs)"
    say "smoke run passed in $((SECONDS - start)) s"
}

case "${1:-all}" in
base) ensure_base ;;
build)
    bash scripts/ensure-podman.sh >&2
    build_images
    ;;
smoke) smoke ;;
all)
    bash scripts/ensure-podman.sh >&2
    build_images
    smoke
    ;;
clean)
    IMAGES_SMOKE_TAG="$TAG" uv run --frozen --quiet python -c \
        'from tests.images.stack import SmokeStack; SmokeStack("'"$TAG"'").down()'
    ;;
*) die "unknown command '${1:-}'; use build, smoke, all or clean" ;;
esac
