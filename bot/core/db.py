"""The MongoDB connection: PyMongo's async client and Beanie, for both profiles.

Queries on several fields are written as one filter document (`{"a": 1, "b": 2}`), not as
several Beanie expressions: Beanie joins those with `$and`, which MongoDB plans like the
plain form but SecantusDB (the embedded server) answers with a collection scan.
"""

from __future__ import annotations

from beanie import init_beanie
from pymongo import AsyncMongoClient

from bot.core.documents import DOCUMENT_MODELS


async def connect_db(uri: str, db_name: str) -> AsyncMongoClient[dict[str, object]]:
    """Open the client, initialise Beanie and create the declared indexes."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=10_000, uuidRepresentation="standard"
    )
    await init_beanie(database=client[db_name], document_models=DOCUMENT_MODELS)
    return client
