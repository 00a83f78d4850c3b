"""The panel's REST API over real HTTP: sessions, CSRF, roles, the chat list and actions."""

from __future__ import annotations

import httpx
import pytest
from beanie import PydanticObjectId

from bot.core.documents import Conversation, Message
from bot.core.types import Author, Mode
from tests.panel.conftest import ADMIN, OPERATOR, SignedIn, sign_in
from tests.panel.helpers import customer_writes
from tests.support import LiveApp, eventually, widget_socket

pytestmark = pytest.mark.timeout(60)

ZERO_ID = "0" * 24
READS = [
    ("GET", "/api/auth/me"),
    ("GET", "/api/conversations"),
    ("GET", "/api/conversations/unread"),
    ("GET", f"/api/conversations/{ZERO_ID}"),
    ("GET", f"/api/conversations/{ZERO_ID}/messages"),
    ("GET", "/api/prompt-blocks"),
]
WRITES = [
    ("POST", "/api/auth/logout", None),
    ("POST", f"/api/conversations/{ZERO_ID}/messages", {"text": "hi"}),
    ("POST", f"/api/conversations/{ZERO_ID}/read", None),
    ("POST", f"/api/conversations/{ZERO_ID}/takeover", None),
    ("POST", f"/api/conversations/{ZERO_ID}/handback", None),
    ("POST", f"/api/conversations/{ZERO_ID}/close", None),
    ("POST", "/api/prompt-blocks", {"name": "n", "text": "t"}),
    ("PUT", f"/api/prompt-blocks/{ZERO_ID}", {"text": "t"}),
    ("DELETE", f"/api/prompt-blocks/{ZERO_ID}", None),
]


async def test_login_sets_an_httponly_cookie_and_returns_a_csrf_token(app: LiveApp) -> None:
    async with app.client() as client:
        response = await client.post(
            "/api/auth/login", json={"email": OPERATOR[0].upper(), "password": OPERATOR[1]}
        )
        assert response.status_code == 200
        body = response.json()
        assert len(body["csrf_token"]) >= 32
        assert body["operator"]["email"] == OPERATOR[0]
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # plain http here; https turns it on
        me = await client.get("/api/auth/me")
        assert me.status_code == 200
        assert me.json()["csrf_token"] == body["csrf_token"]
        assert me.json()["role"] == "operator"


@pytest.mark.parametrize(
    ("email", "password"),
    [(OPERATOR[0], "wrong-password"), ("nobody@example.com", OPERATOR[1]), ("", "")],
)
async def test_a_bad_login_is_401(app: LiveApp, email: str, password: str) -> None:
    async with app.client() as client:
        response = await client.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_login_is_rate_limited_per_email(app: LiveApp) -> None:
    async with app.client() as client:
        codes = [
            (
                await client.post(
                    "/api/auth/login", json={"email": ADMIN[0], "password": "guess-guess"}
                )
            ).status_code
            for _ in range(7)
        ]
        assert codes[:5] == [401] * 5
        assert codes[-1] == 429
        # The right password does not get through while the e-mail is locked.
        locked = await client.post(
            "/api/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}
        )
        assert locked.status_code == 429


async def test_signing_in_often_is_never_locked_out(app: LiveApp) -> None:
    # Only failed logins count against an e-mail (each browser test signs in afresh).
    for _ in range(8):
        signed = await sign_in(app, *OPERATOR)
        await signed.client.aclose()


async def test_every_endpoint_needs_a_session(app: LiveApp) -> None:
    async with app.client() as client:
        for method, path in READS:
            assert (await client.request(method, path)).status_code == 401, path
        for method, path, body in WRITES:
            response = await client.request(
                method, path, json=body, headers={"X-CSRF-Token": "anything"}
            )
            assert response.status_code == 401, path
        # A forged cookie is no session either.
        client.cookies.set("sb_panel_session", "forged")
        assert (await client.get("/api/conversations")).status_code == 401


async def test_state_changing_requests_need_the_csrf_token(admin: SignedIn) -> None:
    for method, path, body in WRITES:
        missing = await admin.client.request(method, path, json=body)
        assert missing.status_code == 403, path
        wrong = await admin.client.request(
            method, path, json=body, headers={"X-CSRF-Token": admin.csrf[:-1] + "x"}
        )
        assert wrong.status_code == 403, path
    # With the token they go through (unknown ids are 404, not 403).
    ok = await admin.client.post(f"/api/conversations/{ZERO_ID}/takeover", headers=admin.headers())
    assert ok.status_code == 404


async def test_logout_ends_the_session_everywhere(app: LiveApp) -> None:
    signed = await sign_in(app, *OPERATOR)
    client = signed.client
    try:
        stolen = client.cookies.get("sb_panel_session")
        response = await signed.post("/api/auth/logout")
        assert response.status_code == 204
        assert (await client.get("/api/auth/me")).status_code == 401
    finally:
        await client.aclose()
    async with app.client() as other:
        other.cookies.set("sb_panel_session", stolen or "")
        assert (await other.get("/api/conversations")).status_code == 401


