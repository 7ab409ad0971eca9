# Sourced after common.sh by the PostgreSQL tests: a throw-away cluster in a
# temporary directory, reachable only on its Unix socket, stopped on exit.
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || skip "PostgreSQL server (postgresql-15) not installed"

PGDIR=$(mktemp -d /tmp/clip-index-pg.XXXXXX)
# The server refuses to run as root: as root, the package's postgres user
# runs it (or nobody when there is none).
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  pg_user=postgres
  id "$pg_user" >/dev/null 2>&1 || pg_user=nobody
  chown "$pg_user" "$PGDIR"
  as_pg() { runuser -u "$pg_user" -- "$@"; }
fi
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1; }
pg_start() {
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w -t 30 \
    -o "-c listen_addresses='' -k $PGDIR -p 5432 -c fsync=off" start >/dev/null ||
    { cat "$PGDIR/log"; fail "PostgreSQL did not start"; }
}
trap 'pg_stop; rm -rf "$TMP" "$PGDIR"' EXIT
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U clip --auth=trust -E UTF8 --no-locale \
  >"$PGDIR/initdb.log" 2>&1 || { cat "$PGDIR/initdb.log"; fail "initdb failed"; }
pg_start
as_pg "$PGBIN/createdb" -h "$PGDIR" -p 5432 -U clip clip || fail "createdb failed"
PGURI="postgresql:///clip?host=$PGDIR&port=5432&user=clip"
# psql_c SQL: one value from the test database
psql_c() { as_pg psql -h "$PGDIR" -p 5432 -U clip -d clip -XAtc "$1"; }
