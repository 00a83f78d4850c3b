#!/usr/bin/env bash
# Restore a backup made by deploy/backup.sh into the docker compose stack. Replaces what the
# stack holds now: MongoDB (mongorestore --drop, oplog replayed), Valkey (the AOF), Weaviate
# (the backup's classes are dropped and restored) and the app's DATA_DIR volume.
#
#   deploy/restore.sh BACKUP_DIR [--yes]
#
# The app and the workers are stopped first (no writes during the restore) and started
# again at the end. Environment: COMPOSE (default "docker compose").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a compose <<<"${COMPOSE:-docker compose}"
src="${1:?usage: deploy/restore.sh BACKUP_DIR [--yes]}"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

(cd "$src" && sha256sum --quiet -c SHA256SUMS) || { echo "checksums do not match" >&2; exit 1; }
weaviate_id="$(sed -n 's/^weaviate_backup_id=//p' "$src/manifest.txt")"
if [ "${2:-}" != "--yes" ]; then
    read -r -p "Replace ALL data of this stack with $src? [y/N] " answer
    [ "$answer" = "y" ] || [ "$answer" = "yes" ] || { echo "nothing restored"; exit 1; }
fi

log "stopping app and workers"
"${compose[@]}" stop app worker

log "MongoDB: mongorestore --drop --oplogReplay"
"${compose[@]}" exec -T mongo mongorestore --quiet --archive --gzip --drop --oplogReplay \
    <"$src/mongo.archive.gz"

log "Valkey: the AOF into its volume"
"${compose[@]}" stop redis
"${compose[@]}" run --rm --no-deps -T --entrypoint sh redis \
    -c 'rm -rf /data/appendonlydir && tar -C /data -xzf -' <"$src/valkey-aof.tar.gz"
"${compose[@]}" start redis

# A backup from before the registry moved into MongoDB holds it as registry.backup.sqlite3:
# put back where the app imports it into MongoDB on its first open.
log "DATA_DIR: the app volume"
"${compose[@]}" run --rm --no-deps -T --entrypoint sh app -c '
    tar -C /data -xzf - &&
    if [ -f /data/kb/registry.backup.sqlite3 ]; then
        rm -f /data/kb/registry.sqlite3-wal /data/kb/registry.sqlite3-shm &&
        mv /data/kb/registry.backup.sqlite3 /data/kb/registry.sqlite3
    fi' <"$src/app-data.tar.gz"

log "Weaviate: backup $weaviate_id into its backups folder, then the restore API"
"${compose[@]}" exec -T weaviate sh -c \
    'mkdir -p /var/lib/weaviate/backups && tar -C /var/lib/weaviate/backups -xzf -' \
    <"$src/weaviate-backup.tar.gz"
"${compose[@]}" run --rm --no-deps -T --entrypoint python app - restore "$weaviate_id" \
    <deploy/weaviate_backup.py

log "starting app and workers"
"${compose[@]}" start app worker
log "restored from $src"