async def test_prompt_blocks_are_read_by_all_and_written_by_admins(
    admin: SignedIn, operator: SignedIn
) -> None:
    created = await admin.post(
        "/api/prompt-blocks",
        {"name": "Tone", "text": "Be kind.", "order": 5, "channel": "web", "language": ""},
    )
    assert created.status_code == 201
    block = created.json()
    assert block["name"] == "Tone" and block["enabled"] is True and block["language"] is None
    await admin.post("/api/prompt-blocks", {"name": "Facts", "text": "We ship.", "order": 1})

    listed = (await operator.client.get("/api/prompt-blocks")).json()["items"]
    assert [b["name"] for b in listed] == ["Facts", "Tone"]

    assert (
        await operator.post("/api/prompt-blocks", {"name": "x", "text": "y"})
    ).status_code == 403
    put = await operator.client.put(
        f"/api/prompt-blocks/{block['id']}", json={"text": "Be rude."}, headers=operator.headers()
    )
    assert put.status_code == 403
    deleted = await operator.client.delete(
        f"/api/prompt-blocks/{block['id']}", headers=operator.headers()
    )
    assert deleted.status_code == 403

    updated = await admin.client.put(
        f"/api/prompt-blocks/{block['id']}",
        json={"text": "Be very kind.", "enabled": False},
        headers=admin.headers(),
    )
    assert updated.status_code == 200
    assert updated.json()["text"] == "Be very kind." and updated.json()["enabled"] is False
    assert updated.json()["name"] == "Tone"
    gone = await admin.client.delete(f"/api/prompt-blocks/{block['id']}", headers=admin.headers())
    assert gone.status_code == 204
    listed = (await operator.client.get("/api/prompt-blocks")).json()["items"]
    assert [b["name"] for b in listed] == ["Facts"]
    assert (await admin.post("/api/prompt-blocks", {"name": "", "text": "t"})).status_code == 422


async def test_the_list_is_newest_first_with_contacts_and_filters(
    app: LiveApp, operator: SignedIn
) -> None:
    alice = await customer_writes(app, "Alice Liddell", "Where is my parcel?")
    bob = await customer_writes(app, "Bob Builder", "I want a refund")

    response = await operator.client.get("/api/conversations")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["id"] for i in items] == [bob.conversation_id, alice.conversation_id]
    first = items[0]
    assert first["channel"] == "web"
    assert first["mode"] == "waiting_operator"
    assert first["contact"]["display_name"] == "Bob Builder"
    assert first["unread"] == 1
    assert first["last_message_at"].endswith(("Z", "+00:00"))
    assert first["assignee_id"] is None

    async def ids(query: str) -> list[str]:
        got = await operator.client.get(f"/api/conversations?{query}")
        assert got.status_code == 200, got.text
        return [i["id"] for i in got.json()["items"]]

    assert await ids("q=alice") == [alice.conversation_id]  # display name, any case
    assert await ids("q=REFUND") == [bob.conversation_id]  # message text
    assert await ids("q=.*") == []  # a literal, not a pattern
    assert await ids("q=nothing-like-this") == []
    assert await ids("channel=telegram") == []
    assert await ids("channel=web") == [bob.conversation_id, alice.conversation_id]
    assert await ids("mode=operator") == []
    assert (await operator.client.get("/api/conversations?mode=bogus")).status_code == 422

    taken = await operator.post(f"/api/conversations/{alice.conversation_id}/takeover")
    assert taken.status_code == 200
    assert taken.json()["mode"] == "operator"
    assert taken.json()["assignee_id"] == operator.operator_id
    assert await ids("mode=operator") == [alice.conversation_id]
    assert await ids("mode=waiting_operator") == [bob.conversation_id]
    # The hand-over notice is activity: Alice's chat is newest now.
    assert (await ids(""))[0] == alice.conversation_id

    unread = (await operator.client.get("/api/conversations/unread")).json()
    assert unread == {
        "total": 2,
        "items": {alice.conversation_id: 1, bob.conversation_id: 1},
    }
    read = await operator.post(f"/api/conversations/{bob.conversation_id}/read")
    assert read.status_code == 200 and read.json()["unread"] == 0
    unread = (await operator.client.get("/api/conversations/unread")).json()
    assert unread["items"] == {alice.conversation_id: 1}


