"""Translation end to end on Telegram (issue #25, item 2): the app's own settings name the
chat model (the fake OpenAI server, through the real langchain-openai client); a German
customer's message is shown to the operator in English, and the operator's English reply
reaches the customer through the Bot API in German, the original kept for operators."""

from __future__ import annotations

from typing import Any

import pytest

from bot.answers.pii import redact_pii
from bot.answers.replies import NoModel
from bot.core.documents import Conversation, Message
from bot.core.operators import create_operator
from bot.core.types import Author, Mode
from config import Settings
from tests.fakes.openai_server import FakeOpenAI, TextReply, last_user_text
from tests.fakes.telegram_api import FakeTelegram
from tests.panel.conftest import sign_in
from tests.support import eventually, live_app, with_model
from tests.test_telegram import TOKEN, message, post, telegram_settings, update

pytestmark = pytest.mark.timeout(60)

CHAT = 70_001
QUESTION = "Wo ist meine Bestellung? Rufen Sie mich an: +49 30 1234567"
REPLY = "It ships today, we will call +49 30 1234567 when it leaves"
GERMAN_REPLY = "Sie wird heute versendet, wir rufen +49 30 1234567 an, wenn sie losgeht"
ENGLISH_QUESTION = "Where is my order? Call me: +49 30 1234567"
# The fake model's answers, keyed by the masked text it must be given.
TRANSLATIONS = {
    redact_pii(QUESTION): redact_pii(ENGLISH_QUESTION),
    redact_pii(REPLY): redact_pii(GERMAN_REPLY),
}


def translate(body: dict[str, Any]) -> TextReply:
    text = last_user_text(body)
    return TextReply(TRANSLATIONS.get(text, f"unexpected: {text}"))


async def test_a_german_customer_reads_the_operators_reply_in_german(settings: Settings) -> None:
    assert "[PHONE]" in redact_pii(QUESTION)
    with FakeOpenAI(default=translate) as model:
        async with FakeTelegram(TOKEN) as telegram:
            configured = with_model(telegram_settings(settings, telegram), model)
            async with live_app(configured, replier=NoModel()) as app:
                await create_operator(email="tr@example.com", password="translator-pass-1")
                operator = await sign_in(app, "tr@example.com", "translator-pass-1")
                try:
                    update_body = update(
                        message=message(CHAT, 1, QUESTION, first="Jonas", lang="de")
                    )
                    assert (await post(app, update_body)).status_code == 200

                    async def handed_over() -> bool:
                        found = await Conversation.find_one({"channel": "telegram"})
                        return found is not None and found.mode is Mode.WAITING_OPERATOR

                    await eventually(handed_over)
                    question = await Message.find_one(
                        {"channel": "telegram", "author": Author.CUSTOMER.value}
                    )
                    assert question is not None
                    state = (await operator.client.get("/api/translation")).json()
                    assert state["available"] is True
                    shown = await operator.post(
                        f"/api/messages/{question.id}/translation", {"language": "en"}
                    )
                    assert shown.status_code == 200, shown.text
                    assert shown.json()["text"] == ENGLISH_QUESTION
                    assert shown.json()["source"] == "de"

                    sent = await operator.post(
                        f"/api/conversations/{question.conversation_id}/translated-reply",
                        {"text": REPLY, "language": "en"},
                    )
                    assert sent.status_code == 200, sent.text
                    assert sent.json()["translation"]["status"] == "translated"

                    async def delivered() -> bool:
                        return GERMAN_REPLY in telegram.sent_to(CHAT)

                    await eventually(delivered)
                    assert all(REPLY not in text for text in telegram.sent_to(CHAT))
                    # The customer's phone number never reached the model.
                    assert "1234567" not in str(model.requests)
                    items = (
                        await operator.client.get(
                            f"/api/conversations/{question.conversation_id}/messages"
                        )
                    ).json()["items"]
                    [reply] = [m for m in items if m["author"] == "operator"]
                    assert reply["text"] == GERMAN_REPLY
                    assert reply["translation"] == {"original": REPLY, "from": "en", "to": "de"}
                finally:
                    await operator.client.aclose()
