"""Beanie documents: the one conversation model every channel shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from bot.core.attachment_text import text_with_media
from bot.core.types import Attachment, Author, DeliveryStatus, MessageView, Mode, Source


def utcnow() -> datetime:
    """Now in UTC at MongoDB's millisecond precision, so a stored time reads back unchanged."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Contact(Document):
    """A customer as one channel knows them; unique per (channel, external user id)."""

    channel: str
    external_user_id: str
    display_name: str | None = None
    language: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    blocked: bool = False
    # Contacts an operator linked as one customer across channels share this id
    # (bot.core.linked_contacts); each keeps its own identity.
    person_id: PydanticObjectId | None = None

    class Settings:
        name = "contacts"
        indexes = [
            IndexModel(
                [("channel", ASCENDING), ("external_user_id", ASCENDING)],
                unique=True,
                name="channel_user_unique",
            ),
            IndexModel([("person_id", ASCENDING)], name="person", sparse=True),
        ]


class ModeChange(Document):
    """One transition of a conversation's mode: who, when, from what to what."""

    conversation_id: PydanticObjectId
    seq: int
    from_mode: Mode
    to_mode: Mode
    actor: str  # "customer", "ai", "system" or "operator:<id>"
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "mode_changes"
        indexes = [IndexModel([("conversation_id", ASCENDING), ("seq", ASCENDING)])]


class Conversation(Document):
    """One chat with one contact on one channel."""

    channel: str
    external_chat_id: str
    contact_id: PydanticObjectId
    mode: Mode = Mode.AI
    # Bumped by every mode change: the AI's messages are fenced on it (bot.core.fencing).
    mode_version: int = 0
    assignee_id: PydanticObjectId | None = None
    # Messages and mode changes share this sequence; the counter is bumped atomically.
    last_seq: int = 0
    # Highest customer seq an AI reply (or a hand-off) has answered; older jobs are no-ops.
    answered_seq: int = 0
    last_customer_seq: int = 0
    unread_operator: int = 0
    # Older turns folded out of the model's history budget, and the last seq they cover.
    summary: str | None = None
    summary_seq: int = 0
    last_message_at: datetime = Field(default_factory=utcnow)
    last_customer_message_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    # Customer satisfaction (bot.core.csat): asked once after a close, rated at most once.
    csat_requested_at: datetime | None = None
    csat: dict[str, Any] | None = None

    class Settings:
        name = "conversations"
        indexes = [
            IndexModel(
                [("channel", ASCENDING), ("external_chat_id", ASCENDING)],
                unique=True,
                name="channel_chat_unique",
            ),
            IndexModel([("last_message_at", DESCENDING)]),
            IndexModel([("mode", ASCENDING), ("last_message_at", DESCENDING)]),
            # The reply worker's sweep: AI chats with a recent customer message.
            IndexModel([("mode", ASCENDING), ("last_customer_message_at", DESCENDING)]),
            # Every compare-and-set on a conversation (a message's seq, a mode change) pins
            # `_id` and PINNED_FIELDS (bot.core.conversations): the embedded SecantusDB uses
            # an index only when it holds every field of the filter (MongoDB would take `_id`
            # alone), and scans every chat otherwise.
            IndexModel(
                [
                    ("_id", ASCENDING),
                    ("last_seq", ASCENDING),
                    ("mode", ASCENDING),
                    ("mode_version", ASCENDING),
                    ("assignee_id", ASCENDING),
                ],
                name="id_pinned",
            ),
        ]


class Message(Document):
    """One message of a conversation, in the external contract's shape plus channel ids."""

    conversation_id: PydanticObjectId
    seq: int
    author: Author
    text: str = ""
    channel: str
    # Inbound: the channel's own id (unique per channel, so a redelivery is a no-op).
    # Outbound: an id of ours, so the unique index holds for every message.
    external_id: str
    provider_message_id: str | None = None
    client_id: str | None = None
    operator_id: PydanticObjectId | None = None
    status: DeliveryStatus = DeliveryStatus.RECEIVED
    error: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "messages"
        indexes = [
            IndexModel(
                [("channel", ASCENDING), ("external_id", ASCENDING)],
                unique=True,
                name="channel_external_unique",
            ),
            IndexModel(
                [("conversation_id", ASCENDING), ("seq", DESCENDING)],
                name="conversation_seq",
            ),
            IndexModel([("provider_message_id", ASCENDING)], name="provider_id", sparse=True),
            # The outbox sweep: messages still pending (few, whatever the collection's size).
            IndexModel([("status", ASCENDING), ("created_at", ASCENDING)], name="status_created"),
            # The outbox: a chat's pending messages, and the claims on one. MongoDB would
            # serve these from the indexes above; the embedded SecantusDB uses an index only
            # when it holds every field of the filter, and scans the collection otherwise.
            IndexModel(
                [("conversation_id", ASCENDING), ("status", ASCENDING)], name="conversation_status"
            ),
            IndexModel(
                [("_id", ASCENDING), ("status", ASCENDING), ("meta.claimed_at", ASCENDING)],
                name="claim_at",
            ),
            IndexModel(
                [("_id", ASCENDING), ("status", ASCENDING), ("meta.claimed_by", ASCENDING)],
                name="claim_by",
            ),
        ]

    def operator_view(self) -> dict[str, Any]:
        """What operators see beyond the customer's view: tool calls, kind, delivery error."""
        return {
            **self.view().model_dump(mode="json"),
            "tool_calls": list(self.meta.get("tool_calls", [])),
            "kind": self.meta.get("kind"),
            "guardrails": list(self.meta.get("guardrails", [])),
            "error": self.error,
            "truncated": self.meta.get("truncated"),
            "feedback": [_feedback_mark(mark) for mark in self.meta.get("feedback", [])],
            # A translated operator reply: {"original", "from", "to"}, or {"error", "to"}.
            "translation": self.meta.get("translation"),
        }

    @property
    def processed_text(self) -> str:
        """The part of the text the assistant reads: all of it unless it was too long, after
        a one-line description of each photo, file or location it carries."""
        text = self.text
        truncated = self.meta.get("truncated")
        if isinstance(truncated, dict) and isinstance(truncated.get("limit"), int):
            text = text[: truncated["limit"]]
        return text_with_media(text, self.attachments) if self.attachments else text

    def view(self) -> MessageView:
        """The message as the API and the frames show it."""
        return MessageView(
            id=str(self.id),
            conversation_id=str(self.conversation_id),
            seq=self.seq,
            author=self.author,
            text=self.text,
            created_at=self.created_at,
            status=self.status,
            client_id=self.client_id,
            sources=self.sources,
            attachments=self.attachments,
            quick_replies=self.meta.get("quick_replies") or [],
        )