async def test_messages_come_in_pages_oldest_first(app: LiveApp, operator: SignedIn) -> None:
    carol = await customer_writes(app, "Carol", "hello")
    conversation = await Conversation.get(carol.conversation_id)
    assert conversation is not None
    for n in range(5):
        await operator.post(
            f"/api/conversations/{carol.conversation_id}/messages", {"text": f"n{n}"}
        )
    path = f"/api/conversations/{carol.conversation_id}/messages"
    everything = (await operator.client.get(path)).json()
    seqs = [m["seq"] for m in everything["items"]]
    assert seqs == sorted(seqs) and everything["has_more"] is False
    assert everything["items"][0]["author"] == "customer"
    assert everything["items"][0]["text"] == "hello"
    assert set(everything["items"][0]) >= {
        "id",
        "conversation_id",
        "seq",
        "author",
        "text",
        "created_at",
        "status",
    }
    newest = (await operator.client.get(f"{path}?limit=3")).json()
    assert [m["seq"] for m in newest["items"]] == seqs[-3:] and newest["has_more"] is True
    older = (await operator.client.get(f"{path}?limit=3&before_seq={seqs[-3]}")).json()
    assert [m["seq"] for m in older["items"]] == seqs[-6:-3]
    missing = await operator.client.get(f"/api/conversations/{ZERO_ID}/messages")
    assert missing.status_code == 404
    assert (await operator.client.get("/api/conversations/not-an-id/messages")).status_code == 404


async def test_an_operator_reply_takes_the_chat_and_reaches_the_customer(
    app: LiveApp, operator: SignedIn
) -> None:
    dave = await customer_writes(app, "Dave", "anyone there?")
    async with widget_socket(app, dave.token) as ws:
        history = await ws.next()
        assert history["type"] == "history"
        response = await operator.post(
            f"/api/conversations/{dave.conversation_id}/messages", {"text": "Hi Dave, I'm Olga."}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["message"]["author"] == "operator"
        assert body["message"]["status"] == "sent"
        assert body["conversation"]["mode"] == "operator"
        assert body["conversation"]["assignee_id"] == operator.operator_id
        assert body["conversation"]["unread"] == 0

        status = await ws.until(lambda f: f["type"] == "status")
        assert status["mode"] == "operator"
        received = await ws.message("operator")
        assert received["text"] == "Hi Dave, I'm Olga."

    stored = await Message.find(
        Message.conversation_id == PydanticObjectId(dave.conversation_id),
        Message.author == Author.OPERATOR,
    ).to_list()
    assert [m.text for m in stored] == ["Hi Dave, I'm Olga."]
    assert str(stored[0].operator_id) == operator.operator_id

    # A second reply does not transition again.
    conversation = await Conversation.get(dave.conversation_id)
    assert conversation is not None
    before = conversation.last_seq
    again = await operator.post(
        f"/api/conversations/{dave.conversation_id}/messages", {"text": "Still here."}
    )
    assert again.status_code == 200
    assert again.json()["message"]["seq"] == before + 1
    blank = await operator.post(
        f"/api/conversations/{dave.conversation_id}/messages", {"text": " "}
    )
    assert blank.status_code == 422


async def test_handback_and_close(app: LiveApp, admin: SignedIn, operator: SignedIn) -> None:
    erin = await customer_writes(app, "Erin", "help")
    base = f"/api/conversations/{erin.conversation_id}"
    async with widget_socket(app, erin.token) as ws:
        await ws.next()
        assert (await operator.post(f"{base}/takeover")).json()["mode"] == "operator"
        # Another operator's reply takes the chat from the first one.
        await admin.post(f"{base}/messages", {"text": "I'll take this one."})
        item = (await operator.client.get(base)).json()
        assert item["mode"] == "operator" and item["assignee_id"] == admin.operator_id

        handed = await operator.post(f"{base}/handback")
        assert handed.status_code == 200
        assert handed.json()["mode"] == "ai" and handed.json()["assignee_id"] is None
        await ws.until(lambda f: f["type"] == "status" and f["mode"] == "ai")

        closed = await operator.post(f"{base}/close")
        assert closed.status_code == 200 and closed.json()["mode"] == "closed"
        assert closed.json()["closed_at"] is not None
        await ws.until(lambda f: f["type"] == "status" and f["mode"] == "closed")
        notice = await ws.message("system")
        assert "closed" in notice["text"].lower()

    async def is_closed() -> bool:
        fresh = await Conversation.get(erin.conversation_id)
        return fresh is not None and fresh.mode is Mode.CLOSED

    await eventually(is_closed)


async def test_the_panel_page_is_served_with_security_headers(app: LiveApp) -> None:
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        redirect = await client.get("/panel")
        assert redirect.status_code in (301, 307, 308)
        assert redirect.headers["location"].endswith("/panel/")
        page = await client.get("/panel/")
        assert page.status_code == 200
        assert 'type="email"' in page.text and 'type="password"' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        script = await client.get("/panel/panel.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert "innerHTML" not in script.text
        assert (await client.get("/panel/panel.css")).status_code == 200
        assert (await client.get("/panel/../bot/server/app.py")).status_code == 404
        assert (await client.get("/panel/nope.js")).status_code == 404
