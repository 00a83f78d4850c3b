"""Rate limits shared by every process through Redis (sliding windows from `limits`)."""

from __future__ import annotations

from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from loguru import logger


@lru_cache(maxsize=64)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)


class RateLimiter:
    """`allow(bucket, key, "20/minute")` — fails open when Redis is unreachable."""

    def __init__(self, redis_url: str) -> None:
        self._storage = RedisStorage(redis_url, implementation="redispy", key_prefix="sb:rl")
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)

    async def allow(self, bucket: str, key: str, rate: str) -> bool:
        try:
            return bool(await self._limiter.hit(_item(rate), bucket, key))
        except Exception as exc:  # a rate limiter must never take the service down
            logger.warning("rate limiter unavailable ({}); allowing", exc)
            return True
