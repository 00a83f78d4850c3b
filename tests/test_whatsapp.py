"""WhatsApp through Twilio on a live app: signed webhooks in, the real twilio client out.

The app runs on a real port with the channel on; Twilio's side is played by signed form
posts (computed with twilio's own `RequestValidator`, as Twilio signs) and by
`FakeTwilio`, a REST server the real `twilio` client reaches through `TWILIO_API_BASE`.
Every payload here was written for these tests.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.answers.model_context import ModelContext
from bot.answers.replies import Reply, TokenSink
from bot.core.documents import Contact, Conversation, Message
from bot.core.types import Author, DeliveryStatus
from channels.text_parts import split_message, utf16_len
from channels.whatsapp import describe_error, normalize
from config import Settings
from tests.fakes.twilio_api import FakeTwilio, TwilioError, new_sid, signed_headers
from tests.long_answers import check_parts, long_answer
from tests.support import LiveApp, eventually, ingested, live_app

pytestmark = pytest.mark.timeout(60)

ACCOUNT_SID = "AC" + "7e57" * 8
AUTH_TOKEN = "f00dfeed" * 4
OUR_NUMBER = "whatsapp:+15550104242"
INBOUND = "/webhooks/twilio/whatsapp"
STATUS = "/webhooks/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
ANSWER = "Thanks for writing! Your parcel left our warehouse this morning."


class FixedReplies:
    """A reply generator that always answers `text` (tests change it between messages)."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        return Reply(text=self.text)


# --- payloads (written for these tests) -----------------------------------------------------


def customer_number() -> str:
    return "+1555" + str(secrets.randbelow(9_000_000) + 1_000_000)


def inbound_form(number: str, body: str, *, sid: str | None = None, **extra: str) -> dict[str, str]:
    """What Twilio posts for a customer's WhatsApp message."""
    sid = sid or new_sid()
    form = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": f"whatsapp:{number}",
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": "1",
        "ProfileName": "Dariusz Kowalczyk",
        "ReferralNumMedia": "0",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": OUR_NUMBER,
        "WaId": number.removeprefix("+"),
    }
    form.update(extra)
    return form


def status_form(sid: str, status: str, **extra: str) -> dict[str, str]:
    """A status callback for a message we sent to a customer."""
    form = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "ChannelPrefix": "whatsapp",
        "ChannelToAddress": "+15550199001",
        "From": OUR_NUMBER,
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": "whatsapp:+15550199001",
    }
    form.update(extra)
    return form


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as server:
        yield server


@pytest.fixture
def replier() -> FixedReplies:
    return FixedReplies(ANSWER)


@pytest.fixture
async def app(
    settings: Settings, fake: FakeTwilio, replier: FixedReplies
) -> AsyncIterator[LiveApp]:
    configured = settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_whatsapp_from": OUR_NUMBER,
            "twilio_api_base": fake.base_url,
            # The shop's own site: answers may link to it (tests/long_answers.py does).
            "allowed_link_domains": "shop.example.com",
        }
    )
    async with live_app(configured, replier=replier) as running:
        yield running


async def post(
    app: LiveApp, path: str, form: dict[str, str], *, token: str = AUTH_TOKEN, **headers: str
) -> httpx.Response:
    """A form post signed the way Twilio signs it (with `token`), over PUBLIC_BASE_URL."""
    url = app.base_url + path
    signed = signed_headers(token, url, form)
    signed.update(headers)
    async with app.client() as client:
        response = await client.post(path, data=form, headers=signed)
    if response.status_code == 200:
        await ingested(app)  # answered once appended: wait until it is stored
    return response


async def stored_inbound(sid: str) -> list[Message]:
    return await Message.find(Message.channel == "whatsapp", Message.external_id == sid).to_list()


async def replies_in(number: str) -> list[Message]:
    conversation = await Conversation.find_one(
        Conversation.channel == "whatsapp", Conversation.external_chat_id == number
    )
    if conversation is None:
        return []
    return (
        await Message.find(
            Message.conversation_id == conversation.id, Message.author != Author.CUSTOMER
        )
        .sort("+seq")
        .to_list()
    )


async def by_provider_id(sid: str) -> Message:
    message = await Message.find_one(
        Message.channel == "whatsapp", Message.provider_message_id == sid
    )
    assert message is not None, f"no message with provider id {sid}"
    return message


async def answered(fake: FakeTwilio, count: int = 1, timeout: float = 15) -> None:
    async def enough() -> bool:
        return len(fake.sent()) >= count

    await eventually(enough, timeout=timeout)


