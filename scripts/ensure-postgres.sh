#!/usr/bin/env bash
# Makes sure a PostgreSQL server for the tests runs on 127.0.0.1, and prints its URL.
# Idempotent and fast when the server is already up. It uses its own data
# directory (never the distribution's "main" cluster), so it cannot clash with
# a PostgreSQL that the machine runs for other purposes.
#
# Environment: SALESGUARD_PG_PORT (default 55432),
#              SALESGUARD_PG_DIR  (default /var/tmp/salesguard-pg).
# Tests take the URL from SALESGUARD_TEST_POSTGRES_URL, whose default is this
# script's default URL: set it when you change the port.
# Stop it with: scripts/ensure-postgres.sh stop
set -euo pipefail
# runuser lives in /usr/sbin, which a non-login root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"

port="${SALESGUARD_PG_PORT:-55432}"
root="${SALESGUARD_PG_DIR:-/var/tmp/salesguard-pg}"
data="$root/data" sock="$root/run" logfile="$root/server.log"
url="postgresql://salesguard:salesguard@127.0.0.1:$port/postgres"

# Debian keeps the server binaries off PATH, one directory per major version.
pg_bindir() {
    local d best=""
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
        [ -x "$d/postgres" ] && best="$d"
    done
    [ -n "$best" ] || best="$(dirname "$(command -v postgres 2>/dev/null || echo /nonexistent)")"
    [ -x "$best/postgres" ] && echo "$best"
}

if ! bindir="$(pg_bindir)"; then
    # A fresh CI machine has no PostgreSQL server: install Debian's.
    echo "ensure-postgres: installing postgresql with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir="$(pg_bindir)"
fi

# The server refuses to run as root, so as root it runs as the postgres user.
# cd / first: the postgres user may not be allowed into the caller's directory.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

if [ "${1:-}" = stop ]; then
    [ -f "$data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2
    exit 0
fi

# Durability is pointless for throw-away test data, and without fsync the many
# CREATE/DROP DATABASE and DDL statements of the tests are much cheaper.
opts="-c listen_addresses=127.0.0.1 -p $port -k $sock"
opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
# Buffers sized for the benchmarks' million-row tables (PostgreSQL's 128 MB default
# makes every index write of a bulk UPDATE miss the cache); a fraction of this
# machine's memory.
opts="$opts -c max_connections=300 -c shared_buffers=1GB -c work_mem=64MB"

# Already running on the wanted port with these settings? Then there is nothing to do.
# (postmaster.pid's 4th line is the port the running server listens on.)
if as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    if [ "$(sed -n 4p "$data/postmaster.pid")" = "$port" ] && [ "$(cat "$root/opts" 2>/dev/null)" = "$opts" ]; then
        echo "$url"
        exit 0
    fi
    as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2
fi

mkdir -p "$root"
[ "$(id -u)" = 0 ] && chown postgres: "$root"
as_pg mkdir -p "$sock"

if [ ! -f "$data/PG_VERSION" ]; then
    # The bootstrap superuser is salesguard itself; password over TCP, trust on
    # the private socket directory.
    pwfile="$root/pwfile"
    as_pg sh -c "umask 077 && echo salesguard > '$pwfile'"
    as_pg "$bindir/initdb" -D "$data" -U salesguard --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
fi

echo "$opts" > "$root/opts"
if ! as_pg "$bindir/pg_ctl" -D "$data" -l "$logfile" -w -t 60 -o "$opts" start >/dev/null; then
    echo "ensure-postgres: server did not start; end of $logfile:" >&2
    tail -n 30 "$logfile" >&2
    exit 1
fi
echo "$url"
