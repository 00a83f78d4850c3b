"""Rate limits shared by every process through Redis (sliding windows from `limits`)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from loguru import logger


@lru_cache(maxsize=64)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class RateLimiter:
    """`allow(bucket, key, "20/minute")` — fails open when Redis is unreachable.

    With `exempt_loopback` (every profile but prod) a request from this machine is not
    counted when its address is given as `client`: the developer and local load tests are
    not visitors. Behind a reverse proxy the address is the visitor's (uvicorn's
    `--forwarded-allow-ips`), so prod limits everyone.
    """

    def __init__(self, redis_url: str, *, exempt_loopback: bool = False) -> None:
        self._storage = RedisStorage(redis_url, implementation="redispy", key_prefix="sb:rl")
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._exempt_loopback = exempt_loopback

    def _exempt(self, client: str | None) -> bool:
        return self._exempt_loopback and client is not None and is_loopback(client)

    async def allow(self, bucket: str, key: str, rate: str, *, client: str | None = None) -> bool:
        """Count one hit; False when the key is over its rate."""
        if self._exempt(client):
            return True
        try:
            return bool(await self._limiter.hit(_item(rate), bucket, key))
        except Exception as exc:  # a rate limiter must never take the service down
            logger.warning("rate limiter unavailable ({}); allowing", exc)
            return True

    async def over(self, bucket: str, key: str, rate: str, *, client: str | None = None) -> bool:
        """Whether the key is already over its rate, without counting a hit."""
        if self._exempt(client):
            return False
        try:
            return not bool(await self._limiter.test(_item(rate), bucket, key))
        except Exception as exc:
            logger.warning("rate limiter unavailable ({}); allowing", exc)
            return False
