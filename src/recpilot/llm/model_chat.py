"""A :class:`~recpilot.llm.chat.ChatSession` over any pydantic-ai ``Model`` (the scripted test models)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.direct import model_request
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    RetryInfo,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings

from recpilot.llm.chat import ChatReply, Question, budget
from recpilot.llm.modes import OUTPUT_TOOL


@dataclass
class ModelChat:
    """A :class:`ChatSession` over any pydantic-ai ``Model`` (its direct request API, no agent run).

    Its answers come through the output tool (mode ``tool``); there is no mode to step down from.
    """

    model: Model
    question: Question[Any]
    messages: list[ModelMessage]
    max_tokens: int | None = None
    step_downs: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls, model: Model, question: Question[Any], prompt: str, max_tokens: int | None = None
    ) -> ModelChat:
        """A new exchange asking ``question`` about ``prompt``."""
        request = ModelRequest(parts=[SystemPromptPart(question.instructions), UserPromptPart(prompt)])
        return cls(model, question, [request], budget(question.max_tokens, max_tokens))

    async def send(self) -> ChatReply:
        """The model's next reply."""
        settings = ModelSettings(max_tokens=self.max_tokens) if self.max_tokens else None
        response = await model_request(
            self.model,
            self.messages,
            model_settings=settings,
            model_request_parameters=self.question.parameters,
            instrument=False,
        )
        usage = response.usage.input_tokens, response.usage.output_tokens
        finish = str(response.finish_reason or "stop")
        call = _output_call(response)
        called = [p.tool_name for p in response.parts if isinstance(p, ToolCallPart)]
        if call is not None:
            text = call.args_as_json_str()
        else:
            text = "".join(p.content for p in response.parts if isinstance(p, TextPart)).strip()
        return ChatReply(
            text, call is not None, *usage, finish_reason=finish, mode="tool", called=called, raw=response
        )

    def send_back(self, reply: ChatReply, feedback: str) -> None:
        """The response, then the feedback as the output tool's retry (or retry feedback)."""
        response: ModelResponse = reply.raw
        call = _output_call(response)
        retry: ToolReturnPart | RetryFeedbackPart = (
            ToolReturnPart(
                call.tool_name,
                feedback,
                call.tool_call_id,
                outcome="retried",
                retry=RetryInfo("validation_error"),
            )
            if call is not None
            else RetryFeedbackPart(feedback, retry=RetryInfo("no_output"))
        )
        self.messages += [response, ModelRequest(parts=[retry])]


def _output_call(response: ModelResponse) -> ToolCallPart | None:
    return next(
        (p for p in response.parts if isinstance(p, ToolCallPart) and p.tool_name == OUTPUT_TOOL), None
    )


__all__ = ["ModelChat"]
