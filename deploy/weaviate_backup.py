"""Weaviate's backup API from the command line (standard library only).

Run inside the app container, where WEAVIATE_URL reaches Weaviate (deploy/backup.sh does):

    python - create ID  < deploy/weaviate_backup.py     # backup to Weaviate's filesystem backend
    python - restore ID < deploy/weaviate_backup.py     # drop the backed-up classes, restore them

Waits until the backup or restore has finished; exits non-zero with Weaviate's message when it
fails. Needs the `backup-filesystem` module (ENABLE_MODULES, BACKUP_FILESYSTEM_PATH in
docker-compose.yml).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

BACKEND = os.environ.get("WEAVIATE_BACKUP_BACKEND", "filesystem")
TIMEOUT_S = float(os.environ.get("WEAVIATE_BACKUP_TIMEOUT", "3600"))


def call(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One REST call; (status, parsed JSON or None)."""
    base = os.environ.get("WEAVIATE_URL", "http://weaviate:8080").rstrip("/")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own WEAVIATE_URL
        f"{base}/v1{path}", data=data, method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, raw.decode(errors="replace")


def wait(path: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        status, body = call("GET", path)
        if status != 200:
            raise SystemExit(f"weaviate: GET {path}: {status} {body}")
        if body["status"] in ("SUCCESS", "FAILED", "CANCELED"):
            if body["status"] != "SUCCESS":
                raise SystemExit(f"weaviate: {body['status']}: {body.get('error', body)}")
            return dict(body)
        if time.monotonic() > deadline:
            raise SystemExit(f"weaviate: still {body['status']} after {TIMEOUT_S:.0f} s")
        time.sleep(1)


def create(backup_id: str) -> dict[str, Any]:
    status, body = call("POST", f"/backups/{BACKEND}", {"id": backup_id})
    if status != 200:
        raise SystemExit(f"weaviate: backup {backup_id}: {status} {body}")
    return wait(f"/backups/{BACKEND}/{backup_id}")


def restore(backup_id: str) -> dict[str, Any]:
    status, body = call("GET", f"/backups/{BACKEND}/{backup_id}")
    if status != 200:
        raise SystemExit(f"weaviate: no backup {backup_id}: {status} {body}")
    # Weaviate refuses to restore over an existing class: the backup's classes go first.
    for name in body.get("classes") or []:
        call("DELETE", f"/schema/{name}")
    status, body = call("POST", f"/backups/{BACKEND}/{backup_id}/restore", {})
    if status != 200:
        raise SystemExit(f"weaviate: restore {backup_id}: {status} {body}")
    return wait(f"/backups/{BACKEND}/{backup_id}/restore")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("create", "restore"):
        print("usage: weaviate_backup.py create|restore ID", file=sys.stderr)
        return 2
    done = create(argv[1]) if argv[0] == "create" else restore(argv[1])
    print(json.dumps({"id": argv[1], "status": done["status"],
                      "classes": done.get("classes", [])}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
