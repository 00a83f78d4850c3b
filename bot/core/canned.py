"""Canned replies: saved answers with a shortcut, filled in for one conversation.

Admins manage them; operators insert one by typing `/shortcut` in the reply box. The text
may hold `{customer_name}` and `{operator_name}`; any other brace is left as written.
"""

from __future__ import annotations

import re
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from bot.core.documents import CannedReply, Contact, Conversation, Operator, utcnow

SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_TEXT = 4096
MAX_CANNED = 500
VARIABLES = ("customer_name", "operator_name")
_VARIABLE = re.compile(r"\{(" + "|".join(VARIABLES) + r")\}")


class ShortcutTaken(ValueError):
    """Another canned reply has this shortcut."""


def normalize_shortcut(shortcut: str) -> str:
    """The stored form of a shortcut: no leading slash, lower case; ValueError if invalid."""
    value = shortcut.strip().lstrip("/").lower()
    if not SHORTCUT.match(value):
        raise ValueError("a shortcut is 1-32 letters, digits, '-' or '_'")
    return value


def fill(text: str, values: dict[str, str]) -> str:
    """The text with its known variables replaced (an unknown value leaves a plain word)."""
    return _VARIABLE.sub(lambda m: values.get(m.group(1), ""), text)


async def list_canned() -> list[CannedReply]:
    return await CannedReply.find_all().sort("+shortcut").limit(MAX_CANNED).to_list()


async def variables_for(conversation: Conversation, operator: Operator) -> dict[str, str]:
    """What the variables stand for in this conversation, for this operator."""
    contact = await Contact.get(conversation.contact_id)
    customer = (contact.display_name if contact else None) or "there"
    return {
        "customer_name": customer,
        "operator_name": operator.display_name or operator.email.split("@")[0],
    }


async def create_canned(*, shortcut: str, text: str) -> CannedReply:
    reply = CannedReply(shortcut=normalize_shortcut(shortcut), text=text)
    try:
        await reply.insert()
    except DuplicateKeyError:
        raise ShortcutTaken(f"/{reply.shortcut} exists already") from None
    return reply


def _oid(reply_id: str) -> PydanticObjectId | None:
    return PydanticObjectId(reply_id) if PydanticObjectId.is_valid(reply_id) else None


async def update_canned(*, reply_id: str, changes: dict[str, Any]) -> CannedReply | None:
    """Change the shortcut and/or text; None if there is no such reply."""
    oid = _oid(reply_id)
    reply = await CannedReply.get(oid) if oid is not None else None
    if reply is None:
        return None
    fields: dict[str, Any] = {"updated_at": utcnow()}
    if changes.get("shortcut") is not None:
        fields["shortcut"] = normalize_shortcut(changes["shortcut"])
    if changes.get("text") is not None:
        fields["text"] = changes["text"]
    try:
        await reply.set(fields)
    except DuplicateKeyError:
        raise ShortcutTaken(f"/{fields['shortcut']} exists already") from None
    return reply


async def delete_canned(*, reply_id: str) -> bool:
    oid = _oid(reply_id)
    reply = await CannedReply.get(oid) if oid is not None else None
    if reply is None:
        return False
    await reply.delete()
    return True
