"""A stand-in for `docker compose` that deploy/backup.sh and restore.sh can drive in tests.

Each call is appended to $FAKE_COMPOSE_LOG as one JSON line (argv and the size of stdin).
Each service's volume is a folder $FAKE_COMPOSE_ROOT/<service>: `tar`, `sh` and `python`
inside a container run here for real with the container's paths (/data, /var/lib/weaviate)
rewritten to that folder, so the scripts' own shell and tar commands are exercised; the
app's python reaches the test's fake Weaviate through WEAVIATE_URL. mongodump/mongorestore
copy one file, valkey-cli answers what backup.sh asks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ["FAKE_COMPOSE_ROOT"])
VOLUMES = {"app": "/data", "redis": "/data", "weaviate": "/var/lib/weaviate"}


def _local(service: str, text: str) -> str:
    """A container path rewritten to the service's volume folder here."""
    return text.replace(VOLUMES.get(service, "/nonexistent"), str(ROOT / service))


def main(argv: list[str]) -> int:
    stdin = b"" if sys.stdin.isatty() else sys.stdin.buffer.read()
    with open(os.environ["FAKE_COMPOSE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv, "stdin": len(stdin)}) + "\n")
    verb = argv[0]
    if verb in ("stop", "start", "images"):
        return 0
    rest = [a for a in argv[1:] if a not in ("-T", "--rm", "--no-deps")]
    if "--entrypoint" in rest:
        i = rest.index("--entrypoint")
        service, command = rest[i + 2], [rest[i + 1], *rest[i + 3:]]
    else:
        service, command = rest[0], rest[1:]
    if service == "mongo":
        dump = ROOT / "mongo" / "dump.archive.gz"
        if command[0] == "mongodump":
            sys.stdout.buffer.write(dump.read_bytes())
        else:
            dump.write_bytes(stdin)
        return 0
    if command[:1] == ["valkey-cli"]:
        print("aof_rewrite_in_progress:0\r" if command[1] == "INFO" else "Background rewriting")
        return 0
    if service == "weaviate" and command[0] == "tar" and "-czf" in command:
        # The fake Weaviate keeps backups in memory; its folder on disk gets a marker file.
        backup = ROOT / "weaviate" / "backups" / command[-1]
        backup.mkdir(parents=True, exist_ok=True)
        (backup / "backup_config.json").write_text("{}")
    if command[0] in ("tar", "sh"):
        # The container's own tar / sh, run here on the volume's folder.
        local = [_local(service, part) for part in command]
        return subprocess.run(local, input=stdin, check=False).returncode
    if command[0] == "python":
        args = [_local(service, part) for part in command[1:]]
        return subprocess.run([sys.executable, *args], input=stdin, check=False).returncode
    print(f"fake compose: not faked: {argv}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
