"""deploy/backup.sh and restore.sh, driven through a stand-in for `docker compose`.

No Docker engine runs here: tests/fake_compose.py plays the containers (it records every
call), and the Weaviate part is real HTTP against the fake Weaviate server, so the backup
API calls of deploy/weaviate_backup.py are exercised for real: back up, lose the class,
restore, and the chunks are back.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.embeddings import E5Embeddings
from rag.stores import WeaviateBackend, Where
from tests.fakes.weaviate_server import FakeWeaviate

REPO = Path(__file__).resolve().parent.parent
BACKUP, RESTORE = REPO / "deploy" / "backup.sh", REPO / "deploy" / "restore.sh"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], FakeWeaviate]]:
    """Volumes of a small running stack, and the environment the scripts run with."""
    root = tmp_path / "volumes"
    (root / "mongo").mkdir(parents=True)
    (root / "mongo" / "dump.archive.gz").write_bytes(b"mongo archive v1")
    (root / "redis" / "appendonlydir").mkdir(parents=True)
    (root / "redis" / "appendonlydir" / "appendonly.aof.1.incr.aof").write_text("SET a 1\n")
    (root / "app" / "kb").mkdir(parents=True)
    (root / "app" / "logs.txt").write_text("app log\n")
    # Chroma's files (the embedded profile's chunks); the registry is in MongoDB's dump.
    (root / "app" / "kb" / "chroma").mkdir()
    chroma = sqlite3.connect(root / "app" / "kb" / "chroma" / "chroma.sqlite3")
    chroma.execute("create table embeddings (id text)")
    chroma.execute("insert into embeddings values ('chunk-1')")
    chroma.commit()
    chroma.close()
    with FakeWeaviate() as fake:
        env = {
            **os.environ,
            "COMPOSE": f"{sys.executable} {REPO / 'tests' / 'fake_compose.py'}",
            "FAKE_COMPOSE_ROOT": str(root),
            "FAKE_COMPOSE_LOG": str(tmp_path / "compose.log"),
            "WEAVIATE_URL": fake.url,
        }
        yield root, env, fake


def _calls(env: dict[str, str]) -> list[list[str]]:
    lines = Path(env["FAKE_COMPOSE_LOG"]).read_text().splitlines()
    return [json.loads(line)["argv"] for line in lines]


def _chunks(fake: FakeWeaviate, n: int = 5) -> WeaviateBackend:
    backend = WeaviateBackend(fake.url, E5Embeddings(), collection="SwitchboardKB",
                              grpc_port=fake.grpc_port)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(n, 384))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]
    metas = [{"language": "en", "tag": "t", "doc_id": "d", "source": "s.md", "title": "T",
              "chunk_index": i, "content_hash": "h"} for i in range(n)]
    backend.add(ids, [f"chunk {i}" for i in range(n)], vectors.tolist(), metas)
    return backend


@pytest.mark.parametrize("script", [BACKUP, RESTORE], ids=lambda p: p.name)
def test_scripts_are_strict_bash(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert os.access(script, os.X_OK)
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_backup_then_restore_brings_every_part_back(
    stack: tuple[Path, dict[str, str], FakeWeaviate], tmp_path: Path
) -> None:
    root, env, fake = stack
    backend = _chunks(fake)

    made = subprocess.run(["bash", str(BACKUP), str(tmp_path / "backups")], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)

    assert made.returncode == 0, made.stderr
    folder = Path(made.stdout.strip().splitlines()[-1])
    names = {p.name for p in folder.iterdir()}
    assert names >= {"mongo.archive.gz", "valkey-aof.tar.gz", "weaviate.json",
                     "weaviate-backup.tar.gz", "app-data.tar.gz", "manifest.txt", "SHA256SUMS"}
    assert (folder / "mongo.archive.gz").read_bytes() == b"mongo archive v1"
    manifest = (folder / "manifest.txt").read_text()
    weaviate_id = manifest.split("weaviate_backup_id=")[1].split()[0]
    assert json.loads((folder / "weaviate.json").read_text())["status"] == "SUCCESS"
    assert fake.backups[weaviate_id]["classes"] == ["SwitchboardKB"]
    with tarfile.open(folder / "app-data.tar.gz") as tar:
        archived = set(tar.getnames())
    assert "./kb/chroma/chroma.sqlite3" in archived and "./logs.txt" in archived
    calls = _calls(env)
    assert ["exec", "-T", "mongo", "mongodump", "--quiet", "--archive", "--gzip",
            "--oplog"] in calls
    assert ["exec", "-T", "redis", "valkey-cli", "BGREWRITEAOF"] in calls

    # Disaster: every part of the stack loses its data.
    (root / "mongo" / "dump.archive.gz").write_bytes(b"")
    for path in (root / "redis" / "appendonlydir").iterdir():
        path.unlink()
    shutil.rmtree(root / "app" / "kb")
    backend._client.collections.delete("SwitchboardKB")
    assert fake.count("SwitchboardKB") == 0
    open(Path(env["FAKE_COMPOSE_LOG"]), "w").close()

    restored = subprocess.run(["bash", str(RESTORE), str(folder), "--yes"], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=120, check=False)

    assert restored.returncode == 0, restored.stderr
    assert (root / "mongo" / "dump.archive.gz").read_bytes() == b"mongo archive v1"
    aof = root / "redis" / "appendonlydir" / "appendonly.aof.1.incr.aof"
    assert aof.read_text() == "SET a 1\n"
    chroma = sqlite3.connect(root / "app" / "kb" / "chroma" / "chroma.sqlite3")
    assert chroma.execute("select id from embeddings").fetchall() == [("chunk-1",)]
    chroma.close()
    assert fake.count("SwitchboardKB") == 5
    found = backend.search(np.ones(384).tolist(), 5, Where())
    assert sorted(d.page_content for d, _ in found) == [f"chunk {i}" for i in range(5)]
    backend.close()
    calls = _calls(env)
    assert calls[0] == ["stop", "app", "worker"], "writers stop before anything is replaced"
    assert calls[-1] == ["start", "app", "worker"]
    assert ["exec", "-T", "mongo", "mongorestore", "--quiet", "--archive", "--gzip", "--drop",
            "--oplogReplay"] in calls


def test_restore_refuses_a_damaged_backup(
    stack: tuple[Path, dict[str, str], FakeWeaviate], tmp_path: Path
) -> None:
    _root, env, fake = stack
    _chunks(fake).close()
    made = subprocess.run(["bash", str(BACKUP), str(tmp_path / "b")], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    folder = Path(made.stdout.strip().splitlines()[-1])
    (folder / "mongo.archive.gz").write_bytes(b"truncated")
    open(Path(env["FAKE_COMPOSE_LOG"]), "w").close()

    restored = subprocess.run(["bash", str(RESTORE), str(folder), "--yes"], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=60, check=False)

    assert restored.returncode != 0 and "checksums do not match" in restored.stderr
    assert _calls(env) == [], "nothing was stopped or replaced"


def test_a_backup_from_the_sqlite_registry_era_restores_it_for_import(
    stack: tuple[Path, dict[str, str], FakeWeaviate], tmp_path: Path
) -> None:
    """Older backups hold the registry as kb/registry.backup.sqlite3: restored where the app
    imports it into MongoDB on its first open (rag/registry.py `import_sqlite`)."""
    root, env, fake = stack
    _chunks(fake).close()
    made = subprocess.run(["bash", str(BACKUP), str(tmp_path / "b")], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    folder = Path(made.stdout.strip().splitlines()[-1])
    old = tmp_path / "old-app"
    (old / "kb").mkdir(parents=True)
    registry = sqlite3.connect(old / "kb" / "registry.backup.sqlite3")
    registry.execute("create table documents (doc_id text)")
    registry.execute("insert into documents values ('doc-1')")
    registry.commit()
    registry.close()
    with tarfile.open(folder / "app-data.tar.gz", "w:gz") as tar:
        tar.add(old, arcname=".")
    sums = subprocess.run(["sha256sum", "./app-data.tar.gz", "./mongo.archive.gz",
                           "./valkey-aof.tar.gz", "./weaviate-backup.tar.gz", "./weaviate.json",
                           "./manifest.txt"], cwd=folder, capture_output=True, text=True,
                          check=True)
    (folder / "SHA256SUMS").write_text(sums.stdout)
    shutil.rmtree(root / "app" / "kb")

    restored = subprocess.run(["bash", str(RESTORE), str(folder), "--yes"], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=120, check=False)

    assert restored.returncode == 0, restored.stderr
    assert not (root / "app" / "kb" / "registry.backup.sqlite3").exists()
    registry = sqlite3.connect(root / "app" / "kb" / "registry.sqlite3")
    assert registry.execute("select doc_id from documents").fetchall() == [("doc-1",)]
    registry.close()
