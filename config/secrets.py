"""Secrets generated once per installation and kept under `DATA_DIR/secrets` (mode 0600).

A secret that is not configured must never fall back to a value anyone can read in the
source: the first process that needs one creates a random value here, and every later
process on the same data directory reuses it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

SECRETS_DIR = "secrets"


def secrets_dir(data_dir: Path) -> Path:
    """`DATA_DIR/secrets`, created private to this user (0700) when missing."""
    path = Path(data_dir).resolve() / SECRETS_DIR
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    # mkdir's mode is masked by the umask, and an existing directory keeps its own.
    os.chmod(path, 0o700)
    return path


def installation_secret(data_dir: Path, name: str, *, nbytes: int = 48) -> str:
    """The secret `name` of this installation: read it, or create it atomically (0600).

    Two processes starting at once agree on one value: the file is written under a
    temporary name and linked into place only if nobody else got there first.
    """
    path = secrets_dir(data_dir) / name
    with contextlib.suppress(FileNotFoundError):
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    value = secrets.token_urlsafe(nbytes)
    tmp = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # fails if another process created it meanwhile
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
        return value
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
