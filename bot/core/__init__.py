"""The conversation core: the model (contacts, conversations, messages, modes), storage, the
one inbound entry `handle_incoming_message`, events, reply-job queue, outbox and operators.

May import `config` only (and its own modules); never the answering engine, the wiring, a
channel or the panel. Channels see its `types` module alone.
"""
