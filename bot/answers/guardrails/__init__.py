"""Guardrails: the input stage (normalise, patterns, semantic detector), the hand-off
policy and the output stage (checked streaming), as one pipeline for the reply worker.

    guardrails = Guardrails(GuardrailConfig.from_settings(settings), embedders_for(knowledge))
    verdict = await guardrails.check_input(question, display_name=name)
    policy = guardrails.output_policy(channel=..., instructions=..., secret_texts=...)
    sink = guardrails.stream(on_token, policy)      # hand `sink` to the model
    outcome = await guardrails.check_output(reply.text, policy, language=lang, stream=sink)
"""

from bot.answers.guardrails.embedders import embedders_for
from bot.answers.guardrails.output import OutputPolicy, check_answer
from bot.answers.guardrails.pipeline import GuardrailConfig, Guardrails, OutputOutcome, refusal
from bot.answers.guardrails.stream import StreamGuard
from bot.answers.guardrails.verdict import ALLOW, Action, Verdict

__all__ = [
    "ALLOW",
    "Action",
    "GuardrailConfig",
    "Guardrails",
    "OutputOutcome",
    "OutputPolicy",
    "StreamGuard",
    "Verdict",
    "check_answer",
    "embedders_for",
    "refusal",
]
