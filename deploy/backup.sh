#!/usr/bin/env bash
# Back up the docker compose stack while it runs: MongoDB (mongodump of the replica set with
# its oplog), Valkey (the AOF, after a rewrite), Weaviate (its backup API, filesystem
# backend) and the app's DATA_DIR volume. The knowledge-base registry is in MongoDB (the
# dump holds it). Writes BACKUP_ROOT/<UTC stamp>/ with a manifest and SHA-256 sums.
#
#   deploy/backup.sh [BACKUP_ROOT]        (default ./backups; run from the repository root)
#
# Environment: COMPOSE (default "docker compose"), KB_COLLECTION (default SwitchboardKB).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a compose <<<"${COMPOSE:-docker compose}"
root="${1:-./backups}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
dest="$root/$stamp"
mkdir -p "$dest"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

log "MongoDB: mongodump --oplog (a consistent point in time of the replica set)"
"${compose[@]}" exec -T mongo mongodump --quiet --archive --gzip --oplog >"$dest/mongo.archive.gz"

log "Valkey: rewrite the AOF, then copy it"
"${compose[@]}" exec -T redis valkey-cli BGREWRITEAOF >/dev/null
for _ in $(seq 1 600); do
    if "${compose[@]}" exec -T redis valkey-cli INFO persistence | grep -q '^aof_rewrite_in_progress:0'; then
        break
    fi
    sleep 1
done
"${compose[@]}" exec -T redis tar -C /data -czf - appendonlydir >"$dest/valkey-aof.tar.gz"

log "Weaviate: backup API (filesystem backend), then copy the backup out"
weaviate_id="switchboard-${stamp,,}"
"${compose[@]}" exec -T app python - create "$weaviate_id" <deploy/weaviate_backup.py >"$dest/weaviate.json"
"${compose[@]}" exec -T weaviate tar -C /var/lib/weaviate/backups -czf - "$weaviate_id" >"$dest/weaviate-backup.tar.gz"

log "DATA_DIR: the app volume"
"${compose[@]}" exec -T app tar -C /data -czf - . >"$dest/app-data.tar.gz"

{
    echo "created=$stamp"
    echo "weaviate_backup_id=$weaviate_id"
    echo "git_commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
    "${compose[@]}" images --format '{{.Service}}={{.Repository}}:{{.Tag}}' 2>/dev/null \
        || true
} >"$dest/manifest.txt"
(cd "$dest" && sha256sum ./*.gz ./*.json ./manifest.txt >SHA256SUMS)
log "done: $dest"
echo "$dest"
