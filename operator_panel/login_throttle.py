"""Login throttling that slows the guesser down, never the account's owner.

Every attempt is counted *before* its password is checked, so fifty guesses sent at once
cannot all slip under a limit while the first ones are still being verified.

- Per (e-mail, address): the first `FREE_FAILURES` consecutive failures cost nothing; after
  that each attempt must take a gate held for a growing delay (5 s, 10 s, 20 s, … up to
  15 min). Attempts that find the gate closed get 429 with `Retry-After` and make the next
  delay longer. A successful login clears the pair. Someone guessing from one address is
  slowed to a crawl while the owner, signing in from anywhere else, is not affected.
- Per e-mail, from addresses that never signed in to it: a budget of
  `UNKNOWN_ADDRESS_FAILURES` failures an hour, so many addresses together cannot guess fast
  either. An address that signed in successfully is remembered for 90 days and never meets
  this budget: the owner is not locked out by a botnet guessing their password.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

FREE_FAILURES = 5
FIRST_DELAY_S = 5.0
MAX_DELAY_S = 15 * 60.0
PAIR_WINDOW_S = 60 * 60  # consecutive failures of a pair are forgotten after an idle hour
UNKNOWN_ADDRESS_FAILURES = 50
EMAIL_WINDOW_S = 60 * 60
KNOWN_ADDRESS_TTL_S = 90 * 24 * 3600
_PREFIX = "sb:login:"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an attempt may check its password; else how long to wait."""

    allowed: bool
    retry_after_s: int = 0
    # Set when this attempt was counted against the e-mail's unknown-address budget.
    counted_for_email: bool = False


def _digest(email: str) -> str:
    # E-mail addresses are personal data: Redis keys carry a hash of them.
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def delay_after(failures: int) -> float:
    """The wait imposed before the attempt that follows `failures` consecutive failures."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(FIRST_DELAY_S * 2.0 ** (failures - FREE_FAILURES), MAX_DELAY_S)


class LoginThrottle:
    """Counts login attempts in Redis, shared by every process. Fails open on a Redis outage
    (the per-address rate limit and argon2's cost still apply)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def _keys(self, email: str, client: str) -> tuple[str, str, str, str]:
        h = _digest(email)
        return (
            f"{_PREFIX}pair:{h}:{client}",
            f"{_PREFIX}gate:{h}:{client}",
            f"{_PREFIX}email:{h}",
            f"{_PREFIX}known:{h}:{client}",
        )

    async def begin(self, email: str, client: str) -> Verdict:
        """Count one attempt before its password is checked."""
        pair, gate, per_email, known = self._keys(email, client)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(pair)
                pipe.expire(pair, PAIR_WINDOW_S)
                pipe.exists(known)
                attempt, _, is_known = await pipe.execute()
            previous_failures = int(attempt) - 1
            if previous_failures >= FREE_FAILURES:
                wait = delay_after(previous_failures)
                # One attempt per delay: SET NX lets exactly one of a parallel burst through.
                if not await self._redis.set(gate, b"1", nx=True, px=int(wait * 1000)):
                    left_ms = await self._redis.pttl(gate)
                    return Verdict(False, max(1, math.ceil(max(left_ms, 0) / 1000)))
            if is_known:
                return Verdict(True)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(per_email, 0, ex=EMAIL_WINDOW_S, nx=True)  # the window starts here
                pipe.incr(per_email)
                pipe.ttl(per_email)
                _, spent, ttl = await pipe.execute()
            if int(spent) > UNKNOWN_ADDRESS_FAILURES:
                await self._redis.decr(per_email)
                return Verdict(False, max(1, int(ttl)))
            return Verdict(True, counted_for_email=True)
        except RedisError as exc:
            logger.warning("login throttle unavailable ({}); allowing", exc)
            return Verdict(True)

    async def succeeded(self, email: str, client: str, verdict: Verdict) -> None:
        """The password was right: clear the pair, remember the address, refund the budget."""
        pair, gate, per_email, known = self._keys(email, client)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(pair, gate)
                pipe.set(known, b"1", ex=KNOWN_ADDRESS_TTL_S)
                if verdict.counted_for_email:
                    pipe.decr(per_email)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("login throttle unavailable ({})", exc)
