"""Rate limits shared by every process through Redis (sliding windows from `limits`)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from loguru import logger
from prometheus_client import Counter
from redis.asyncio import ConnectionPool

RATE_LIMITER_UNAVAILABLE = Counter(
    "switchboard_rate_limiter_unavailable_total",
    "Rate-limit checks Redis could not answer, by bucket and what the policy decided",
    ["bucket", "decision"],
)


@lru_cache(maxsize=64)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


# When Redis cannot be reached (or answer in time), a limit either lets the request through
# or refuses it. Customer-facing limits fail open: refusing would lose what a customer
# says, and the message path keeps its own guarantees in the database. The login limits
# fail closed: a guard against password guessing must not switch off when Redis does, and
# a panel session lives in Redis anyway, so no login could work without it.
FAIL_CLOSED_BUCKETS = frozenset({"panel-login-ip", "panel-login-email"})


class RateLimiter:
    """`allow(bucket, key, "20/minute")`, through the process's shared Redis pool.

    A Redis that is unreachable or slower than the pool's wait is "unavailable": the bucket's
    policy (`FAIL_CLOSED_BUCKETS`, else open) decides, and the event is counted. Give it the
    core's `connection_pool`: a pool of its own (redis-py's default is a non-blocking 100)
    ran out under 200 sockets and let everything through.

    With `exempt_loopback` (every profile but prod) a request from this machine is not
    counted when its address is given as `client`: the developer and local load tests are
    not visitors. Behind a reverse proxy the address is the visitor's (uvicorn's
    `--forwarded-allow-ips`), so prod limits everyone.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        exempt_loopback: bool = False,
        connection_pool: ConnectionPool | None = None,
    ) -> None:
        options: dict[str, Any] = {}
        if connection_pool is not None:
            options["connection_pool"] = connection_pool
        self._storage = RedisStorage(
            redis_url, implementation="redispy", key_prefix="sb:rl", **options
        )
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._exempt_loopback = exempt_loopback

    def _exempt(self, client: str | None) -> bool:
        return self._exempt_loopback and client is not None and is_loopback(client)

    @staticmethod
    def _unavailable(bucket: str, exc: Exception) -> bool:
        """Whether to let the request through when Redis failed (True: fail open)."""
        fail_open = bucket not in FAIL_CLOSED_BUCKETS
        RATE_LIMITER_UNAVAILABLE.labels(bucket, "allowed" if fail_open else "refused").inc()
        logger.warning(
            "rate limiter unavailable for {} ({}); {}",
            bucket,
            exc,
            "allowing" if fail_open else "refusing",
        )
        return fail_open

    async def allow(self, bucket: str, key: str, rate: str, *, client: str | None = None) -> bool:
        """Count one hit; False when the key is over its rate."""
        if self._exempt(client):
            return True
        try:
            return bool(await self._limiter.hit(_item(rate), bucket, key))
        except Exception as exc:  # a rate limiter must never take the service down
            return self._unavailable(bucket, exc)

    async def over(self, bucket: str, key: str, rate: str, *, client: str | None = None) -> bool:
        """Whether the key is already over its rate, without counting a hit."""
        if self._exempt(client):
            return False
        try:
            return not bool(await self._limiter.test(_item(rate), bucket, key))
        except Exception as exc:
            return not self._unavailable(bucket, exc)