async def status_of(sid: str, expected: DeliveryStatus) -> Message:
    async def reached() -> bool:
        # The fake has answered the send before our side stores the SID: wait for both.
        message = await Message.find_one(
            Message.channel == "whatsapp", Message.provider_message_id == sid
        )
        return message is not None and message.status is expected

    await eventually(reached, timeout=5)
    return await by_provider_id(sid)


def assert_twiml(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == EMPTY_TWIML


# --- inbound --------------------------------------------------------------------------------


async def test_a_text_is_stored_once_and_answered_once_through_the_rest_api(
    app: LiveApp, fake: FakeTwilio
) -> None:
    number = customer_number()
    form = inbound_form(number, "Hi! Where is my order?", ProfileName="Zoë Ångström-Nuñez")
    first = await post(app, INBOUND, form)
    again = await post(app, INBOUND, form)  # Twilio redelivers
    assert_twiml(first)
    assert_twiml(again)

    (stored,) = await stored_inbound(form["MessageSid"])
    assert stored.author is Author.CUSTOMER and stored.text == "Hi! Where is my order?"
    conversation = await Conversation.get(stored.conversation_id)
    assert conversation is not None and conversation.external_chat_id == number
    contact = await Contact.get(conversation.contact_id)
    assert contact is not None
    assert contact.external_user_id == number
    assert contact.display_name == "Zoë Ångström-Nuñez"

    await answered(fake)
    await asyncio.sleep(0.5)  # nothing more goes out
    (sent,) = fake.sent()
    assert sent.from_ == OUR_NUMBER
    assert sent.to == f"whatsapp:{number}"
    assert sent.body == ANSWER
    assert sent.form["StatusCallback"] == app.base_url + STATUS
    (request,) = fake.requests
    assert request.auth_user == ACCOUNT_SID and request.account_sid == ACCOUNT_SID
    assert "twilio-python" in request.headers["user-agent"]  # the official client sent it

    reply = await status_of(sent.sid, DeliveryStatus.SENT)
    assert reply.author is Author.AI and reply.text == ANSWER
    assert reply.conversation_id == stored.conversation_id


async def test_media_location_and_button_replies_are_normalized(
    app: LiveApp, fake: FakeTwilio
) -> None:
    number = customer_number()
    media_url = (
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
        f"{new_sid('MM')}/Media/{new_sid('ME')}"
    )
    image = inbound_form(
        number,
        "",
        sid=new_sid("MM"),
        NumMedia="2",
        MediaUrl0=media_url,
        MediaContentType0="image/jpeg",
        MediaUrl1=media_url + "2",
        MediaContentType1="audio/ogg",
    )
    location = inbound_form(
        number,
        "",
        Latitude="48.85837",
        Longitude="2.294481",
        Address="Champ de Mars, 5 Avenue Anatole France, Paris",
        Label="Tour Eiffel",
    )
    button = inbound_form(
        number,
        "Yes, reschedule",
        ButtonText="Yes, reschedule",
        ButtonPayload="reschedule:order-5521",
        OriginalRepliedMessageSid=new_sid(),
        OriginalRepliedMessageSender=OUR_NUMBER,
    )
    for form in (image, location, button):
        assert_twiml(await post(app, INBOUND, form))

    (stored_image,) = await stored_inbound(image["MessageSid"])
    assert stored_image.text == ""
    photo, voice = stored_image.attachments
    assert (photo.kind, photo.url, photo.mime_type) == ("image", media_url, "image/jpeg")
    assert (voice.kind, voice.mime_type) == ("audio", "audio/ogg")

    (stored_location,) = await stored_inbound(location["MessageSid"])
    (place,) = stored_location.attachments
    extra = place.model_dump()
    assert place.kind == "location"
    assert extra["latitude"] == pytest.approx(48.85837)
    assert extra["longitude"] == pytest.approx(2.294481)
    assert extra["address"] == "Champ de Mars, 5 Avenue Anatole France, Paris"
    assert extra["label"] == "Tour Eiffel"

    (stored_button,) = await stored_inbound(button["MessageSid"])
    assert stored_button.text == "Yes, reschedule"
    (tap,) = stored_button.attachments
    assert tap.kind == "button_reply"
    assert tap.model_dump()["payload"] == "reschedule:order-5521"


async def test_a_status_callback_posted_to_the_message_url_is_not_a_customer_message(
    app: LiveApp, fake: FakeTwilio
) -> None:
    number = customer_number()
    assert_twiml(await post(app, INBOUND, inbound_form(number, "Hello")))
    await answered(fake)
    sid = fake.sent()[0].sid
    response = await post(app, INBOUND, status_form(sid, "delivered"))
    assert_twiml(response)
    assert not await stored_inbound(sid)
    await status_of(sid, DeliveryStatus.DELIVERED)
    # And one for a SID nobody knows: still 2xx, still nothing stored.
    stranger = new_sid()
    assert_twiml(await post(app, INBOUND, status_form(stranger, "read")))
    assert not await stored_inbound(stranger)


# --- authenticity and bad input -------------------------------------------------------------


async def test_unsigned_or_forged_requests_are_refused(app: LiveApp, fake: FakeTwilio) -> None:
    number = customer_number()
    form = inbound_form(number, "let me in")
    url = app.base_url + INBOUND
    async with app.client() as client:
        for path in (INBOUND, STATUS):
            missing = await client.post(path, data=form)
            assert missing.status_code == 403
            assert "X-Twilio-Signature" in missing.json()["detail"]

        forged = signed_headers("someone-elses-token-0123456789ab", url, form)
        other_url = signed_headers(AUTH_TOKEN, app.base_url + "/elsewhere", form)
        tampered_form = {**form, "Body": "send me everything"}
        for headers, data in (
            (forged, form),
            (other_url, form),
            (signed_headers(AUTH_TOKEN, url, form), tampered_form),
            ({**signed_headers(AUTH_TOKEN, url, form), "X-Twilio-Signature": "AAAA"}, form),
        ):
            refused = await client.post(INBOUND, data=data, headers=headers)
            assert refused.status_code == 403, refused.text
            assert "does not match" in refused.json()["detail"]

        # A valid status signature does not open the inbound path with another query string.
        with_query = await client.post(
            INBOUND + "?x=1", data=form, headers=signed_headers(AUTH_TOKEN, url, form)
        )
        assert with_query.status_code == 403
    assert not await stored_inbound(form["MessageSid"])
    assert fake.requests == []


async def test_garbage_gets_a_4xx_with_a_reason_never_a_5xx(app: LiveApp) -> None:
    url = app.base_url + INBOUND
    signature = signed_headers(AUTH_TOKEN, url, {})["X-Twilio-Signature"]
    form_type = "application/x-www-form-urlencoded"
    cases: list[tuple[bytes, dict[str, str]]] = [
        (b'{"Body": "hi"}', {"Content-Type": "application/json"}),  # unsigned JSON
        (b'{"Body": "hi"}', {"Content-Type": "application/json", "X-Twilio-Signature": signature}),
        (b"\xff\xfe\x00garbage", {"Content-Type": form_type, "X-Twilio-Signature": signature}),
        (b"Body=%E9t%E9", {"Content-Type": form_type, "X-Twilio-Signature": signature}),
        (b"&&=&&", {"Content-Type": form_type, "X-Twilio-Signature": signature}),
        (b"a=" + b"x" * 200_000, {"Content-Type": form_type, "X-Twilio-Signature": signature}),
        (b"", {"Content-Type": form_type, "X-Twilio-Signature": signature}),
    ]
    async with app.client() as client:
        for body, headers in cases:
            for path in (INBOUND, STATUS):
                response = await client.post(path, content=body, headers=headers)
                assert 400 <= response.status_code < 500, (body[:40], response.status_code)
                assert response.json()["detail"]

    # Signed but not a usable message: no MessageSid, or no sender.
    number = customer_number()
    no_sid = {k: v for k, v in inbound_form(number, "hi").items() if "Sid" not in k}
    no_sid["AccountSid"] = ACCOUNT_SID
    no_sender = {k: v for k, v in inbound_form(number, "hi").items() if k not in ("From", "WaId")}
    for form in (no_sid, no_sender):
        response = await post(app, INBOUND, form)
        assert response.status_code == 400 and response.json()["detail"]

    # A plain SMS reaching the WhatsApp URL is acknowledged and left alone.
    sms = inbound_form(number, "sms text", From=number)
    assert_twiml(await post(app, INBOUND, sms))
    assert not await stored_inbound(sms["MessageSid"])


# --- delivery statuses ----------------------------------------------------------------------


async def test_delivery_reports_move_the_stored_status_forward_only(
    app: LiveApp, fake: FakeTwilio
) -> None:
    assert_twiml(await post(app, INBOUND, inbound_form(customer_number(), "status please")))
    await answered(fake)
    sid = fake.sent()[0].sid
    await status_of(sid, DeliveryStatus.SENT)

    for status in ("queued", "accepted", "sending"):  # nothing new: stays sent
        assert (await fake.report(sid, status)).status_code == 200
    assert (await by_provider_id(sid)).status is DeliveryStatus.SENT

    assert (await fake.report(sid, "sent")).status_code == 200
    assert (await fake.report(sid, "delivered")).status_code == 200
    await status_of(sid, DeliveryStatus.DELIVERED)
    assert (await fake.report(sid, "read")).status_code == 200
    await status_of(sid, DeliveryStatus.READ)
    # Reports arrive out of order: a late "sent" or "delivered" never moves it back.
    assert (await fake.report(sid, "sent")).status_code == 200
    assert (await fake.report(sid, "delivered")).status_code == 200
    await asyncio.sleep(0.2)
    stored = await by_provider_id(sid)
    assert stored.status is DeliveryStatus.READ and stored.error is None


async def test_failed_and_undelivered_reports_explain_the_error(
    app: LiveApp, fake: FakeTwilio
) -> None:
    for number in (customer_number(), customer_number()):
        assert_twiml(await post(app, INBOUND, inbound_form(number, "hello?")))
    await answered(fake, 2)
    outside, undelivered = (m.sid for m in fake.sent())

    response = await fake.report(
        outside,
        "failed",
        error_code=63016,
        error_message="Failed to send freeform message because you are outside the allowed window.",
    )
    assert response.status_code == 200
    failed = await status_of(outside, DeliveryStatus.FAILED)
    assert failed.error is not None
    assert failed.error.startswith("63016: Failed to send freeform message")
    assert "24-hour" in failed.error and "template" in failed.error

    await fake.report(undelivered, "undelivered", error_code=30003, error_message="Unreachable")
    lost = await status_of(undelivered, DeliveryStatus.FAILED)
    assert lost.error == "30003: Unreachable"
    # A failure is final: a late "delivered" does not undo it.
    await fake.report(undelivered, "delivered")
    await asyncio.sleep(0.2)
    assert (await by_provider_id(undelivered)).status is DeliveryStatus.FAILED


@pytest.mark.parametrize(
    ("status", "extra"),
    [
        ("queued", {}),
        ("sent", {}),
        ("delivered", {"EventType": "DELIVERED"}),
        ("read", {}),
        ("failed", {"ErrorCode": "63016", "ErrorMessage": "outside the allowed window"}),
        ("undelivered", {"ErrorCode": "30005", "ErrorMessage": "Unknown destination handset"}),
        ("someday-new-status", {}),
    ],
)
async def test_reports_for_unknown_sids_are_acknowledged(
    app: LiveApp, status: str, extra: dict[str, str]
) -> None:
    response = await post(app, STATUS, status_form(new_sid(), status, **extra))
    assert response.status_code == 200


# --- sending --------------------------------------------------------------------------------


async def test_rate_limits_and_server_errors_are_retried(app: LiveApp, fake: FakeTwilio) -> None:
    fake.script(TwilioError.too_many_requests(), TwilioError.server_error())
    assert_twiml(await post(app, INBOUND, inbound_form(customer_number(), "retry me")))
    await answered(fake)
    assert [r.status for r in fake.requests] == [429, 500, 201]
    (sent,) = fake.sent()
    assert sent.body == ANSWER
    await status_of(sent.sid, DeliveryStatus.SENT)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TwilioError.outside_window(), ["63016:", "24-hour", "template"]),
        (TwilioError.invalid_to("+15550000"), ["21211:", "not a valid phone number"]),
    ],
)
async def test_a_refusal_marks_the_answer_failed_without_retrying(
    app: LiveApp, fake: FakeTwilio, error: TwilioError, expected: list[str]
) -> None:
    fake.script(error)
    number = customer_number()
    assert_twiml(await post(app, INBOUND, inbound_form(number, "are you there?")))

    async def failed() -> bool:
        return any(m.status is DeliveryStatus.FAILED for m in await replies_in(number))

    await eventually(failed, timeout=15)
    (reply,) = [m for m in await replies_in(number) if m.author is Author.AI]
    assert reply.status is DeliveryStatus.FAILED and reply.error is not None
    for piece in expected:
        assert piece in reply.error
    assert [r.status for r in fake.requests] == [400]
    assert fake.sent() == []


