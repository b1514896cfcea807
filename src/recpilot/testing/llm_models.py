"""A scripted pydantic-ai model for unit tests of LLM code: answers from a list, records what it was asked.

Built on pydantic-ai's ``FunctionModel``, so no HTTP is involved (for the real client path use
:mod:`recpilot.testing.llm_server`). Each scripted answer is one of:

- a pydantic model or a dict: a structured answer (a call to the run's output tool, ``final_result``);
- a string: a plain text answer (``""`` is an empty answer);
- a list of ``(tool name, arguments)`` pairs: tool calls (arguments as text are sent verbatim);
- a ``ModelResponse``: sent as it is;
- a callable ``(messages, info) -> any of the above``: computed from the request (e.g. to pick ids
  from the prompt).

Example: ``LLMBrain(scripted_model(Plan(steps=[...]), {"reply": "Hi"}))`` plans, then replies "Hi".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from pydantic import BaseModel
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

Answer: TypeAlias = BaseModel | Mapping[str, Any] | str | Sequence[tuple[str, Any]] | ModelResponse
ScriptEntry: TypeAlias = Answer | Callable[[list[ModelMessage], AgentInfo], Answer]


@dataclass(frozen=True)
class ScriptedCall:
    """One request the scripted model answered.

    Attributes:
        messages: The conversation sent.
        info: The tools, output tools and instructions of the run.
    """

    messages: list[ModelMessage]
    info: AgentInfo

    @property
    def prompt(self) -> str:
        """The text of the last request (user prompt, tool results, retry feedback)."""
        last = self.messages[-1]
        if not isinstance(last, ModelRequest):
            return ""
        return "\n".join(str(getattr(part, "content", "")) for part in last.parts)

    @property
    def system(self) -> str:
        """The system prompt sent (the instructions of the question)."""
        return "\n".join(
            str(part.content)
            for message in self.messages
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, SystemPromptPart)
        )

    @property
    def user_prompt(self) -> str:
        """The first user message (the question's prompt, without instructions or feedback)."""
        for message in self.messages:
            if isinstance(message, ModelRequest):
                for part in message.parts:
                    if isinstance(part, UserPromptPart):
                        return str(part.content)
        return ""

    @property
    def tool_names(self) -> list[str]:
        """The function tools offered."""
        return [tool.name for tool in self.info.function_tools]


class ScriptedModel(FunctionModel):
    """A ``FunctionModel`` that answers from a script (see the module docstring).

    Args:
        script: The answers, in order.
        usage: Token counts reported for every answer (pydantic-ai estimates them when None).
        model_name: The name reported in responses.

    Attributes:
        calls: Every request answered, in order.
    """

    def __init__(
        self,
        script: Sequence[ScriptEntry],
        *,
        usage: RequestUsage | None = None,
        model_name: str = "scripted",
    ) -> None:
        super().__init__(self._answer, model_name=model_name)
        self._script: deque[ScriptEntry] = deque(script)
        self._usage = usage
        self.calls: list[ScriptedCall] = []

    @property
    def remaining(self) -> int:
        """Answers not used yet."""
        return len(self._script)

    def push(self, *entries: ScriptEntry) -> None:
        """Append answers to the script."""
        self._script.extend(entries)

    def _answer(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.calls.append(ScriptedCall(list(messages), info))
        if not self._script:
            raise RuntimeError(f"the scripted model has no answer left for request {len(self.calls)}")
        entry = self._script.popleft()
        answer = entry(messages, info) if callable(entry) else entry
        response = to_response(answer, info)
        if self._usage is not None:
            response.usage = RequestUsage(
                input_tokens=self._usage.input_tokens, output_tokens=self._usage.output_tokens
            )
        return response


def to_response(answer: Answer, info: AgentInfo) -> ModelResponse:
    """The ``ModelResponse`` for one scripted answer."""
    if isinstance(answer, ModelResponse):
        return answer
    if isinstance(answer, str):
        return ModelResponse(parts=[TextPart(answer)])
    output_tool = info.output_tools[0].name if info.output_tools else "final_result"
    if isinstance(answer, BaseModel):
        return ModelResponse(parts=[ToolCallPart(output_tool, answer.model_dump(mode="json"))])
    if isinstance(answer, Mapping):
        return ModelResponse(parts=[ToolCallPart(output_tool, dict(answer))])
    return ModelResponse(parts=[ToolCallPart(name, args) for name, args in answer])


def scripted_model(*script: ScriptEntry, usage: RequestUsage | None = None) -> ScriptedModel:
    """A :class:`ScriptedModel` answering ``script`` in order."""
    return ScriptedModel(script, usage=usage)
