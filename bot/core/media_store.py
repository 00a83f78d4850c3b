"""Where media files live: a small storage interface and its one implementation, a directory.

The embedded profile keeps files under `DATA_DIR/media`; production points `MEDIA_DIR` at a
mounted volume shared by every API and worker process. Keys are ours (hex digests), never a
provider's file name, so a key cannot climb out of the root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"[0-9a-f]{2,64}")


class MediaStore(Protocol):
    """Bytes by key: put once, read many times, delete on erasure."""

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> bool: ...


class LocalMediaStore:
    """Files under one directory, two levels fanned out by the key's first characters."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file of a key (`ValueError` for anything but one of our keys)."""
        if not _KEY.fullmatch(key):
            raise ValueError("not a media key")
        return self.root / key[:2] / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self.path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written aside and renamed: a reader never sees half a file.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    async def get(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> bool:
        path = self.path(key)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)
            return True
        return False
