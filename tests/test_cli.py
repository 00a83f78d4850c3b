"""The CLI as a user runs it: `serve` on the embedded default, commands beside it, a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.server.embedded import KINDS, find_server_processes
from tests.support import free_port

REPO = Path(__file__).resolve().parent.parent


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB", "REDIS", "OPENAI"))}
    env.update(DATA_DIR=str(data_dir), APP_ENV="dev", LOG_LEVEL="INFO")
    env.pop("PUBLIC_BASE_URL", None)
    return env


def _serve(data_dir: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=REPO,
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(proc: subprocess.Popen[str], port: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return "ok"
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become ready")


def _server_pids(data_dir: Path) -> list[int]:
    """Local server processes on this data directory, found by scanning /proc."""
    return [pid for kind in KINDS for pid in find_server_processes(kind, data_dir)]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    for pid in _server_pids(tmp_path / "data"):
        os.kill(pid, signal.SIGKILL)


def test_serve_prints_urls_and_stops_its_servers(data_dir: Path) -> None:
    port = free_port()
    proc = _serve(data_dir, port)
    try:
        _wait_ready(proc, port)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "/widget.js" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/widget.js", timeout=5).status_code == 200
        assert len(_server_pids(data_dir)) == 2
        # A second command reaches the same local servers instead of starting its own.
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "operators",
                "create",
                "--email",
                "ann@example.com",
                "--password",
                "correct-horse-battery",
                "--role",
                "admin",
            ],
            cwd=REPO,
            env=_env(data_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
        assert "created admin ann@example.com" in created.stdout
        assert len(_server_pids(data_dir)) == 2
        again = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "operators",
                "create",
                "--email",
                "ANN@example.com",
                "--password",
                "another-password",
            ],
            cwd=REPO,
            env=_env(data_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 1 and "already exists" in again.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}/panel/" in output
    assert f"http://127.0.0.1:{port}/" in output
    assert _server_pids(data_dir) == []


def test_killed_serve_is_replaced_without_a_second_server(data_dir: Path) -> None:
    port = free_port()
    proc = _serve(data_dir, port)
    _wait_ready(proc, port)
    session = httpx.post(f"http://127.0.0.1:{port}/api/widget/sessions", json={}, timeout=5)
    token = session.json()["token"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    port2 = free_port()
    restarted = _serve(data_dir, port2)
    try:
        _wait_ready(restarted, port2)
        assert len(_server_pids(data_dir)) == 2
        # The visitor's conversation survived: the token resumes it.
        resumed = httpx.post(
            f"http://127.0.0.1:{port2}/api/widget/sessions", json={"token": token}, timeout=5
        )
        assert resumed.status_code == 200
        assert resumed.json()["conversation_id"] == session.json()["conversation_id"]
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so supervisors see how it ended.
    assert restarted.returncode in (0, -signal.SIGTERM)
    assert _server_pids(data_dir) == []


def test_kb_commands_ingest_list_and_delete(data_dir: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text(
        "# Returns\n\n## How do I return an item?\nWithin 30 days, unused, with the receipt.\n"
    )
    (docs / "dostavka.md").write_text(
        "# Доставка\n\n## Сколько идёт доставка?\nОт двух до четырёх рабочих дней.\n"
    )

    def kb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "kb", *args],
            cwd=REPO,
            env=_env(data_dir),
            capture_output=True,
            text=True,
            timeout=180,
        )

    first = kb("ingest", str(docs))
    assert first.returncode == 0, first.stderr
    assert "2 added" in first.stdout
    again = kb("ingest", str(docs))
    assert "0 added, 0 updated, 2 unchanged" in again.stdout
    listed = kb("list")
    assert "returns.md" in listed.stdout and "dostavka.md" in listed.stdout
    assert "2 document(s)" in listed.stdout
    doc_id = next(line.split()[0] for line in listed.stdout.splitlines() if "returns.md" in line)
    deleted = kb("delete", doc_id)
    assert deleted.returncode == 0 and "returns.md" in deleted.stdout
    assert "1 document(s)" in kb("list").stdout
    missing = kb("delete", "no-such-id")
    assert missing.returncode == 1 and "no document" in missing.stderr


def test_kb_ingest_of_a_missing_path_is_one_clear_line(data_dir: Path, tmp_path: Path) -> None:
    nowhere = tmp_path / "no" / "such" / "path"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "kb", "ingest", str(nowhere)],
        cwd=REPO,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=180,
    )
    # Like the other CLI errors: exit 1 and one line naming the path, no traceback.
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert lines == [f"error: no such file, folder or URL: {nowhere}"], result.stderr
    assert "Traceback" not in result.stderr
