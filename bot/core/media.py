"""Media: inbound files fetched once and kept, operators' uploads, signed links, erasure.

A channel knows how to download a file (aiogram's getFile, Twilio's authenticated media
URL); the core decides whether to (the limits), keeps it once per `(channel, unique id)`
(Telegram's `file_unique_id`, Twilio's media SID: a redelivered webhook or the same photo
sent twice downloads nothing again) and records it as a `MediaFile`. Whatever goes wrong
with a file, the message is stored: the attachment then says why it is a placeholder.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from beanie import PydanticObjectId
from loguru import logger
from pymongo.errors import DuplicateKeyError

from bot.core.documents import MediaFile
from bot.core.media_store import LocalMediaStore, MediaStore
from bot.core.types import MediaDownload, MediaTooLarge, StoredMedia
from config import Settings, with_installation_secrets

UPLOAD_CHANNEL = "upload"
DEFAULT_MIME = "application/octet-stream"


def media_store(settings: Settings) -> MediaStore:
    """The store `MEDIA_DIR` (or `DATA_DIR/media`) names."""
    return LocalMediaStore(settings.media_root)


def media_key(channel: str, unique_id: str) -> str:
    """The storage key of a file: a digest, the same in every process for the same file."""
    return hashlib.sha256(f"{channel}\0{unique_id}".encode()).hexdigest()[:40]


def _mime(value: str | None) -> str | None:
    return value.split(";")[0].strip().lower() or None if value else None


async def store_inbound(
    settings: Settings,
    *,
    channel: str,
    unique_id: str,
    owner: str,
    mime_type: str | None,
    name: str | None,
    declared_size: int | None,
    download: MediaDownload,
) -> StoredMedia:
    """Fetch and keep one inbound file once; a placeholder when the limits or the fetch say no."""
    found = await MediaFile.find_one({"channel": channel, "unique_id": unique_id})
    if found is not None:
        return StoredMedia(str(found.id), size=found.size, mime_type=found.mime_type)
    declared = _mime(mime_type)
    if not settings.media_fetch:
        return StoredMedia(None, size=declared_size, mime_type=declared, problem="off")
    limit = settings.media_max_bytes
    if declared_size is not None and declared_size > limit:
        return StoredMedia(None, size=declared_size, mime_type=declared, problem="too_large")
    if declared is not None and not settings.media_type_allowed(declared):
        return StoredMedia(None, size=declared_size, mime_type=declared, problem="type_not_allowed")
    try:
        fetched = await download(limit)
    except MediaTooLarge:
        return StoredMedia(None, size=declared_size, mime_type=declared, problem="too_large")
    except Exception as exc:  # a provider's 404, a network error: the message goes on
        # Only the error's kind and status: its text may hold a URL with the bot token.
        status = getattr(exc, "status", None)
        logger.warning("{} media not fetched: {} {}", channel, type(exc).__name__, status or "")
        return StoredMedia(None, size=declared_size, mime_type=declared, problem="unavailable")
    data = fetched.data
    if len(data) > limit:
        return StoredMedia(None, size=len(data), mime_type=declared, problem="too_large")
    mime = declared or _mime(fetched.mime_type) or DEFAULT_MIME
    if not settings.media_type_allowed(mime):
        return StoredMedia(None, size=len(data), mime_type=mime, problem="type_not_allowed")
    key = media_key(channel, unique_id)
    await media_store(settings).put(key, data)
    record = MediaFile(
        channel=channel,
        unique_id=unique_id,
        owner=owner,
        key=key,
        mime_type=mime,
        size=len(data),
        name=name,
    )
    try:
        await record.insert()
    except DuplicateKeyError:
        # Another consumer stored the same file meanwhile (same key, same bytes): use its.
        other = await MediaFile.find_one({"channel": channel, "unique_id": unique_id})
        if other is not None:
            return StoredMedia(str(other.id), size=other.size, mime_type=other.mime_type)
        raise
    return StoredMedia(str(record.id), size=record.size, mime_type=mime)


async def store_upload(
    settings: Settings,
    *,
    conversation_id: PydanticObjectId,
    data: bytes,
    mime_type: str,
    name: str | None,
) -> MediaFile:
    """Keep a file an operator attached to a conversation (limits checked by the caller)."""
    unique_id = secrets.token_hex(16)
    key = media_key(UPLOAD_CHANNEL, unique_id)
    await media_store(settings).put(key, data)
    record = MediaFile(
        channel=UPLOAD_CHANNEL,
        unique_id=unique_id,
        conversation_id=conversation_id,
        key=key,
        mime_type=_mime(mime_type) or DEFAULT_MIME,
        size=len(data),
        name=name,
    )
    await record.insert()
    return record


async def find_media(media_id: str) -> MediaFile | None:
    """The record of a stored file, None for an unknown or malformed id."""
    try:
        oid = PydanticObjectId(media_id)
    except Exception:
        return None
    return await MediaFile.get(oid)


async def read_media(settings: Settings, media_id: str) -> tuple[MediaFile, bytes] | None:
    """A stored file's record and bytes; None when unknown or its bytes are gone."""
    record = await find_media(media_id)
    if record is None:
        return None
    data = await media_store(settings).get(record.key)
    return None if data is None else (record, data)


async def erase_media(settings: Settings, records: list[MediaFile]) -> int:
    """Delete these files' bytes and records; the number of records deleted."""
    store = media_store(settings)
    deleted = 0
    for record in records:
        await store.delete(record.key)
        await record.delete()
        deleted += 1
    return deleted


# --- signed links ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaLink:
    url: str
    expires: int


def _signature(settings: Settings, media_id: str, expires: int) -> str:
    secret = with_installation_secrets(settings).jwt_secret
    assert secret is not None
    # A key of its own, derived from the installation secret: a media link is no session.
    key = hashlib.sha256(b"switchboard-media-link\0" + secret.get_secret_value().encode())
    message = f"{media_id}.{expires}".encode()
    return hmac.new(key.digest(), message, hashlib.sha256).hexdigest()[:32]


def signed_link(
    settings: Settings, media_id: str, *, now: float | None = None, ttl_s: int | None = None
) -> MediaLink:
    """`PUBLIC_BASE_URL/media/{id}?exp=&sig=`, valid for `ttl_s` (MEDIA_URL_TTL_S)."""
    ttl = ttl_s if ttl_s is not None else settings.media_url_ttl_s
    expires = int((now if now is not None else time.time()) + ttl)
    sig = _signature(settings, media_id, expires)
    base = settings.public_base_url.rstrip("/")
    return MediaLink(f"{base}/media/{media_id}?exp={expires}&sig={sig}", expires)


def link_valid(
    settings: Settings, media_id: str, exp: int, sig: str, *, now: float | None = None
) -> bool:
    """True for an unexpired link this installation signed."""
    if exp < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(_signature(settings, media_id, exp), sig)