async def test_a_long_answer_goes_out_in_parts_within_the_limit(
    app: LiveApp, fake: FakeTwilio, replier: FixedReplies
) -> None:
    paragraph = "Our return policy in detail, step by step: keep the receipt 📦. " * 12
    replier.text = "\n\n".join(f"{n}. {paragraph.strip()}" for n in range(1, 7))
    number = customer_number()
    assert_twiml(await post(app, INBOUND, inbound_form(number, "explain returns")))
    await answered(fake, 2)
    await asyncio.sleep(0.5)
    parts = fake.sent()
    assert len(parts) >= 3
    assert all(utf16_len(p.body) <= 1600 for p in parts)
    assert all(p.to == f"whatsapp:{number}" and p.from_ == OUR_NUMBER for p in parts)
    assert " ".join(p.body for p in parts).split() == replier.text.split()
    # The stored answer follows the last part's delivery reports.
    await status_of(parts[-1].sid, DeliveryStatus.SENT)


async def test_a_long_answer_arrives_in_order_cut_where_a_reader_pauses(
    app: LiveApp, fake: FakeTwilio, replier: FixedReplies
) -> None:
    answer = long_answer(1600)
    replier.text = answer.text
    number = customer_number()
    assert_twiml(await post(app, INBOUND, inbound_form(number, "all the details please")))

    async def all_out() -> bool:
        sent = fake.sent()
        return bool(sent) and sent[-1].body.endswith(answer.text[-30:])

    await eventually(all_out, timeout=15)
    await asyncio.sleep(0.5)  # a stray further part would be out by now
    # The bodies the real twilio client posted, in the order the fake received them.
    check_parts([m.body for m in fake.sent()], answer, 1600)


