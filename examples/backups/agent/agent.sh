#!/bin/sh
# continuo backup agent: copies a PostgreSQL database to a restic repository in object storage, restores it,
# and deletes a copy, following continuo's agent contract (docs/src/data/agent-contract.md).
#
# From continuo:   CONTINUO_ACTION, CONTINUO_SERVICE, CONTINUO_NAMESPACE, CONTINUO_TIERS, CONTINUO_POINT,
#                  CONTINUO_POINT_ID, CONTINUO_RESTORE_SCOPE, CONTINUO_LOCATION_ENDPOINT, CONTINUO_LOCATION_BUCKET
# From the location's Secret: RESTIC_PASSWORD, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
# From the agent template:    PGHOST, PGDATABASE, PGUSER, PGPASSWORD (the service's database)
set -eu

: "${CONTINUO_LOCATION_ENDPOINT:?the BackupLocation must set config.endpoint}"
: "${CONTINUO_LOCATION_BUCKET:?the BackupLocation must set config.bucket}"
export RESTIC_REPOSITORY="s3:${CONTINUO_LOCATION_ENDPOINT}/${CONTINUO_LOCATION_BUCKET}/${CONTINUO_NAMESPACE}/${CONTINUO_SERVICE}"

# One line of JSON in the termination message is how continuo learns the copy's id and size.
report() { printf '%s\n' "$1" > /dev/termination-log; }

case "${CONTINUO_ACTION:?}" in
backup)
  restic cat config >/dev/null 2>&1 || restic init
  captured=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # A consistent snapshot of the whole database, streamed: nothing is written to the pod's disk.
  pg_dump --format=custom --no-owner |
    restic backup --stdin --stdin-filename "${PGDATABASE}.dump" --json \
      --tag continuo --tag "service=${CONTINUO_SERVICE}" --tag "tiers=${CONTINUO_TIERS:-on-demand}" >/tmp/restic.json
  id=$(jq -r 'select(.message_type == "summary") | .snapshot_id' /tmp/restic.json)
  size=$(jq -r 'select(.message_type == "summary") | .total_bytes_processed' /tmp/restic.json)
  report "{\"id\": \"${id}\", \"sizeBytes\": ${size}, \"capturedAt\": \"${captured}\"}"
  ;;
restore)
  : "${CONTINUO_POINT_ID:?restore needs the copy's id}"
  scope=${CONTINUO_RESTORE_SCOPE:-all}
  case "$scope" in
  all)
    # The whole installation: every object of the dump replaces the live one.
    restic dump "$CONTINUO_POINT_ID" "/${PGDATABASE}.dump" | pg_restore --clean --if-exists --no-owner --dbname "$PGDATABASE"
    ;;
  tenant=*)
    # One company: its rows only, from a scratch copy of the database, inside one transaction.
    tenant=${scope#tenant=}
    scratch="restore_$(date -u +%Y%m%d%H%M%S)"
    createdb "$scratch"
    restic dump "$CONTINUO_POINT_ID" "/${PGDATABASE}.dump" | pg_restore --no-owner --dbname "$scratch"
    psql --set ON_ERROR_STOP=1 --set tenant="$tenant" --set scratch="$scratch" --file /agent/restore-tenant.sql
    dropdb "$scratch"
    ;;
  archive=*)
    # One archive (a year of invoices, say): the table of that name only.
    table=${scope#archive=}
    restic dump "$CONTINUO_POINT_ID" "/${PGDATABASE}.dump" |
      pg_restore --clean --if-exists --no-owner --table "$table" --dbname "$PGDATABASE"
    ;;
  *)
    echo "unknown restore scope ${scope}: use all, tenant=<id> or archive=<table>" >&2
    exit 2
    ;;
  esac
  report "{\"id\": \"${CONTINUO_POINT_ID}\"}"
  ;;
delete)
  : "${CONTINUO_POINT_ID:?delete needs the copy's id}"
  restic forget --prune "$CONTINUO_POINT_ID"
  report "{\"id\": \"${CONTINUO_POINT_ID}\"}"
  ;;
*)
  echo "unknown action ${CONTINUO_ACTION}" >&2
  exit 2
  ;;
esac
