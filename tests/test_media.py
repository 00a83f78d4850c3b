"""Media: files from Telegram and WhatsApp fetched once, kept, described, shown and erased.

The real aiogram and twilio clients fetch from the fake Bot API (getFile, /file/bot…) and
the fake Twilio API (MediaUrl with basic auth) over loopback; the panel's endpoint and its
thumbnail are checked over HTTP and in Chromium.
"""

from __future__ import annotations

import itertools
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect
from pydantic import SecretStr

from bot.answers.replies import NoModel
from bot.core.attachment_text import human_size
from bot.core.data_rights import erase_contact
from bot.core.documents import Contact, MediaFile, Message
from bot.core.media import media_store
from bot.core.operators import create_operator
from config import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio, new_sid, signed_headers
from tests.panel.helpers import sign_in
from tests.support import LiveApp, eventually, ingested, live_app, new_session, widget_socket

TOKEN = "424242:AAF-media-test-token"
SECRET = "tg-media-secret-0123456789"
ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "media-auth-token-0123456789abcdef"
OUR_NUMBER = "whatsapp:+15550009999"
OPERATOR = ("media-op@example.com", "media-password-1")

_ids = itertools.count(700_000_001)
_now = int(time.time())


def png(width: int = 4, height: int = 3) -> bytes:
    """A real (tiny, red) PNG, so a browser can draw the thumbnail."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PHOTO = png(64, 48)
PDF = b"%PDF-1.4\n" + b"x" * 3000 + b"\n%%EOF\n"
VOICE = b"OggS" + b"\x01" * 2000


def tg_update(uid: int, message_id: int, **content: Any) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "message": {
            "message_id": message_id,
            "from": {"id": uid, "is_bot": False, "first_name": "Mia", "language_code": "en"},
            "chat": {"id": uid, "first_name": "Mia", "type": "private"},
            "date": _now,
            **content,
        },
    }


def photo_sizes(big: bytes) -> list[dict[str, Any]]:
    return [
        {"file_id": "ph-small", "file_unique_id": "u-small", "width": 90, "height": 67},
        {
            "file_id": "ph-big",
            "file_unique_id": "u-big",
            "width": 1280,
            "height": 960,
            "file_size": len(big),
        },
    ]


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        server.add_file("ph-big", PHOTO, unique_id="u-big", path="photos/file_1.jpg")
        server.add_file("doc-1", PDF, unique_id="u-doc", path="documents/file_2.pdf")
        server.add_file("voice-1", VOICE, unique_id="u-voice", path="voice/file_3.oga")
        yield server


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as server:
        yield server


def media_settings(settings: Settings, telegram: FakeTelegram, twilio: FakeTwilio) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_webhook_secret": SecretStr(SECRET),
            "telegram_api_base": telegram.base_url,
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_whatsapp_from": OUR_NUMBER,
            "twilio_api_base": twilio.base_url,
        }
    )


@pytest.fixture
async def app(
    settings: Settings, telegram: FakeTelegram, twilio: FakeTwilio
) -> AsyncIterator[LiveApp]:
    async with live_app(media_settings(settings, telegram, twilio), replier=NoModel()) as running:
        await create_operator(email=OPERATOR[0], password=OPERATOR[1])
        yield running


async def post_telegram(app: LiveApp, payload: dict[str, Any]) -> None:
    async with app.client() as client:
        response = await client.post(
            "/webhooks/telegram",
            json=payload,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
    assert response.status_code == 200, response.text
    await ingested(app)


async def post_whatsapp(app: LiveApp, form: dict[str, str]) -> None:
    url = app.base_url + "/webhooks/twilio/whatsapp"
    async with app.client() as client:
        response = await client.post(
            "/webhooks/twilio/whatsapp", data=form, headers=signed_headers(AUTH_TOKEN, url, form)
        )
    assert response.status_code == 200, response.text
    await ingested(app)


def whatsapp_form(number: str, sid: str, body: str = "", **extra: str) -> dict[str, str]:
    return {
        "SmsMessageSid": sid,
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{number}",
        "To": OUR_NUMBER,
        "WaId": number.lstrip("+"),
        "ProfileName": "Ravi",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
        **extra,
    }


async def stored(channel: str, external_id: str) -> Message:
    found = await Message.find_one({"channel": channel, "external_id": external_id})
    assert found is not None, f"no {channel} message {external_id}"
    return found


async def signed_in(app: LiveApp) -> httpx.AsyncClient:
    client = app.client()
    response = await client.post(
        "/api/auth/login", json={"email": OPERATOR[0], "password": OPERATOR[1]}
    )
    assert response.status_code == 200, response.text
    return client


# --- Telegram ---------------------------------------------------------------------------


async def test_telegram_media_is_fetched_once_kept_described_and_served_to_operators(
    app: LiveApp, telegram: FakeTelegram
) -> None:
    uid = 5101
    photo = tg_update(uid, 1, photo=photo_sizes(PHOTO), caption="The box arrived broken")
    document = tg_update(
        uid,
        2,
        document={
            "file_id": "doc-1",
            "file_unique_id": "u-doc",
            "file_name": "receipt.pdf",
            "mime_type": "application/pdf",
            "file_size": len(PDF),
        },
    )
    voice = tg_update(
        uid,
        3,
        voice={
            "file_id": "voice-1",
            "file_unique_id": "u-voice",
            "duration": 7,
            "mime_type": "audio/ogg",
            "file_size": len(VOICE),
        },
    )
    location = tg_update(uid, 4, location={"latitude": 52.52, "longitude": 13.405})
    # The same photo again in a new message (a forward, a resend): nothing is fetched again.
    again = tg_update(uid, 5, photo=photo_sizes(PHOTO))
    for payload in (photo, photo, document, voice, location, again):  # photo: a redelivery
        await post_telegram(app, payload)

    assert sorted(telegram.downloads) == [
        "documents/file_2.pdf",
        "photos/file_1.jpg",
        "voice/file_3.oga",
    ]
    assert [c.params["file_id"] for c in telegram.calls_to("getFile")] == [
        "ph-big",
        "doc-1",
        "voice-1",
    ]
    assert await MediaFile.find({"channel": "telegram"}).count() == 3

    first, resent = await stored("telegram", f"{uid}:1"), await stored("telegram", f"{uid}:5")
    (picture,) = first.attachments
    extra = picture.model_extra or {}
    assert extra["media_id"] == (resent.attachments[0].model_extra or {})["media_id"]
    assert first.text == "The box arrived broken"  # the caption is the text
    # What the agent and the knowledge answer read: a description, then the caption.
    assert first.processed_text == f"[photo: {human_size(len(PHOTO))}]\nThe box arrived broken"
    assert resent.processed_text == f"[photo: {human_size(len(PHOTO))}]"
    pdf = await stored("telegram", f"{uid}:2")
    assert pdf.processed_text == "[file: receipt.pdf, 3 KB]"
    spoken = await stored("telegram", f"{uid}:3")
    assert spoken.processed_text == "[voice message: 7 s, 2 KB]"
    place = await stored("telegram", f"{uid}:4")
    (pin,) = place.attachments
    assert pin.url == "https://www.openstreetmap.org/?mlat=52.52&mlon=13.405"
    assert place.processed_text == "[location: 52.52, 13.405]"

    photo_url = f"/api/media/{extra['media_id']}"
    pdf_url = f"/api/media/{(pdf.attachments[0].model_extra or {})['media_id']}"
    async with app.client() as anonymous:
        assert (await anonymous.get(photo_url)).status_code == 401
    client = await signed_in(app)
    try:
        image = await client.get(photo_url)
        assert image.status_code == 200
        assert image.content == PHOTO
        assert image.headers["content-type"] == "image/jpeg"
        assert image.headers["x-content-type-options"] == "nosniff"
        assert "content-disposition" not in image.headers
        download = await client.get(pdf_url)
        assert download.content == PDF
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''receipt.pdf"
        assert (await client.get("/api/media/0123456789abcdef01234567")).status_code == 404
        assert (await client.get("/api/media/not-an-id")).status_code == 404
        # The chat's messages carry what the panel draws from.
        listed = await client.get(f"/api/conversations/{first.conversation_id}/messages")
        items = {m["seq"]: m for m in listed.json()["items"]}
        assert items[first.seq]["attachments"][0]["media_id"] == extra["media_id"]
    finally:
        await client.aclose()


async def test_a_file_over_the_limit_or_of_a_forbidden_type_is_a_described_placeholder(
    settings: Settings, telegram: FakeTelegram, twilio: FakeTwilio
) -> None:
    limited = media_settings(settings, telegram, twilio).model_copy(
        update={"media_max_bytes": 1000, "media_allowed_types": "image/*,application/pdf"}
    )
    telegram.add_file("exe-1", b"MZ" + b"\x00" * 100, unique_id="u-exe", path="documents/x.exe")
    async with live_app(limited, replier=NoModel()) as app:
        uid = 5202
        big = tg_update(
            uid,
            1,
            document={
                "file_id": "doc-1",
                "file_unique_id": "u-doc",
                "file_name": "receipt.pdf",
                "mime_type": "application/pdf",
                "file_size": len(PDF),
            },
        )
        exe = tg_update(
            uid,
            2,
            document={
                "file_id": "exe-1",
                "file_unique_id": "u-exe",
                "file_name": "setup.exe",
                "mime_type": "application/x-msdownload",
            },
        )
        # Twilio names no size: the download itself is cut at the limit.
        url = twilio.add_media(b"\xff\xd8" + b"\x00" * 5000, "image/jpeg")
        sid = new_sid("MM")
        form = whatsapp_form("+15550102020", sid, NumMedia="1", MediaUrl0=url)
        form["MediaContentType0"] = "image/jpeg"
        await post_telegram(app, big)
        await post_telegram(app, exe)
        await post_whatsapp(app, form)

        assert telegram.downloads == []  # neither was fetched: both refused up front
        too_big = await stored("telegram", f"{uid}:1")
        assert (too_big.attachments[0].model_extra or {})["media_problem"] == "too_large"
        assert too_big.processed_text == "[file: receipt.pdf, 3 KB, not stored: too large]"
        refused = await stored("telegram", f"{uid}:2")
        assert (refused.attachments[0].model_extra or {})["media_problem"] == "type_not_allowed"
        cut = await stored("whatsapp", sid)
        assert (cut.attachments[0].model_extra or {})["media_problem"] == "too_large"
        assert await MediaFile.find_all().count() == 0


# --- WhatsApp ---------------------------------------------------------------------------


async def test_a_whatsapp_image_is_fetched_once_with_basic_auth_even_when_delivered_twice(
    app: LiveApp, twilio: FakeTwilio
) -> None:
    number = "+15550103030"
    url = twilio.add_media(PHOTO, "image/png")
    sid = new_sid("MM")
    form = whatsapp_form(
        number,
        sid,
        "Is this the right part?",
        NumMedia="1",
        MediaUrl0=url,
        MediaContentType0="image/png",
    )
    await post_whatsapp(app, form)
    await post_whatsapp(app, form)  # Twilio retried the webhook
    # Another message naming the same media (a replay with a new SID): still one fetch.
    await post_whatsapp(app, {**form, "MessageSid": new_sid("MM")})

    assert len(twilio.media_fetches) == 1
    message = await stored("whatsapp", sid)
    (image,) = message.attachments
    extra = image.model_extra or {}
    assert (image.kind, image.mime_type, extra["size"]) == ("image", "image/png", len(PHOTO))
    record = await MediaFile.find_one({"channel": "whatsapp"})
    assert record is not None and str(record.id) == extra["media_id"]
    assert await media_store(app.core.settings).get(record.key) == PHOTO
    assert message.processed_text == f"[photo: {human_size(len(PHOTO))}]\nIs this the right part?"


# --- erasure ----------------------------------------------------------------------------


async def test_erasing_a_contact_deletes_their_stored_files(
    app: LiveApp, telegram: FakeTelegram
) -> None:
    uid = 5303
    await post_telegram(app, tg_update(uid, 1, photo=photo_sizes(PHOTO)))
    record = await MediaFile.find_one({"channel": "telegram"})
    assert record is not None
    store = media_store(app.core.settings)
    assert await store.get(record.key) == PHOTO
    contact = await Contact.find_one({"channel": "telegram", "external_user_id": str(uid)})
    assert contact is not None

    erased = await erase_contact(core=app.core, contact_id=str(contact.id), actor="test")

    assert erased.media_files == 1
    assert await store.get(record.key) is None
    assert await MediaFile.find_all().count() == 0


# --- the panel in a browser -------------------------------------------------------------


async def test_the_panel_shows_a_customers_photo_as_a_thumbnail_and_attaches_a_file(
    app: LiveApp, browser: Browser, telegram: FakeTelegram
) -> None:
    await post_telegram(app, tg_update(5404, 1, photo=photo_sizes(PHOTO), caption="My receipt"))
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    try:
        await sign_in(page, app, OPERATOR)
        chat = page.get_by_test_id("chat-item").filter(has_text="Mia")
        await expect(chat).to_be_visible(timeout=10_000)
        await chat.click()
        thumb = page.get_by_test_id("attachment-image")
        await expect(thumb).to_be_visible(timeout=10_000)
        # Drawn from the authenticated endpoint: the image really loaded.
        await page.wait_for_function(
            "() => { const i = document.querySelector('[data-testid=attachment-image]');"
            " return i && i.complete && i.naturalWidth === 64; }",
            timeout=10_000,
        )
        await expect(page.locator('#messages li[data-author="customer"] .text')).to_have_text(
            "My receipt"
        )
        # The operator attaches a PDF: it goes out as a document and shows as a link.
        await page.get_by_test_id("attach-input").set_input_files(
            files=[{"name": "terms.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        link = page.locator('#messages li[data-author="operator"] .attachment-link')
        await expect(link).to_contain_text("terms.pdf", timeout=10_000)

        # The panel shows the stored message; the outbox delivers it right behind.
        async def delivered() -> bool:
            return telegram.uploads == [("sendDocument", "terms.pdf", PDF)]

        await eventually(delivered)
    finally:
        await context.close()


# --- outbound: an operator's attachment -------------------------------------------------


async def upload(
    client: httpx.AsyncClient, csrf: str, conversation_id: str, data: bytes, mime: str, name: str
) -> httpx.Response:
    return await client.post(
        f"/api/uploads/{conversation_id}",
        files={"file": (name, data, mime)},
        data={"text": "Here is the label"},
        headers={"X-CSRF-Token": csrf},
    )


async def signed_in_with_csrf(app: LiveApp) -> tuple[httpx.AsyncClient, str]:
    client = app.client()
    response = await client.post(
        "/api/auth/login", json={"email": OPERATOR[0], "password": OPERATOR[1]}
    )
    assert response.status_code == 200, response.text
    return client, str(response.json()["csrf_token"])


async def test_an_operators_photo_goes_out_on_telegram_and_whatsapp_through_the_outbox(
    app: LiveApp, telegram: FakeTelegram, twilio: FakeTwilio
) -> None:
    from bot.core.media import link_valid

    uid, number = 5505, "+15550105050"
    await post_telegram(app, tg_update(uid, 1, text="Can you send me the label?"))
    await post_whatsapp(app, whatsapp_form(number, new_sid("MM"), "And to me on WhatsApp"))
    tg_chat = (await stored("telegram", f"{uid}:1")).conversation_id
    wa_message = await Message.find_one({"channel": "whatsapp", "author": "customer"})
    assert wa_message is not None
    client, csrf = await signed_in_with_csrf(app)
    try:
        assert (
            await upload(client, "", str(tg_chat), PHOTO, "image/png", "l.png")
        ).status_code == 403
        refused = await upload(
            client, csrf, str(tg_chat), b"MZ", "application/x-msdownload", "x.exe"
        )
        assert refused.status_code == 415
        sent = await upload(client, csrf, str(tg_chat), PHOTO, "image/png", "label.png")
        assert sent.status_code == 201, sent.text
        assert sent.json()["message"]["status"] == "sent", sent.json()["message"]["error"]
        (photo,) = telegram.calls_to("sendPhoto", ok_only=True)
        assert (photo.params["chat_id"], photo.params["caption"]) == (str(uid), "Here is the label")
        assert telegram.uploads == [("sendPhoto", "label.png", PHOTO)]

        out = await upload(
            client, csrf, str(wa_message.conversation_id), PDF, "application/pdf", "l.pdf"
        )
        assert out.status_code == 201, out.text

        # The widget: the visitor's frame carries a signed link it can open.
        session = await new_session(app, name="Vera", language="en")
        async with widget_socket(app, session["token"]) as visitor:
            await visitor.next()  # history
            await visitor.say("Please send the label here too")
            await visitor.message("customer")
            web = await upload(
                client, csrf, session["conversation_id"], PHOTO, "image/png", "w.png"
            )
            assert web.status_code == 201, web.text
            shown = await visitor.until(
                lambda f: f["type"] == "message" and bool(f["message"].get("attachments"))
            )
        (item,) = shown["message"]["attachments"]
        async with httpx.AsyncClient(timeout=10) as browser_side:
            assert (await browser_side.get(item["url"])).content == PHOTO
    finally:
        await client.aclose()
    # (Before it: the hand-off notice the AI without a model sent.)
    (created,) = [m for m in twilio.sent() if "MediaUrl" in m.form]
    assert created.body == "Here is the label"
    link = created.form["MediaUrl"]
    assert link.startswith(f"{app.base_url}/media/")
    # Twilio fetches it without a session; a changed signature or an old link is refused.
    async with httpx.AsyncClient(timeout=10) as twilio_side:
        fetched = await twilio_side.get(link)
        assert fetched.status_code == 200 and fetched.content == PDF
        assert (await twilio_side.get(link[:-4] + "0000")).status_code == 403
    media_id = link.split("/media/")[1].split("?")[0]
    query = dict(p.split("=") for p in link.split("?")[1].split("&"))
    exp, sig = int(query["exp"]), query["sig"]
    assert link_valid(app.core.settings, media_id, exp, sig)
    assert not link_valid(app.core.settings, media_id, exp, sig, now=exp + 1)


def test_descriptions_name_what_a_file_is_and_never_a_shared_phone_number() -> None:
    from bot.core.attachment_text import text_with_media
    from bot.core.types import Attachment

    sticker = Attachment(kind="sticker", emoji="👍", size=2048)
    contact = Attachment(kind="contact", name="Max", phone_number="+15550001234")
    assert text_with_media("👍", [sticker]) == "[sticker: 👍, 2 KB]"
    assert text_with_media("[contact: Max]", [contact]) == "[contact: Max]"
    big = Attachment(kind="video", name="unboxing.mp4", size=50 * 1024 * 1024, duration=31)
    big_placeholder = Attachment(**big.model_dump(), media_problem="too_large")
    assert text_with_media("Look", [big_placeholder]) == (
        "[video: unboxing.mp4, 31 s, 50.0 MB, not stored: too large]\nLook"
    )


async def test_without_a_model_a_photo_without_a_caption_goes_to_a_person() -> None:
    """The description is for a model; the knowledge answers never search for it."""
    from bot.answers.agent_context import AgentContext
    from bot.answers.kb_answers import KnowledgeAnswers
    from bot.answers.model_context import ModelContext, Turn
    from bot.core.attachment_text import without_media

    class Unsearchable:
        async def search(self, *args: object, **kwargs: object) -> list[Any]:
            raise AssertionError("a photo's description was searched for")

    context = ModelContext(
        system_prompt="",
        turns=[Turn(role="user", text="[photo: receipt.jpg, 120 KB]", seq=1)],
        language="en",
        answering_through_seq=1,
        agent=AgentContext(
            conversation_id="c", contact_id="k", channel="telegram", external_user_id="u"
        ),
    )
    tokens: list[str] = []

    async def sink(text: str) -> None:
        tokens.append(text)

    reply = await KnowledgeAnswers(Unsearchable()).generate(context, on_token=sink)  # type: ignore[arg-type]
    assert reply.handoff_reason == "an attachment without text"
    assert without_media("[photo: a.jpg, 1 KB]\nWhere is my order?") == "Where is my order?"


@pytest.mark.browser
async def test_the_widget_shows_an_operators_photo_inline(app: LiveApp, browser: Browser) -> None:
    from tests.browser.test_widget_browser import WAIT_MS as WIDGET_WAIT_MS
    from tests.browser.test_widget_browser import open_chat, say

    context = await browser.new_context(viewport={"width": 1000, "height": 800})
    page = await context.new_page()
    client, csrf = await signed_in_with_csrf(app)
    try:
        await open_chat(page, app.base_url)
        await say(page, "Can I see the label?")
        await ingested(app)
        asked = await Message.find_one({"channel": "web", "text": "Can I see the label?"})
        assert asked is not None
        sent = await upload(client, csrf, str(asked.conversation_id), PHOTO, "image/png", "l.png")
        assert sent.status_code == 201, sent.text
        photo = page.locator('[data-testid="sb-attachments"] img.sb-attachment-img')
        await expect(photo).to_be_visible(timeout=WIDGET_WAIT_MS)
        # Drawn, not a broken image: the signed link served the PNG to the browser.
        assert await photo.evaluate("img => img.complete && img.naturalWidth") == 64
        await page.screenshot(path="/tmp/widget-photo.png")
    finally:
        await client.aclose()
        await context.close()
