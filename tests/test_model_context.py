"""build_model_context(): what the model would see, checked without a model."""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import PydanticObjectId
from redis.asyncio import Redis

from bot.answers.knowledge import KnowledgeHit
from bot.answers.model_context import DEFAULT_SYSTEM_PROMPT, build_model_context
from bot.core.conversations import append_message, latest_messages
from bot.core.documents import Contact, Conversation, PromptBlock
from bot.core.operator_actions import create_prompt_block, update_prompt_block
from bot.core.pipeline import handle_incoming_message
from bot.core.prompt_blocks import PromptBlockCache
from bot.core.runtime import Core
from bot.core.types import Author, InboundMessage


async def chat(core: Core, *texts: str, language: str = "en") -> tuple[Conversation, Contact]:
    result = None
    for n, text in enumerate(texts):
        result = await handle_incoming_message(
            InboundMessage(
                channel="web",
                external_chat_id="v1",
                external_user_id="v1",
                external_message_id=f"v1:{n}",
                text=text,
                language=language,
                display_name="Ann",
            ),
            core=core,
        )
    assert result is not None
    conversation = await Conversation.get(PydanticObjectId(result.message.conversation_id))
    assert conversation is not None
    contact = await Contact.get(conversation.contact_id)
    assert contact is not None
    return conversation, contact


async def test_prompt_blocks_in_order_scoped_by_channel_and_language(core: Core) -> None:
    await PromptBlock(name="tone", text="Be warm.", order=2).insert()
    await PromptBlock(name="persona", text="You are Max from Acme.", order=1).insert()
    await PromptBlock(name="off", text="Never shown.", order=0, enabled=False).insert()
    await PromptBlock(name="tg", text="Telegram only.", order=3, channel="telegram").insert()
    await PromptBlock(name="ru", text="Только по-русски.", order=4, language="ru").insert()
    conversation, contact = await chat(core, "hello")
    context = await build_model_context(
        conversation=conversation, contact=contact, history=await latest_messages(conversation.id)
    )
    prompt = context.system_prompt
    assert prompt.index("You are Max from Acme.") < prompt.index("Be warm.")
    for absent in ("Never shown.", "Telegram only.", "Только по-русски.", DEFAULT_SYSTEM_PROMPT):
        assert absent not in prompt
    assert len(context.prompt_block_ids) == 2


async def test_default_prompt_facts_time_and_business_hours(core: Core) -> None:
    conversation, contact = await chat(core, "hello")
    context = await build_model_context(
        conversation=conversation,
        contact=contact,
        history=await latest_messages(conversation.id),
        timezone="Europe/Moscow",
        business_hours="Mon-Fri 9:00-18:00",
        now=datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
    )
    assert DEFAULT_SYSTEM_PROMPT in context.system_prompt
    assert "Monday 2026-01-05 15:00 (Europe/Moscow)" in context.system_prompt
    assert "Business hours: Mon-Fri 9:00-18:00." in context.system_prompt
    assert "Customer name: Ann." in context.system_prompt
    assert context.agent.external_user_id == "v1" and context.agent.language == "en"


async def test_history_within_budget_older_turns_summarized_and_stored(core: Core) -> None:
    texts = [f"question number {n} " + "about the parcel " * 20 for n in range(12)]
    conversation, contact = await chat(core, *texts)
    history = await latest_messages(conversation.id)
    context = await build_model_context(
        conversation=conversation, contact=contact, history=history, history_budget_tokens=300
    )
    assert 0 < len(context.turns) < 12
    assert context.turns[-1].text.startswith("question number 11")
    assert context.summary is not None and "question number 0" in context.summary
    assert "Summary of the earlier conversation" in context.system_prompt
    stored = await Conversation.get(conversation.id)
    assert stored is not None and stored.summary == context.summary
    assert stored.summary_seq == context.turns[0].seq - 1
    # The next build folds in only what is new; the summary is not rebuilt from scratch.
    again = await build_model_context(
        conversation=stored, contact=contact, history=history, history_budget_tokens=300
    )
    assert again.summary == context.summary


async def test_pii_is_masked_before_the_model_and_only_when_on(core: Core) -> None:
    conversation, contact = await chat(core, "mail me at ann@example.com or +7 916 123-45-67")
    history = await latest_messages(conversation.id)
    masked = await build_model_context(conversation=conversation, contact=contact, history=history)
    assert masked.turns[-1].text == "mail me at [EMAIL] or [PHONE]"
    plain = await build_model_context(
        conversation=conversation, contact=contact, history=history, pii_redaction=False
    )
    assert "ann@example.com" in plain.turns[-1].text


async def test_knowledge_for_the_latest_burst_with_source_ids(core: Core) -> None:
    conversation, contact = await chat(core, "hi", "how long", "is delivery?")
    assert conversation.id is not None
    await append_message(core=core, conversation=conversation, author=Author.SYSTEM, text="note")
    queries: list[str] = []

    class Shelf:
        async def search(
            self, query: str, *, k: int = 5, language: str | None = None
        ) -> list[KnowledgeHit]:
            queries.append(query)
            return [
                KnowledgeHit(text="3-5 days.", title="Shipping", source="shipping.md", score=0.9)
            ]

    context = await build_model_context(
        conversation=conversation,
        contact=contact,
        history=await latest_messages(conversation.id),
        knowledge=Shelf(),
    )
    assert queries == ["hi\nhow long\nis delivery?"]
    assert "[shipping.md] Shipping\n3-5 days." in context.system_prompt
    assert [h.source for h in context.knowledge] == ["shipping.md"]
    assert context.answering_through_seq == 3


async def test_a_prompt_block_edit_reaches_every_process_cache(core: Core) -> None:
    other_process = PromptBlockCache(core.redis)
    assert await other_process.enabled() == []
    block = await create_prompt_block(core=core, name="persona", text="You are Max.")
    assert [b.text for b in await other_process.enabled()] == ["You are Max."]
    await update_prompt_block(core=core, block_id=str(block.id), changes={"text": "You are Ada."})
    assert [b.text for b in await other_process.enabled()] == ["You are Ada."]
    await update_prompt_block(core=core, block_id=str(block.id), changes={"enabled": False})
    assert await other_process.enabled() == []
    assert await core.prompts.enabled() == []


async def test_prompt_blocks_are_read_from_storage_while_redis_is_unreachable(
    core: Core,
) -> None:
    await PromptBlock(name="persona", text="You are Max.").insert()
    dead = Redis.from_url("redis://127.0.0.1:9", socket_connect_timeout=0.2)
    try:
        assert [b.text for b in await PromptBlockCache(dead).enabled()] == ["You are Max."]
    finally:
        await dead.aclose()