# --- pure functions -------------------------------------------------------------------------


def test_split_body_cuts_at_natural_ends() -> None:
    assert split_message("short", 1600) == ["short"]
    assert split_message("   ", 1600) == []
    text = ("word " * 500).strip()  # 2499 characters, no sentence ends
    parts = split_message(text, 1600)
    assert [len(p) for p in parts] == [1599, 899]
    assert all(not p.endswith(" ") and not p.startswith(" ") for p in parts)
    emoji = "😀" * 1000  # 2000 UTF-16 units: a pair is never split
    halves = split_message(emoji, 1600)
    assert [utf16_len(p) for p in halves] == [1600, 400] and "".join(halves) == emoji
    sentences = "A sentence that ends here. " * 80
    assert all(p.endswith(".") for p in split_message(sentences, 1600))


def test_describe_error_explains_the_common_codes() -> None:
    assert describe_error("30008", "Unknown error") == "30008: Unknown error"
    assert "template is needed" in describe_error(63016, "outside the window")
    assert describe_error(None, "failed") == "failed"


def test_normalize_keeps_one_canonical_number() -> None:
    form: dict[str, Any] = inbound_form("+15550123456", "hi", ProfileName="Renée")
    message = normalize(form)
    assert message.external_chat_id == message.external_user_id == "+15550123456"
    assert message.external_message_id == form["MessageSid"]
    assert message.display_name == "Renée"
    del form["MessageSid"]
    assert normalize(form).external_message_id == form["SmsSid"]


