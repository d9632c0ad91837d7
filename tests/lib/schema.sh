#!/usr/bin/env bash
# sql/schema.sql: the whole schema as a fresh `parley migrate` leaves it, as
# pg_dump --schema-only prints it, so that a reviewer sees every schema
# change as a diff (`make schema` rewrites it; tests/integration/
# test_schema.sh fails when it is stale).
#
# Sourced: gives schema_header, and schema_dump DSN, which prints the dump without the lines
# that name pg_dump's version or change at every run (\restrict keys).
# Run: starts a throwaway PostgreSQL (tests/lib/pg.sh), migrates a fresh
# database with $PARLEY_BIN and prints its dump.

schema_header() {
	printf -- '-- sql/schema.sql: written by `make schema` (tests/lib/schema.sh) from a fresh\n'
	printf -- '-- `parley migrate`; never edited by hand. Change sql/migrations or\n'
	printf -- '-- sql/functions, then run `make schema` and commit both.\n'
}

schema_dump() {
	"${PG_BIN:-/usr/bin}/pg_dump" --schema-only --no-owner --no-privileges "$1" |
		sed -e '/^-- Dumped from database version/d' -e '/^-- Dumped by pg_dump version/d' \
		    -e '/^\\restrict /d' -e '/^\\unrestrict /d'
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	. "$(dirname "$0")/pg.sh"
	: "${PARLEY_BIN:?set PARLEY_BIN to the parley binary}"
	trap pg_stop EXIT
	pg_start
	psql -X -q "$PG_ADMIN_DSN" -c "CREATE DATABASE parley_schema" >/dev/null
	dsn="host=$PG_ROOT port=$PG_PORT user=postgres dbname=parley_schema"
	PARLEY_CONFIG= PARLEY_DATABASE_URL="$dsn" "$PARLEY_BIN" migrate -c /dev/null >/dev/null
	schema_header
	schema_dump "$dsn"
fi
