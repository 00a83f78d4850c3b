"""Operator accounts: creation and password checks (argon2)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pymongo.errors import DuplicateKeyError

from bot.core.documents import Operator

ROLES = ("operator", "admin")
_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown e-mail as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
# argon2 takes tens of milliseconds of CPU (it releases the GIL): off the event loop, and at
# most two at once, so a burst of logins queues here instead of starving sockets and webhooks.
_VERIFY_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


class OperatorExists(ValueError):
    """An operator with this e-mail already exists."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_operator(
    *, email: str, password: str, role: str = "operator", display_name: str | None = None
) -> Operator:
    """Store a new operator with a hashed password."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 254:
        raise ValueError("a valid e-mail address is required")
    if len(password) < 8:
        raise ValueError("the password must have at least 8 characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    operator = Operator(
        email=email,
        password_hash=await asyncio.get_running_loop().run_in_executor(
            _VERIFY_POOL, _hasher.hash, password
        ),
        role=role,
        display_name=display_name or email.split("@")[0],
    )
    try:
        await operator.insert()
    except DuplicateKeyError:
        raise OperatorExists(f"an operator with e-mail {email} already exists") from None
    return operator


def _matches(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str, password: str) -> bool:
    """Check a password against its argon2 hash in a worker thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_VERIFY_POOL, _matches, password_hash, password)


async def authenticate(*, email: str, password: str) -> Operator | None:
    """The active operator with these credentials, or None (same cost either way)."""
    operator = await Operator.find_one(Operator.email == normalize_email(email))
    if not await verify_password(operator.password_hash if operator else _DUMMY_HASH, password):
        return None
    if operator is None or not operator.active:
        return None
    return operator
