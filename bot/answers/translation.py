"""Translation for operators by the configured chat model (issue 25, item 2).

A customer's message is shown in the panel with a translation into the operator's language,
and an operator's reply goes out in the customer's language (the contact's language, which
the core keeps from the channel or detects from the customer's text), its original kept in
the message's `meta.translation` for operators. Only when the two languages differ.

The text is PII-masked before it reaches the model and the customer's own values are put
back after (`bot.answers.pii`). A message's translation is cached on the message itself
(`meta.translations.<lang>`, with a digest of the text it translated), so it goes with the
message when a contact is erased. Without a model nothing is translated; a failed or slow
translation raises `TranslationFailed` and never stops a reply (`translated_reply` sends the
text as written and records why).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId
from loguru import logger

from bot.answers.pii import redact_pii, restore_pii
from bot.core import operator_actions as actions
from bot.core.documents import Contact, Conversation, Message, Operator, utcnow
from bot.core.i18n import detect_language, normalize_language
from bot.core.types import Author

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from bot.core.runtime import Core
    from config import Settings

CACHE_FIELD = "translations"
MAX_TEXT = 4096
# Names the model understands better than codes; any other code is named by its code.
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "kk": "Kazakh",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "uz": "Uzbek",
    "zh": "Chinese",
}
_PROMPT = (
    "You translate messages between a customer and a support operator. Translate the "
    "user's message into {target}{source}. Keep the meaning, tone, names, numbers, links "
    "and placeholders in square brackets such as [EMAIL] or [PHONE] exactly as they are. "
    "If the message is already in {target}, return it unchanged. Answer with the "
    "translation only, no quotes, no comments."
)
UNAVAILABLE = (
    "translation is unavailable: no chat model is configured (OPENAI_BASE_URL / OPENAI_API_KEY)"
)


class TranslationUnavailable(RuntimeError):
    """No chat model is configured: nothing can be translated."""


class TranslationFailed(RuntimeError):
    """The model failed, timed out or answered nothing."""


def language_name(code: str) -> str:
    """The English name of a language code for the prompt ("ru" → "Russian")."""
    return LANGUAGE_NAMES.get(code, f"the language with the code '{code}'")


def differ(a: str | None, b: str | None) -> bool:
    """Whether two language codes name different languages (unknown ones never differ)."""
    left, right = normalize_language(a), normalize_language(b)
    return left is not None and right is not None and left != right


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Translator:
    """Translates one text with the chat model, PII-masked, within a deadline."""

    def __init__(
        self,
        model: BaseChatModel | Callable[[], BaseChatModel] | None,
        *,
        timeout_s: float,
        pii_redaction: bool = True,
    ) -> None:
        # A factory defers building the client (and importing langchain-openai) to the
        # first translation: the panel asks whether translation is available on every load.
        self._model = model
        self.timeout_s = timeout_s
        self.pii_redaction = pii_redaction

    @classmethod
    def from_settings(cls, settings: Settings) -> Translator:
        """The agent's model (OPENAI_BASE_URL / LLM_MODEL) when one is configured, else none."""

        def build() -> BaseChatModel:
            from langchain_openai import ChatOpenAI

            key = settings.openai_api_key
            return ChatOpenAI(
                model=settings.llm_model,
                api_key=key.get_secret_value() if key else "none",
                base_url=settings.openai_base_url,
                timeout=settings.translation_timeout_seconds,
                max_retries=0,  # a reply waits for this: fail fast, send as written
            )

        return cls(
            build if settings.llm_configured else None,
            timeout_s=settings.translation_timeout_seconds,
            pii_redaction=settings.pii_redaction,
        )

    @property
    def available(self) -> bool:
        return self._model is not None

    def _chat_model(self) -> BaseChatModel:
        from langchain_core.language_models import BaseChatModel

        if self._model is None:
            raise TranslationUnavailable(UNAVAILABLE)
        if not isinstance(self._model, BaseChatModel):
            self._model = self._model()
        return self._model

    async def translate(self, text: str, *, target: str, source: str | None = None) -> str:
        """`text` in the `target` language; raises TranslationUnavailable / TranslationFailed."""
        model = self._chat_model()
        from langchain_core.messages import HumanMessage, SystemMessage

        masked = redact_pii(text) if self.pii_redaction else text
        known = normalize_language(source)
        prompt = _PROMPT.format(
            target=language_name(target),
            source=f" from {language_name(known)}" if known else "",
        )
        try:
            answer = await asyncio.wait_for(
                model.ainvoke([SystemMessage(prompt), HumanMessage(masked[:MAX_TEXT])]),
                self.timeout_s,
            )
        except TimeoutError:
            late = f"the model did not answer within {self.timeout_s:g} s"
            raise TranslationFailed(late) from None
        except Exception as exc:  # any client or server error: the caller decides what to do
            logger.warning("translation failed: {}", type(exc).__name__)
            raise TranslationFailed(f"the model failed ({type(exc).__name__})") from None
        content: Any = answer.content
        translated = (content if isinstance(content, str) else str(answer.text)).strip()
        if not translated:
            raise TranslationFailed("the model answered nothing")
        return restore_pii(translated, [text]) if self.pii_redaction else translated


