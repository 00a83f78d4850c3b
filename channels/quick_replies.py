"""Quick replies (buttons offered with a message) in each channel's own form.

Telegram shows them as an inline keyboard whose callback data is the payload (or the
title); WhatsApp as a quick-reply content template when one is configured, else as
numbered options in the text; the widget as chips (it reads `quick_replies` of the
message frame itself). A press always comes back as an ordinary customer message whose
text is the button's title, with a `button_reply` attachment carrying the payload.
"""

from __future__ import annotations

from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.types import Attachment, QuickReply

# Telegram's limit on callback_data, in bytes.
CALLBACK_DATA_BYTES = 64
# Buttons this short (and this few) share one row; longer ones get a row each. Tiny ones
# (a rating's stars, yes/no) share a row up to TINY_ROW_OF.
SHORT_TITLE = 16
ROW_OF = 3
TINY_TITLE = 5
TINY_ROW_OF = 5


def callback_data(reply: QuickReply) -> str:
    """What a Telegram button sends back: the payload, else the title (within 64 bytes)."""
    data = (reply.payload or reply.title).encode("utf-8")[:CALLBACK_DATA_BYTES]
    return data.decode("utf-8", errors="ignore")


def inline_keyboard(replies: list[QuickReply]) -> InlineKeyboardMarkup:
    """The buttons as a Telegram inline keyboard."""
    buttons = [InlineKeyboardButton(text=r.title, callback_data=callback_data(r)) for r in replies]
    if len(buttons) <= ROW_OF and all(len(r.title) <= SHORT_TITLE for r in replies):
        return InlineKeyboardMarkup(inline_keyboard=[buttons])
    if len(buttons) <= TINY_ROW_OF and all(len(r.title) <= TINY_TITLE for r in replies):
        return InlineKeyboardMarkup(inline_keyboard=[buttons])
    return InlineKeyboardMarkup(inline_keyboard=[[b] for b in buttons])


def pressed_title(query: CallbackQuery) -> str | None:
    """The title of the button a callback query is about, from the message's keyboard."""
    message = query.message
    markup = getattr(message, "reply_markup", None)
    if not isinstance(markup, InlineKeyboardMarkup):
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == query.data:
                return str(button.text)
    return None


def button_reply(title: str, payload: str | None) -> Attachment:
    """The attachment a pressed button adds to the customer's message."""
    return Attachment(kind="button_reply", name=title, payload=payload)


def numbered_options(text: str, replies: list[QuickReply]) -> str:
    """The buttons as text, for a channel without them: "1. Yes" lines after the text."""
    options = "\n".join(f"{number}. {r.title}" for number, r in enumerate(replies, start=1))
    return f"{text}\n\n{options}" if text else options
