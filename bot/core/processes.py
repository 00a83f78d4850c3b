"""Names of processes that tell whether the process behind a name is still alive.

Reply-stream consumers and outbox claims are named after the process that holds them, so a
successor on the same host can tell at once that the holder died (a killed `serve`) instead
of waiting out a timeout.
"""

from __future__ import annotations

import os
import socket
import uuid


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def process_name(suffix: str | None = None) -> str:
    """Host, PID namespace and PID of this process, and a suffix (random unless given)."""
    tail = suffix or uuid.uuid4().hex[:6]
    return f"{socket.gethostname()}-{_pid_namespace()}-{os.getpid()}-{tail}"


def process_is_gone(name: str) -> bool:
    """True for a name of a process on this host that no longer exists.

    Only a process in our own PID namespace can be checked (containers may share a host
    name); anything else is left to the caller's timeout.
    """
    parts = name.rsplit("-", 3)
    if len(parts) != 4:
        return False
    host, namespace, pid, _ = parts
    if host != socket.gethostname() or namespace != _pid_namespace() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, as another user's process
    return False
