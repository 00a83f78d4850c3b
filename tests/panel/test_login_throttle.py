"""Login throttling slows down whoever guesses, not the operator whose account it is.

Addresses are given the way a reverse proxy gives them (`X-Forwarded-For`, trusted from
127.0.0.1 by uvicorn's default), so one test can be an attacker and the owner at once.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.panel.conftest import ADMIN, OPERATOR
from tests.support import LiveApp

pytestmark = pytest.mark.timeout(120)

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


async def login(
    client: httpx.AsyncClient, address: str, email: str, password: str
) -> httpx.Response:
    return await client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": address},
    )


async def test_the_owner_signs_in_from_elsewhere_after_an_attacker_failed_five_times(
    app: LiveApp,
) -> None:
    async with app.client() as client:
        for _ in range(5):
            assert (await login(client, ATTACKER, ADMIN[0], "guess-guess")).status_code == 401
        owner = await login(client, OWNER, ADMIN[0], ADMIN[1])
        assert owner.status_code == 200, owner.text


async def test_the_guesser_meets_growing_delays_with_retry_after(app: LiveApp) -> None:
    async with app.client() as client:
        codes = [
            (await login(client, ATTACKER, OPERATOR[0], "guess-guess")).status_code
            for _ in range(6)
        ]
        assert codes == [401] * 6  # five free failures, then one attempt per delay
        first = await login(client, ATTACKER, OPERATOR[0], "guess-guess")
        assert first.status_code == 429
        assert int(first.headers["Retry-After"]) >= 1
        # Even the right password waits, from the guessing address (it cannot tell them apart).
        right = await login(client, ATTACKER, OPERATOR[0], OPERATOR[1])
        assert right.status_code == 429
        # Hammering makes the wait longer, never shorter.
        later = await login(client, ATTACKER, OPERATOR[0], "guess-guess")
        assert int(later.headers["Retry-After"]) >= int(first.headers["Retry-After"]) - 1
        # Meanwhile the owner is not affected at all.
        assert (await login(client, OWNER, OPERATOR[0], OPERATOR[1])).status_code == 200


async def test_parallel_guesses_cannot_slip_past_the_limit(app: LiveApp) -> None:
    async with app.client() as client:
        responses = await asyncio.gather(
            *(login(client, ATTACKER, ADMIN[0], f"guess-{i:03d}") for i in range(50))
        )
    codes = [r.status_code for r in responses]
    assert set(codes) <= {401, 429}
    # Every attempt was counted before its password was checked: at most the five free
    # failures and the one attempt the first delay lets through were ever verified.
    assert codes.count(401) <= 6, codes
    assert codes.count(429) >= 44
