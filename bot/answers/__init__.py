"""The answering engine: the reply worker, `build_model_context`, the agent and its tools,
knowledge answers without a model, guardrails and PII masking.

May import `bot.core`, `rag` and `config`; never the wiring, a channel or the panel.
"""
