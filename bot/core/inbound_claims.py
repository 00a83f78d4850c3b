"""Claims on inbound message ids: of concurrent deliveries of one message, one stores it.

The unique index on (channel, external_id) already keeps a message from being stored twice,
but only at the insert, after the conversation's counters (`last_seq`, `last_customer_seq`,
unread) were bumped for every copy. A claim taken before anything else is touched makes the
other copies wait for the one that stores it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from bot.core.documents import Message, utcnow

COLLECTION = "inbound_claims"
# A claim this old without its message belongs to a delivery that died before storing.
STALE_CLAIM = timedelta(seconds=10)
# How long a concurrent copy waits for the claim holder's message to appear.
WAIT_FOR_HOLDER_S = 3.0


class InboundBusy(RuntimeError):
    """Another delivery of this message holds its claim and has not stored it yet.

    The channel should answer as it does when storage is down, so the message comes again.
    """


def _key(channel: str, external_id: str) -> str:
    return f"{channel}\x00{external_id}"


def _claims() -> AsyncCollection[dict[str, Any]]:
    return Message.get_pymongo_collection().database[COLLECTION]


async def _stored(channel: str, external_id: str) -> Message | None:
    return await Message.find_one({"channel": channel, "external_id": external_id})


async def claim(channel: str, external_id: str) -> Message | None:
    """Take the claim of an inbound message; returns None when it is ours to store.

    Otherwise returns the message as stored by the delivery that holds the claim, waiting a
    little for a concurrent one to finish. Raises `InboundBusy` when the holder is still at
    it after that; a holder that died long ago loses its claim to this delivery.
    """
    key = _key(channel, external_id)
    claims = _claims()
    try:
        await claims.insert_one({"_id": key, "at": utcnow()})
        return None
    except DuplicateKeyError:
        pass
    deadline = asyncio.get_running_loop().time() + WAIT_FOR_HOLDER_S
    delay = 0.005
    while True:
        known = await _stored(channel, external_id)
        if known is not None:
            return known
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
    now = utcnow()
    taken = await claims.find_one_and_update(
        {"_id": key, "at": {"$lt": now - STALE_CLAIM}}, {"$set": {"at": now}}
    )
    if taken is not None:
        # The message may have been stored just before the claim was taken over.
        return await _stored(channel, external_id)
    raise InboundBusy(f"message {external_id!r} on {channel} is being stored by another delivery")


async def release(channel: str, external_id: str) -> None:
    """Give the claim back after a failed store, so a redelivery can store it at once.

    Kept when the message was stored after all (a later step failed): the claim is what
    tells a redelivery it is a copy.
    """
    with contextlib.suppress(PyMongoError):
        if await _stored(channel, external_id) is None:
            await _claims().delete_one({"_id": _key(channel, external_id)})


async def forget(deliveries: list[tuple[str, str]]) -> int:
    """Drop the claims of these (channel, external id) pairs, e.g. of erased messages.

    A claim's key names the message on its channel (a Telegram chat id is part of it), so an
    erasure must not leave it behind.
    """
    if not deliveries:
        return 0
    keys = [_key(channel, external_id) for channel, external_id in deliveries]
    result = await _claims().delete_many({"_id": {"$in": keys}})
    return int(result.deleted_count)
