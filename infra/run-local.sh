#!/bin/sh
# make run: a project-local PostgreSQL under ./var (created, migrated and
# started when DATABASE_URL is not set), then ivs-syncd on 127.0.0.1:8080.
# Ctrl-C stops both. A second run reuses the cluster.
set -eu
BIN=$1
VAR=$(pwd)/var
# The example event, by an absolute path: the try-it commands are pasted into
# another terminal, usually opened elsewhere.
EVENT=$(cd "$(dirname "$0")/.." && pwd)/tests/data/stream-start.json
PGBIN=/usr/lib/postgresql/15/bin
PORT=54329
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ -z "${DATABASE_URL:-}" ]; then
	mkdir -p "$VAR/run"
	if [ "$(id -u)" = 0 ]; then chown postgres "$VAR" "$VAR/run"; fi
	if [ ! -f "$VAR/pg/PG_VERSION" ]; then
		echo "run: creating a PostgreSQL cluster in $VAR/pg"
		as_pg "$PGBIN/initdb" -D "$VAR/pg" -U ivs_syncd -A trust -E UTF8 --locale=C >/dev/null
		cat >>"$VAR/pg/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$VAR/run'
CONF
	fi
	if ! as_pg "$PGBIN/pg_ctl" -D "$VAR/pg" status >/dev/null 2>&1; then
		as_pg "$PGBIN/pg_ctl" -D "$VAR/pg" -l "$VAR/pg.log" -w start >/dev/null
	fi
	psql -X -q "host=$VAR/run port=$PORT user=ivs_syncd dbname=postgres" -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'ivs_syncd'" | grep -q 1 ||
		psql -X -q "host=$VAR/run port=$PORT user=ivs_syncd dbname=postgres" \
			-c "CREATE DATABASE ivs_syncd"
	trap 'as_pg "$PGBIN/pg_ctl" -D "$VAR/pg" -m fast -w stop >/dev/null 2>&1 || true' EXIT
	trap 'exit 0' INT TERM
fi
export LISTEN="${LISTEN:-127.0.0.1:8080}"
export LOG_FORMAT="${LOG_FORMAT:-text}"
export EVENTBRIDGE_TOKEN="${EVENTBRIDGE_TOKEN:-local-dev-token}"
"$BIN" migrate
cat <<MSG

ivs-syncd is starting on http://$LISTEN (Ctrl-C stops it and the database).
Try, in another terminal:
  curl -s http://$LISTEN/readyz
  psql "host=$VAR/run port=$PORT user=ivs_syncd dbname=ivs_syncd" -c \\
    "INSERT INTO shows (title, ivs_channel_arn) VALUES ('demo', 'arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij')"
  curl -s -X POST http://$LISTEN/eventbridge -H 'X-Ivs-Syncd-Token: $EVENTBRIDGE_TOKEN' \\
    -H 'Content-Type: application/json' --data @'$EVENT'
  psql "host=$VAR/run port=$PORT user=ivs_syncd dbname=ivs_syncd" -c \\
    "SELECT title, status, stream_status, is_streaming, went_live_at FROM shows"

MSG
"$BIN" serve || true