async def test_a_customer_who_opted_out_gets_nothing_until_they_opt_back_in(
    app: LiveApp, fake: FakeTwilio
) -> None:
    number = customer_number()

    async def replies_failed(count: int) -> bool:
        ai = [m for m in await replies_in(number) if m.author is Author.AI]
        return sum(m.status is DeliveryStatus.FAILED for m in ai) >= count

    # Twilio refuses: the customer opted out (outside our sight, e.g. on another platform).
    fake.script(TwilioError.opted_out())
    assert_twiml(await post(app, INBOUND, inbound_form(number, "hello?")))
    await eventually(lambda: replies_failed(1), timeout=15)
    # Further answers are not even tried.
    assert_twiml(await post(app, INBOUND, inbound_form(number, "and your opening hours?")))
    await eventually(lambda: replies_failed(2), timeout=15)
    assert [r.status for r in fake.requests] == [400]

    assert_twiml(await post(app, INBOUND, inbound_form(number, " start ")))
    await answered(fake)
    assert fake.sent()[0].to == f"whatsapp:{number}"


async def test_a_customer_who_says_cancel_is_still_answered(app: LiveApp, fake: FakeTwilio) -> None:
    number = customer_number()
    assert_twiml(await post(app, INBOUND, inbound_form(number, "Cancel")))
    await answered(fake)
