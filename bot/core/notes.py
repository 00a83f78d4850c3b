"""Private notes: what operators write to each other about a conversation, never sent.

Notes live in their own collection, outside the conversation's message sequence, so
nothing that reads messages (the widget's history and frames, the model's context, the
outbox, search) can meet one. They are announced on a topic that is no conversation's:
only panel sockets (which subscribe to every conversation) hear it; a widget socket, which
subscribes to its own conversation, never does. A note shown as a `MessageView` carries
`private=True`, and every channel adapter refuses to send such a message (channels/base.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from beanie import PydanticObjectId

from bot.core.documents import Conversation, Note, Operator
from bot.core.types import ConversationEvent

if TYPE_CHECKING:
    from bot.core.runtime import Core

NOTE_CREATED = "note.created"
NOTES_TOPIC = "operator-notes"
MAX_NOTE = 4096
MAX_NOTES = 500


async def add_note(
    *, core: Core, conversation: Conversation, operator: Operator, text: str
) -> Note:
    """Store a note and tell every open panel; nothing reaches the customer."""
    assert conversation.id is not None
    fresh = await Conversation.get(conversation.id)
    note = Note(
        conversation_id=conversation.id,
        operator_id=operator.id,
        operator_name=operator.display_name or operator.email,
        text=text,
        after_seq=(fresh or conversation).last_seq,
    )
    await note.insert()
    await core.bus.publish(
        ConversationEvent(
            type=NOTE_CREATED,
            conversation_id=NOTES_TOPIC,
            data={"note": note_frame(note)},
        )
    )
    return note


def note_frame(note: Note) -> dict[str, object]:
    """The note as the panel's API and socket show it."""
    return {
        **note.view().model_dump(mode="json"),
        "kind": "note",
        "operator_name": note.operator_name,
    }


async def list_notes(conversation_id: PydanticObjectId) -> list[Note]:
    """A conversation's notes, oldest first."""
    return (
        await Note.find(Note.conversation_id == conversation_id)
        .sort("+created_at")
        .limit(MAX_NOTES)
        .to_list()
    )
