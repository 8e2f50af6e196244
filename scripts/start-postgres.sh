#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on a free loopback port for the tests, and
# print `export SHIPYARD_TEST_POSTGRES_URL=...` (eval its output).
# Installs Debian's postgresql package if no server binaries are found.
# Stop it with: pg_ctl -D "$SHIPYARD_TEST_PGDATA" stop
set -euo pipefail

find_bin() {
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

if ! bindir=$(find_bin); then
    echo "installing PostgreSQL from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir=$(find_bin)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d /tmp/shipyard-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$data"
    as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$bindir/initdb" -D "$data/db" -U shipyard -A trust --no-sync >"$data/initdb.log" 2>&1 \
    || { cat "$data/initdb.log" >&2; exit 1; }
"${as_pg[@]}" "$bindir/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2 \
    || { cat "$data/server.log" >&2; exit 1; }
echo "export SHIPYARD_TEST_POSTGRES_URL=postgresql://shipyard@127.0.0.1:$port/postgres"
echo "export SHIPYARD_TEST_PGDATA=$data/db"
echo "export SHIPYARD_TEST_PGCTL='${as_pg[*]} $bindir/pg_ctl'"
