"""The MongoDB connection: PyMongo's async client and Beanie, for both profiles.

Queries on several fields are written as one filter document (`{"a": 1, "b": 2}`), not as
several Beanie expressions: Beanie joins those with `$and`, which MongoDB plans like the
plain form but SecantusDB (the embedded server) answers with a collection scan. For the same
reason writes are plain updates, never find-and-modify: SecantusDB writes a find-and-modify's
document back through an `_id` + `$and` filter, a scan of the whole collection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient

from bot.core.documents import DOCUMENT_MODELS


async def connect_db(uri: str, db_name: str) -> AsyncMongoClient[dict[str, object]]:
    """Open the client, initialise Beanie and create the declared indexes."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=10_000, uuidRepresentation="standard"
    )
    await init_beanie(database=client[db_name], document_models=DOCUMENT_MODELS)
    return client


async def set_fields(document: Document, fields: Mapping[Any, Any]) -> None:
    """Store these fields (names may be dotted, `meta.template`) and set them on `document`.

    What Beanie's `document.set()` does, as a plain update: `set()` is a find-and-modify, so
    on the embedded database a message's delivery status cost a scan of every message.
    """
    await type(document).find_one({"_id": document.id}).update({"$set": dict(fields)})
    for key, value in fields.items():
        head, *path = str(key).split(".")
        if not path:
            setattr(document, head, value)
            continue
        target = getattr(document, head)
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
