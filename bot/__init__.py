"""Switchboard's conversation platform, in three rooms.

`bot.core` is the conversation model and the message path; `bot.answers` is the answering
engine that replies while a chat is in AI mode; `bot.server` wires them, the channels and
the panel into processes. `bot.__main__` is the command line (`python -m bot …`).
"""