def _feedback_mark(mark: dict[str, Any]) -> dict[str, Any]:
    """An operator's mark on an AI answer as the panel shows it (no ids, ISO time)."""
    created = mark.get("created_at")
    return {
        "verdict": mark.get("verdict"),
        "note": mark.get("note", ""),
        "created_at": created.isoformat() if isinstance(created, datetime) else created,
    }


class Operator(Document):
    """A person who answers in the panel."""

    email: str
    password_hash: str
    role: str = "operator"  # "operator" or "admin"
    display_name: str | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    # Translation (bot.answers.translation): the language customers' messages are shown in
    # (None: the panel's browser language) and whether the panel translates at all.
    language: str | None = None
    translate: bool = True

    class Settings:
        name = "operators"
        indexes = [IndexModel([("email", ASCENDING)], unique=True, name="email_unique")]


class PromptBlock(Document):
    """A piece of the system prompt, editable from the panel."""

    name: str
    text: str
    enabled: bool = True
    order: int = 0
    channel: str | None = None  # None: every channel
    language: str | None = None  # None: every language
    # A secret block (internal pricing rules, escalation contacts) must never be quoted to a
    # customer: the output guardrail stops an answer that repeats even a few of its words.
    secret: bool = False
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "prompt_blocks"
        indexes = [IndexModel([("order", ASCENDING)])]


class AuditEntry(Document):
    """One data-rights action (export, erasure, retention purge): who, when, what, how much.

    `subject` is a keyed hash of the contact id, never the id itself: the log proves that an
    erasure happened without keeping what it erased (`bot.core.data_rights.contact_ref`).
    """

    action: str  # "contact.export", "contact.erase" or "retention.purge"
    actor: str  # "cli", "operator:<id>" or "worker"
    subject: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "audit_log"
        indexes = [IndexModel([("created_at", DESCENDING)])]


class Note(Document):
    """One private note of an operator on a conversation (see bot.core.notes): never sent."""

    conversation_id: PydanticObjectId
    operator_id: PydanticObjectId | None = None
    operator_name: str | None = None
    text: str
    # The conversation's last seq when the note was written: where it sits in the chat.
    after_seq: int = 0
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "notes"
        indexes = [IndexModel([("conversation_id", ASCENDING), ("created_at", ASCENDING)])]

    def view(self) -> MessageView:
        """The note in the Message shape, marked private (no channel sends it)."""
        return MessageView(
            id=str(self.id),
            conversation_id=str(self.conversation_id),
            seq=self.after_seq,
            author=Author.OPERATOR,
            text=self.text,
            created_at=self.created_at,
            status=DeliveryStatus.RECEIVED,
            private=True,
        )


class CannedReply(Document):
    """A saved answer operators insert by its shortcut (`/returns`); see bot.core.canned."""

    shortcut: str  # lower case, without the slash
    text: str  # may hold {customer_name} and {operator_name}
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "canned_replies"
        indexes = [IndexModel([("shortcut", ASCENDING)], unique=True, name="shortcut_unique")]


class MediaFile(Document):
    """One stored file: fetched from a channel once (unique per channel and its file id) or
    uploaded by an operator; the bytes live in the media store under `key`."""

    channel: str
    unique_id: str
    # The customer it came from (the contact's external user id) or the conversation it was
    # sent to: erasure finds a contact's files by either.
    owner: str | None = None
    conversation_id: PydanticObjectId | None = None
    key: str
    mime_type: str
    size: int
    name: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "media"
        indexes = [
            IndexModel(
                [("channel", ASCENDING), ("unique_id", ASCENDING)],
                unique=True,
                name="channel_unique_id",
            ),
            IndexModel([("channel", ASCENDING), ("owner", ASCENDING)], name="owner"),
            IndexModel([("conversation_id", ASCENDING)], name="conversation", sparse=True),
        ]


DOCUMENT_MODELS: list[type[Document]] = [
    AuditEntry,
    CannedReply,
    Contact,
    Conversation,
    MediaFile,
    Message,
    ModeChange,
    Note,
    Operator,
    PromptBlock,
]
