#!/usr/bin/env bash
# Makes sure podman can build and run the images on this machine (root, Debian bookworm,
# no Docker daemon, no systemd, no reachable container registry). Idempotent: installed
# packages and an already-written configuration are left alone.
#
# - Debian's podman, runc (crun fails on this kernel's cgroups v1 hybrid mode),
#   netavark + aardvark-dns (one network whose pods resolve each other by name),
#   catatonit (podman builds its pod "pause" image from it; no registry needed) and
#   debootstrap (the base image is bootstrapped from Debian's packages).
# - /etc/containers/containers.conf: runc, no default ulimits (podman's defaults fail
#   here), cgroupfs and a file event log (no systemd).
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"

packages=(podman runc netavark aardvark-dns catatonit iptables debootstrap uidmap)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "ensure-podman: installing ${missing[*]} needs root" >&2; exit 1; }
    echo "ensure-podman: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # Without recommends: no crun (it would become the default runtime), no fuse-overlayfs.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

conf=/etc/containers/containers.conf
marker="# salesguard: scripts/ensure-podman.sh"
if ! grep -qF "$marker" "$conf" 2>/dev/null; then
    mkdir -p /etc/containers
    [ -f "$conf" ] && cp "$conf" "$conf.orig"
    cat >"$conf" <<EOF
$marker
[containers]
# podman's default ulimits (nproc, nofile) cannot be applied here.
default_ulimits = []

[engine]
# crun fails on cgroups v1 hybrid mode; runc works.
runtime = "runc"
# No systemd on these machines: cgroups and events without it.
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
# netavark with aardvark-dns: pods on one network resolve each other by name. Explicit,
# or podman would also read the CNI bridge config that Debian's package installs.
network_backend = "netavark"
EOF
    echo "ensure-podman: wrote $conf" >&2
fi

# Short names (salesguard-customers, openpolicyagent/opa) resolve locally, never by
# asking a registry: nothing is pulled, every image is built or imported here.
registries=/etc/containers/registries.conf.d/50-salesguard.conf
if [ ! -f "$registries" ]; then
    mkdir -p "$(dirname "$registries")"
    cat >"$registries" <<EOF
$marker
short-name-mode = "permissive"
unqualified-search-registries = []
EOF
fi

podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Host.NetworkBackend}}' >/dev/null ||
    { echo "ensure-podman: podman does not work here (podman info failed)" >&2; exit 1; }
echo "ensure-podman: $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}'), network $(podman info --format '{{.Host.NetworkBackend}}')"
