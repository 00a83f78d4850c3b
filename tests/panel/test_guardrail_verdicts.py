"""Operators see each guardrail verdict (rule, action, score) beside the message."""

from __future__ import annotations

from beanie import PydanticObjectId

from bot.core.conversations import append_message
from bot.core.documents import Conversation
from bot.core.types import Author
from tests.panel.conftest import SignedIn
from tests.panel.helpers import customer_writes
from tests.support import LiveApp

VERDICT = {
    "action": "refuse",
    "rule": "<b>override</b>",
    "score": 1.0,
    "stage": "input",
    "detail": "message: ignore your rules",
}


async def test_verdicts_reach_the_panel_api(app: LiveApp, operator: SignedIn) -> None:
    customer = await customer_writes(app, "Ann", "where is my parcel?")
    conversation = await Conversation.get(PydanticObjectId(customer.conversation_id))
    assert conversation is not None
    await append_message(
        core=app.core,
        conversation=conversation,
        author=Author.AI,
        text="I can help with questions about our products.",
        meta={"kind": "guardrail", "guardrails": [VERDICT]},
    )
    response = await operator.client.get(f"/api/conversations/{customer.conversation_id}/messages")
    answer = next(m for m in response.json()["items"] if m["author"] == "ai")
    assert answer["guardrails"] == [VERDICT]
    assert answer["kind"] == "guardrail"


async def test_an_admin_marks_a_prompt_block_secret(app: LiveApp, admin: SignedIn) -> None:
    created = await admin.post(
        "/api/prompt-blocks", json={"name": "internal", "text": "Staff code 1234", "secret": True}
    )
    assert created.status_code == 201 and created.json()["secret"] is True
    block_id = created.json()["id"]
    updated = await admin.client.put(
        f"/api/prompt-blocks/{block_id}", json={"secret": False}, headers=admin.headers()
    )
    assert updated.status_code == 200 and updated.json()["secret"] is False
    await admin.client.delete(f"/api/prompt-blocks/{block_id}", headers=admin.headers())
