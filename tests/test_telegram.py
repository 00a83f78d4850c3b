"""The Telegram channel: the real aiogram client against a fake Bot API over loopback HTTP.

Payloads are written here in the shape Telegram sends (every user has `is_bot`, every chat a
`type`), with made-up ids, names and file ids.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiogram.types import Update
from pydantic import SecretStr

from bot.answers.model_context import ModelContext
from bot.answers.replies import Reply, TokenSink
from bot.core.documents import Contact, Message
from bot.core.types import (
    Author,
    DeliveryStatus,
    InboundMessage,
    InboundResult,
    MessageView,
    OutboundMessage,
)
from channels.telegram import (
    TelegramChannel,
    normalize_callback,
    normalize_message,
    plain_text,
)
from channels.text_parts import split_message, utf16_len
from config import Settings
from tests.fakes.telegram_api import Failure, FakeTelegram, as_json
from tests.long_answers import check_parts, long_answer
from tests.support import LiveApp, eventually, ingested, live_app

TOKEN = "424242:AAF-test-token_for-switchboard"
SECRET = "tg-webhook-secret-9f8e7d6c5b4a"
HEADER = "X-Telegram-Bot-Api-Secret-Token"

_update_ids = itertools.count(500_000_001)
_now = int(time.time())


# --- payloads -----------------------------------------------------------------------------


def user(uid: int, first: str = "Anna", last: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": first}
    if last:
        body["last_name"] = last
    body.setdefault("language_code", "en")
    body.update(extra)
    return body


def private_chat(uid: int, first: str = "Anna", last: str | None = None) -> dict[str, Any]:
    chat: dict[str, Any] = {"id": uid, "first_name": first, "type": "private"}
    if last:
        chat["last_name"] = last
    return chat


def message(
    uid: int,
    message_id: int,
    text: str | None = None,
    *,
    first: str = "Anna",
    last: str | None = None,
    lang: str = "en",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": message_id,
        "from": user(uid, first, last, language_code=lang),
        "chat": private_chat(uid, first, last),
        "date": _now,
    }
    if text is not None:
        body["text"] = text
    body.update(extra)
    return body


def update(**kind: Any) -> dict[str, Any]:
    return {"update_id": next(_update_ids), **kind}


def group_message(uid: int, group_id: int, message_id: int, text: str) -> dict[str, Any]:
    return update(
        message={
            "message_id": message_id,
            "from": user(uid, "Gus"),
            "chat": {"id": group_id, "title": "Support fans", "type": "supergroup"},
            "date": _now,
            "text": text,
        }
    )


def channel_post(channel_id: int, message_id: int, text: str) -> dict[str, Any]:
    chat = {"id": channel_id, "title": "Shop news", "type": "channel"}
    return update(
        channel_post={
            "message_id": message_id,
            "sender_chat": chat,
            "chat": chat,
            "date": _now,
            "text": text,
        }
    )


def kicked(uid: int, *, status: str = "kicked", old: str = "member") -> dict[str, Any]:
    bot_user = {"id": 424242, "is_bot": True, "first_name": "Switchboard", "username": "sb_bot"}

    def member(state: str) -> dict[str, Any]:
        body: dict[str, Any] = {"user": bot_user, "status": state}
        if state == "kicked":
            body["until_date"] = 0
        return body

    return update(
        my_chat_member={
            "chat": private_chat(uid),
            "from": user(uid),
            "date": _now,
            "old_chat_member": member(old),
            "new_chat_member": member(status),
        }
    )


def callback(uid: int, query_id: str, data: str, message_id: int = 77) -> dict[str, Any]:
    return update(
        callback_query={
            "id": query_id,
            "from": user(uid, "Lena"),
            "message": {
                "message_id": message_id,
                "from": {"id": 424242, "is_bot": True, "first_name": "Switchboard"},
                "chat": private_chat(uid, "Lena"),
                "date": _now - 60,
                "text": "Did this answer help?",
                "reply_markup": {
                    "inline_keyboard": [
                        [
                            {"text": "Yes", "callback_data": "helpful:yes"},
                            {"text": "No", "callback_data": "helpful:no"},
                        ]
                    ]
                },
            },
            "chat_instance": "-5512345678901234567",
            "data": data,
        }
    )


def media_payloads(uid: int) -> dict[str, dict[str, Any]]:
    """One private update per kind of content, keyed by a name used in the assertions."""
    m = 300
    return {
        "latin": update(message=message(uid, m + 1, "Hi, where is my order #5521?")),
        "cyrillic": update(
            message=message(uid, m + 2, "Здравствуйте! Где мой заказ? 📦", lang="ru")
        ),
        "entities": update(
            message=message(
                uid,
                m + 3,
                "Please 🙏 read the terms first",
                entities=[
                    {"offset": 0, "length": 6, "type": "bold"},
                    {"offset": 15, "length": 9, "type": "text_link", "url": "https://ex.test/t"},
                ],
            )
        ),
        "start": update(
            message=message(
                uid, m + 4, "/start", entities=[{"offset": 0, "length": 6, "type": "bot_command"}]
            )
        ),
        "forwarded": update(
            message=message(
                uid,
                m + 5,
                "Your parcel is delayed",
                forward_origin={
                    "type": "user",
                    "date": _now - 3600,
                    "sender_user": {"id": 99001, "is_bot": True, "first_name": "Courier"},
                },
                forward_from={"id": 99001, "is_bot": True, "first_name": "Courier"},
                forward_date=_now - 3600,
            )
        ),
        "photo": update(
            message=message(
                uid,
                m + 6,
                caption="Broken on arrival, see https://ex.test/p",
                caption_entities=[{"offset": 24, "length": 16, "type": "url"}],
                photo=[
                    {
                        "file_id": "AgAD-small",
                        "file_unique_id": "s1",
                        "width": 90,
                        "height": 67,
                        "file_size": 1200,
                    },
                    {
                        "file_id": "AgAD-big",
                        "file_unique_id": "b1",
                        "width": 1280,
                        "height": 960,
                        "file_size": 98000,
                    },
                    {
                        "file_id": "AgAD-mid",
                        "file_unique_id": "m1",
                        "width": 320,
                        "height": 240,
                        "file_size": 15000,
                    },
                ],
            )
        ),
        "document": update(
            message=message(
                uid,
                m + 7,
                document={
                    "file_name": "invoice-5521.pdf",
                    "mime_type": "application/pdf",
                    "file_id": "BQAD-doc",
                    "file_unique_id": "d1",
                    "file_size": 20480,
                },
            )
        ),
        "voice": update(
            message=message(
                uid,
                m + 8,
                voice={
                    "duration": 4,
                    "mime_type": "audio/ogg",
                    "file_id": "AwAD-voice",
                    "file_unique_id": "v1",
                    "file_size": 9000,
                },
            )
        ),
        "sticker": update(
            message=message(
                uid,
                m + 9,
                sticker={
                    "width": 512,
                    "height": 512,
                    "emoji": "😢",
                    "set_name": "SadCats",
                    "is_animated": True,
                    "is_video": False,
                    "type": "regular",
                    "file_id": "CAAD-sticker",
                    "file_unique_id": "st1",
                    "file_size": 30000,
                },
            )
        ),
        "location": update(
            message=message(uid, m + 10, location={"latitude": 52.52, "longitude": 13.405})
        ),
        "contact": update(
            message=message(
                uid,
                m + 11,
                contact={"phone_number": "+15557654321", "first_name": "Anna", "user_id": uid},
            )
        ),
    }


# --- pure normalization -------------------------------------------------------------------


def _inbound(payload: dict[str, Any]) -> Any:
    parsed = Update.model_validate(payload)
    if parsed.callback_query is not None:
        return normalize_callback(parsed.callback_query)
    if parsed.edited_message is not None:
        return normalize_message(parsed.edited_message, edited=True)
    assert parsed.message is not None
    return normalize_message(parsed.message)


def test_normalize_every_kind_of_private_message() -> None:
    payloads = media_payloads(7001)
    got = {name: _inbound(p) for name, p in payloads.items()}
    assert got["latin"].text == "Hi, where is my order #5521?"
    assert got["latin"].external_message_id == "7001:301"
    assert got["latin"].external_chat_id == got["latin"].external_user_id == "7001"
    assert got["latin"].display_name == "Anna"
    assert got["cyrillic"].language == "ru"
    assert got["cyrillic"].text == "Здравствуйте! Где мой заказ? 📦"
    # UTF-16 offsets past an emoji; the link's URL kept inline.
    assert got["entities"].text == "Please 🙏 read the terms (https://ex.test/t) first"
    assert got["start"].text == "/start"
    assert got["forwarded"].text == "[forwarded] Your parcel is delayed"
    photo = got["photo"]
    assert photo.text == "Broken on arrival, see https://ex.test/p"
    assert [a.kind for a in photo.attachments] == ["image"]
    assert photo.attachments[0].model_extra["file_id"] == "AgAD-big"
    assert photo.attachments[0].url is None  # a file URL would carry the bot token
    doc = got["document"].attachments[0]
    assert (doc.kind, doc.name, doc.mime_type) == ("file", "invoice-5521.pdf", "application/pdf")
    assert got["document"].text == "[file: invoice-5521.pdf]"
    assert got["voice"].attachments[0].kind == "voice"
    assert got["voice"].attachments[0].model_extra["duration"] == 4
    assert got["sticker"].text == "😢"
    assert got["sticker"].attachments[0].kind == "sticker"
    loc = got["location"].attachments[0]
    assert (loc.kind, loc.model_extra["latitude"], loc.model_extra["longitude"]) == (
        "location",
        52.52,
        13.405,
    )
    contact = got["contact"]
    assert contact.attachments[0].model_extra["phone_number"] == "+15557654321"
    assert "5557654321" not in contact.text  # the phone stays out of the model's text


def test_normalize_edits_callbacks_and_non_private_chats() -> None:
    edited = _inbound(
        update(edited_message=message(7002, 12, "I meant order #5522", edit_date=_now + 30))
    )
    assert edited.external_message_id == f"7002:12:edit:{_now + 30}"
    assert edited.text == "[edited] I meant order #5522"
    pressed = _inbound(callback(7003, "4410001", "helpful:no"))
    # The customer pressed "No": that is their message; the callback data is its payload.
    assert (pressed.text, pressed.external_message_id) == ("No", "7003:cb:4410001")
    assert [(a.kind, a.name, a.payload) for a in pressed.attachments] == [  # type: ignore[attr-defined]
        ("button_reply", "No", "helpful:no")
    ]
    group = Update.model_validate(group_message(7004, -1001234500001, 5, "hello all"))
    assert group.message is not None and normalize_message(group.message) is None
    post = Update.model_validate(channel_post(-1001234500002, 9, "Sale!"))
    assert post.channel_post is not None and normalize_message(post.channel_post) is None


def test_split_text_on_boundaries_and_utf16() -> None:
    paragraph = "word " * 300  # 1500 chars
    text = "\n\n".join(paragraph.strip() for _ in range(4))  # ~6000 chars
    parts = split_message(text, 4096)
    assert len(parts) == 2
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == text
    emoji = "😀" * 3000  # 6000 UTF-16 units, no spaces
    parts = split_message(emoji, 4096)
    assert all(utf16_len(p) <= 4096 for p in parts) and "".join(parts) == emoji
    assert split_message("  short  ", 4096) == ["short"]
    assert plain_text("no links", None) == "no links"


# --- the live app -------------------------------------------------------------------------


class FixedReplies:
    """A `ReplyGenerator` answering with fixed text; can be held until a gate opens."""

    def __init__(self, text: str = "Thanks! An answer from Switchboard.") -> None:
        self.text = text
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return Reply(text=self.text)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


def telegram_settings(settings: Settings, fake: FakeTelegram, *, webhook: bool = True) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_webhook_secret": SecretStr(SECRET) if webhook else None,
            "telegram_api_base": fake.base_url,
        }
    )


async def post(app: LiveApp, payload: Any, *, secret: str | None = SECRET) -> httpx.Response:
    """Post an update; after a 200, wait until what it acknowledged is stored."""
    headers = {HEADER: secret} if secret is not None else {}
    async with app.client() as client:
        if isinstance(payload, bytes | str):
            response = await client.post(
                "/webhooks/telegram",
                content=payload,
                headers=headers | {"content-type": "application/json"},
            )
        else:
            response = await client.post("/webhooks/telegram", json=payload, headers=headers)
    if response.status_code == 200:
        await ingested(app)
    return response


async def customer_messages() -> list[Message]:
    return (
        await Message.find(Message.channel == "telegram", Message.author == Author.CUSTOMER)
        .sort("+created_at")
        .to_list()
    )


async def wait_sent(fake: FakeTelegram, chat_id: int, count: int = 1, timeout: float = 15) -> None:
    async def check() -> bool:
        return len(fake.sent_to(chat_id)) >= count

    await eventually(check, timeout=timeout)


def channel_of(app: LiveApp) -> TelegramChannel:
    output = app.core.outputs["telegram"]
    assert isinstance(output, TelegramChannel)
    return output


async def test_webhook_refuses_bad_secrets_and_bad_bodies(
    settings: Settings, fake: FakeTelegram
) -> None:
    async with live_app(telegram_settings(settings, fake), replier=FixedReplies()) as app:
        good = update(message=message(7101, 1, "hello"))
        missing = await post(app, good, secret=None)
        assert missing.status_code == 401 and "Secret-Token" in missing.json()["detail"]
        wrong = await post(app, good, secret=SECRET + "x")
        assert wrong.status_code == 403
        assert (await post(app, b"{not json")).status_code == 400
        assert (await post(app, b"[1, 2]")).status_code == 400
        # The official docs' example: no `is_bot`, no `chat.type` — aiogram refuses it.
        docs_example = {
            "update_id": 10000,
            "message": {
                "date": 1441645532,
                "chat": {"last_name": "Test", "id": 1111111, "first_name": "Test"},
                "message_id": 1365,
                "from": {"last_name": "Test", "id": 1111111, "first_name": "Test"},
                "text": "/start",
            },
        }
        invalid = await post(app, docs_example)
        assert invalid.status_code == 422 and "Update" in invalid.json()["detail"]
        unknown = await post(app, {"update_id": 1, "new_update_kind": {"some_field": 1}})
        assert unknown.status_code == 200
        assert await customer_messages() == []


async def test_private_texts_stored_once_and_answered_once(
    settings: Settings, fake: FakeTelegram
) -> None:
    replies = FixedReplies("Your order ships tomorrow.")
    async with live_app(telegram_settings(settings, fake), replier=replies) as app:
        latin = update(message=message(7201, 123, "hello there", first="John", last="Doe"))
        cyrillic = update(
            message=message(7202, 123, "Привет, помогите 😂", first="Иван", lang="ru")
        )
        for payload in (latin, cyrillic, latin, cyrillic):  # each redelivered once
            response = await post(app, payload)
            assert response.status_code == 200
        stored = await customer_messages()
        assert sorted(m.external_id for m in stored) == ["7201:123", "7202:123"]
        await wait_sent(fake, 7201)
        await wait_sent(fake, 7202)
        await asyncio.sleep(0.8)  # nothing more comes
        assert fake.sent_to(7201) == ["Your order ships tomorrow."]
        assert fake.sent_to(7202) == ["Your order ships tomorrow."]
        send = fake.calls_to("sendMessage")[0]
        assert "parse_mode" not in send.params  # plain text
        # The customer saw "typing…" before the answer came.
        typing = [c for c in fake.calls_to("sendChatAction") if c.params["chat_id"] == "7201"]
        answer = [c for c in fake.calls_to("sendMessage") if c.params["chat_id"] == "7201"]
        assert typing and typing[0].params["action"] == "typing"
        assert typing[0].at <= answer[0].at
        contact = await Contact.find_one(Contact.external_user_id == "7201")
        assert contact is not None and contact.display_name == "John Doe"
        ai = await Message.find(
            Message.channel == "telegram", Message.author == Author.AI
        ).to_list()
        assert {m.status for m in ai} == {DeliveryStatus.SENT}
        assert all(m.provider_message_id for m in ai)


async def test_every_kind_of_content_is_stored(settings: Settings, fake: FakeTelegram) -> None:
    async with live_app(telegram_settings(settings, fake), replier=FixedReplies()) as app:
        payloads = media_payloads(7301)
        payloads["edited"] = update(
            edited_message=message(7301, 301, "Hi, where is my order #5522?", edit_date=_now + 5)
        )
        payloads["callback"] = update(
            **{k: v for k, v in callback(7301, "9001", "helpful:yes").items() if k != "update_id"}
        )
        for name, payload in payloads.items():
            response = await post(app, payload)
            assert response.status_code == 200, (name, response.text)
        stored = {m.external_id: m for m in await customer_messages()}
        assert len(stored) == len(payloads)
        assert stored["7301:302"].text.startswith("Здравствуйте")
        assert stored[f"7301:301:edit:{_now + 5}"].text == "[edited] Hi, where is my order #5522?"
        assert stored["7301:304"].text == "/start"
        assert stored["7301:306"].attachments[0].kind == "image"
        assert stored["7301:309"].text == "😢"
        assert stored["7301:cb:9001"].text == "Yes"  # the title of the pressed button
        answered = fake.calls_to("answerCallbackQuery")
        assert [c.params["callback_query_id"] for c in answered] == ["9001"]


async def test_groups_channels_and_kicks_never_get_messages(
    settings: Settings, fake: FakeTelegram
) -> None:
    replies = FixedReplies()
    async with live_app(telegram_settings(settings, fake), replier=replies) as app:
        group_id, channel_id, uid = -1009900000001, -1009900000002, 7401
        assert (await post(app, group_message(7402, group_id, 55, "Hello"))).status_code == 200
        assert (await post(app, channel_post(channel_id, 15, "New sale"))).status_code == 200
        assert await customer_messages() == []
        # A message whose answer is being prepared when the user blocks the bot.
        replies.gate = asyncio.Event()
        assert (await post(app, update(message=message(uid, 1, "hi")))).status_code == 200

        async def generating() -> bool:
            return replies.calls >= 1

        await eventually(generating)
        assert (await post(app, kicked(uid))).status_code == 200
        contact = await Contact.find_one(Contact.external_user_id == str(uid))
        assert contact is not None and contact.blocked
        replies.gate.set()

        async def failed() -> bool:
            ai = await Message.find(Message.author == Author.AI).to_list()
            return bool(ai) and ai[0].status is DeliveryStatus.FAILED

        await eventually(failed)
        # The channel itself refuses group and channel ids.
        channel = channel_of(app)
        view = (await customer_messages())[0].view()
        refused = await channel.send(OutboundMessage(message=view, external_chat_id=str(group_id)))
        assert refused.status is DeliveryStatus.FAILED
        targets = {str(c.params.get("chat_id")) for c in fake.calls_to("sendMessage")}
        assert targets.isdisjoint({str(group_id), str(channel_id), str(uid)})
        # Coming back ("member" again) unblocks.
        back = await post(app, kicked(uid, status="member", old="kicked"))
        assert back.status_code == 200
        contact = await Contact.find_one(Contact.external_user_id == str(uid))
        assert contact is not None and not contact.blocked


def _view(text: str) -> MessageView:
    from datetime import UTC, datetime

    return MessageView(
        id="m1",
        conversation_id="c1",
        seq=1,
        author=Author.OPERATOR,
        text=text,
        created_at=datetime.now(UTC),
        status=DeliveryStatus.PENDING,
    )


async def test_a_long_answer_arrives_in_order_cut_where_a_reader_pauses(
    settings: Settings, fake: FakeTelegram
) -> None:
    answer = long_answer(4096)
    # The shop's own site, which the answer links to, is one answers may link to.
    configured = telegram_settings(settings, fake).model_copy(
        update={"allowed_link_domains": "shop.example.com"}
    )
    async with live_app(configured, replier=FixedReplies(answer.text)) as app:
        assert (await post(app, update(message=message(7521, 3, "all details")))).status_code == 200

        async def all_out() -> bool:
            sent = fake.sent_to(7521)
            return bool(sent) and sent[-1].endswith(answer.text[-30:])

        await eventually(all_out, timeout=30)
        await asyncio.sleep(1.5)  # a stray further part would be out by now (1/s per chat)
    # What the real aiogram client put on the wire, in the order the fake received it.
    check_parts(fake.sent_to(7521), answer, 4096)


async def test_long_answer_is_split_and_failures_are_retried(
    settings: Settings, fake: FakeTelegram
) -> None:
    long_text = "\n\n".join(f"Paragraph {i}: " + "details " * 120 for i in range(9))
    assert len(long_text) > 8000
    async with live_app(telegram_settings(settings, fake), replier=FixedReplies(long_text)) as app:
        assert (
            await post(app, update(message=message(7501, 9, "tell me everything")))
        ).status_code == 200
        await wait_sent(fake, 7501, count=3)
        parts = fake.sent_to(7501)
        assert len(parts) == 3 and all(utf16_len(p) <= 4096 for p in parts)
        assert " ".join("\n".join(parts).split()) == " ".join(long_text.split())
        assert parts[1].startswith("Paragraph")  # cut between paragraphs

        channel = channel_of(app)
        fake.fail_next("sendMessage", Failure.rate_limited(1))
        started = time.monotonic()
        result = await channel.send(
            OutboundMessage(message=_view("after a 429"), external_chat_id="7502")
        )
        assert result.status is DeliveryStatus.SENT and result.provider_message_id
        assert time.monotonic() - started >= 0.9  # waited retry_after
        assert [
            c.status for c in fake.calls_to("sendMessage") if c.params["chat_id"] == "7502"
        ] == [429, 200]

        fake.fail_next("sendMessage", Failure.server_error())
        result = await channel.send(
            OutboundMessage(message=_view("after a 500"), external_chat_id="7503")
        )
        assert result.status is DeliveryStatus.SENT
        fake.fail_next("sendMessage", *[Failure.server_error()] * 3)
        result = await channel.send(
            OutboundMessage(message=_view("never"), external_chat_id="7504")
        )
        assert result.status is DeliveryStatus.FAILED
        assert len([c for c in fake.calls_to("sendMessage") if c.params["chat_id"] == "7504"]) == 3

        fake.block(7505)
        await post(app, update(message=message(7505, 1, "hi before blocking")))

        async def answer_failed_as_blocked() -> bool:
            ai = await Message.find(
                Message.author == Author.AI, Message.status == DeliveryStatus.FAILED
            ).to_list()
            return any("blocked" in (m.error or "") for m in ai)

        await eventually(answer_failed_as_blocked)
        contact = await Contact.find_one(Contact.external_user_id == "7505")
        assert contact is not None and contact.blocked

        def typing_to(chat: str) -> list[str]:
            calls = fake.calls_to("sendChatAction")
            return [c.params["action"] for c in calls if c.params["chat_id"] == chat]

        before = typing_to("7501")
        await channel.show_typing("7501")
        assert typing_to("7501") == [*before, "typing"]


async def test_webhook_mode_registers_the_webhook(settings: Settings, fake: FakeTelegram) -> None:
    async with live_app(telegram_settings(settings, fake), replier=FixedReplies()) as app:

        async def registered() -> bool:
            return bool(fake.calls_to("setWebhook"))

        await eventually(registered)
        hook = fake.webhook
        assert hook["url"] == f"{app.base_url}/webhooks/telegram"
        assert hook["secret_token"] == SECRET
        assert "message" in as_json(hook["allowed_updates"])
        assert not fake.calls_to("getUpdates")


async def test_long_polling_receives_and_answers(settings: Settings, fake: FakeTelegram) -> None:
    fake.push_update(update(message=message(7601, 42, "hello from polling")))
    replies = FixedReplies("Polled and answered.")
    async with live_app(telegram_settings(settings, fake, webhook=False), replier=replies) as app:
        await wait_sent(fake, 7601)
        assert fake.sent_to(7601) == ["Polled and answered."]
        methods = [c.method for c in fake.calls]
        assert methods.index("deleteWebhook") < methods.index("getUpdates")
        stored = await customer_messages()
        assert [m.external_id for m in stored] == ["7601:42"]
        # A second update arrives during the long poll.
        fake.push_update(update(message=message(7601, 43, "and one more")))
        await wait_sent(fake, 7601, count=2)
        # Without a secret the webhook is off.
        response = await post(app, update(message=message(7601, 44, "x")))
        assert response.status_code == 403
        started = time.monotonic()
    assert time.monotonic() - started < 10  # shutdown stops the long poll promptly


async def test_long_polling_asks_again_for_an_update_that_failed_to_store(
    settings: Settings, fake: FakeTelegram
) -> None:
    # Storage fails for the first two tries of this update (the database is down).
    fake.push_update(update(message=message(7701, 50, "stored on the third try")))
    replies = FixedReplies("Answered once.")
    async with live_app(telegram_settings(settings, fake, webhook=False), replier=replies) as app:
        channel = channel_of(app)
        real = channel.context.handle_inbound
        tries: list[str] = []

        async def flaky(inbound: InboundMessage) -> InboundResult:
            tries.append(inbound.external_message_id)
            if len(tries) <= 2:
                raise ConnectionError("the database is down")
            return await real(inbound)

        channel.context.handle_inbound = flaky  # type: ignore[method-assign]
        await wait_sent(fake, 7701, timeout=30)
        fake.push_update(update(message=message(7701, 51, "and the next one")))
        await wait_sent(fake, 7701, count=2, timeout=30)
        stored = await customer_messages()
    assert [m.external_id for m in stored] == ["7701:50", "7701:51"]
    assert fake.sent_to(7701) == ["Answered once.", "Answered once."]
    assert tries[:3] == ["7701:50"] * 3
