"""The platform on its defaults: no model, answers come from the knowledge base."""

from __future__ import annotations

from config import Settings
from tests.support import live_app, new_session, widget_socket


async def test_health_ready_and_metrics(settings: Settings) -> None:
    async with live_app(settings) as app, app.client() as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        metrics = await client.get("/metrics")
        assert "switchboard_inbound_messages_total" in metrics.text


async def test_without_model_or_knowledge_the_customer_is_offered_an_operator(
    settings: Settings,
) -> None:
    async with live_app(settings) as app:
        session = await new_session(app, name="Ann", language="ru")
        async with widget_socket(app, session["token"]) as ws:
            history = await ws.next()
            assert history["type"] == "history" and history["messages"] == []
            client_id = await ws.say("Где мой заказ?")
            echo = await ws.message("customer")
            assert echo["client_id"] == client_id
            answer = await ws.message("ai")
            assert "оператор" in answer["text"]
            # Asking for a person hands the chat over.
            await ws.say("Позовите оператора, пожалуйста")
            status = await ws.until(lambda f: f["type"] == "status")
            assert status["mode"] == "waiting_operator"