@dataclass(frozen=True, slots=True)
class MessageTranslation:
    message_id: str
    source: str | None  # the customer's language, when known
    target: str
    text: str | None  # None: the languages are the same, nothing to translate
    cached: bool


async def customer_language(conversation: Conversation) -> str | None:
    """The customer's language: the contact's, else a guess from their last message."""
    contact = await Contact.get(conversation.contact_id)
    known = normalize_language(contact.language if contact else None)
    if known:
        return known
    last = await Message.find_one(
        {"conversation_id": conversation.id, "author": Author.CUSTOMER.value},
        sort=[("seq", -1)],
    )
    return detect_language(last.text) if last is not None else None


async def translate_message(
    translator: Translator, message: Message, *, target: str
) -> MessageTranslation:
    """A customer's message in `target`, from the cache on the message or the model."""
    language = normalize_language(target)
    if language is None:
        raise ValueError(f"not a language code: {target[:16]!r}")
    assert message.id is not None
    conversation = await Conversation.get(message.conversation_id)
    source = await customer_language(conversation) if conversation is not None else None
    view = MessageTranslation(str(message.id), source, language, None, cached=False)
    if not message.text.strip() or (source is not None and not differ(source, language)):
        return view
    digest = _digest(message.text)
    cached = (message.meta.get(CACHE_FIELD) or {}).get(language)
    if isinstance(cached, dict) and cached.get("of") == digest and cached.get("text"):
        return _same_or(view, message.text, str(cached["text"]), cached=True)
    text = await translator.translate(message.text, target=language, source=source)
    await Message.get_pymongo_collection().update_one(
        {"_id": message.id},
        {"$set": {f"meta.{CACHE_FIELD}.{language}": {"text": text, "of": digest, "at": utcnow()}}},
    )
    return _same_or(view, message.text, text, cached=False)


def _same_or(
    view: MessageTranslation, original: str, text: str, *, cached: bool
) -> MessageTranslation:
    # The model returns a text already in the target language unchanged: nothing to show.
    same = text.strip().casefold() == original.strip().casefold()
    return MessageTranslation(
        view.message_id, view.source, view.target, None if same else text, cached
    )


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    message: Message
    conversation: Conversation
    # "translated", "same_language", "unknown_language" or "failed" (sent as written).
    status: str
    detail: str | None = None


async def translated_reply(
    *,
    core: Core,
    translator: Translator,
    conversation_id: str,
    operator: Operator,
    text: str,
    language: str | None,
) -> ReplyOutcome:
    """An operator's reply written in `language`, sent in the customer's; never lost.

    A failed or unavailable translation sends the text as written, with the reason in
    `meta.translation.error` for the panel to show.
    """
    try:
        oid = PydanticObjectId(conversation_id)
    except Exception:
        raise actions.ConversationNotFound(conversation_id) from None
    conversation = await Conversation.get(oid)
    if conversation is None:
        raise actions.ConversationNotFound(conversation_id)
    target = await customer_language(conversation)
    source = normalize_language(language)
    meta: dict[str, Any] = {}
    sent, status, detail = text, "translated", None
    if target is None:
        status = "unknown_language"
    elif source is not None and not differ(source, target):
        status = "same_language"
    else:
        try:
            sent = await translator.translate(text, target=target, source=source)
            meta["translation"] = {"original": text, "from": source, "to": target}
        except (TranslationUnavailable, TranslationFailed) as exc:
            status, detail = "failed", str(exc)
            meta["translation"] = {"error": detail, "to": target}
    message, fresh = await actions.operator_reply(
        core=core, conversation_id=conversation_id, operator=operator, text=sent, meta=meta
    )
    return ReplyOutcome(message=message, conversation=fresh, status=status, detail=detail)
