"""Typed answers: parse, check, and repair with the problem fed back, a bounded number of times.

:func:`ask_typed` is the loop every LLM user runs: send the question, parse the reply as the output
model (the tool call's arguments, or the first JSON object of the text), run the caller's own
checks, and on a problem send it back to the model with the reason (``repairs`` times at most). An
answer cut at the token budget (``finish_reason: "length"``) is sent back with a request to be
shorter. What every call cost lands in :class:`CallBooks`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import BaseModel, ValidationError

from recpilot.llm.chat import ChatReply, ChatSession
from recpilot.llm.errors import LLMError
from recpilot.llm.modes import OUTPUT_TOOL, OutputMode, extract_json
from recpilot.types import Usage

OutputT = TypeVar("OutputT", bound=BaseModel)


class OutputRejectedError(LLMError):
    """The model's answers failed validation every time it was asked.

    Args:
        problem: What was wrong with the last answer.
    """

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"the model's answer was rejected: {problem}")


@dataclass
class CallBooks:
    """What the model requests of one unit of work cost: the one set of books every LLM user keeps.

    :meth:`LLMClient.ask <recpilot.llm.client.LLMClient.ask>` fills them: the answered requests from
    each reply, the HTTP attempts from the transport (retries included), the step-downs from the chat.

    Attributes:
        requests: Requests the model answered (repairs included).
        attempts: HTTP requests sent (retries and step-downs included; 0 for an in-process model).
        refused: Requests the remote-request guard refused (never sent).
        input_tokens: Prompt tokens reported.
        output_tokens: Completion tokens reported.
        rejected: Answers sent back for failing validation or a check.
        truncated: Answers cut at the token budget.
        step_downs: Request shapes the server refused (an output mode, or the token-limit field), each
            re-sent in another shape within the same call (a request, but not a failed call: the
            shape is learned, the call goes on).
        limit_cuts: Cuts of the endpoint's adaptive concurrency limit that this call's attempts caused
            (a timeout, an HTTP 429 or 503; see :mod:`recpilot.llm.ratelimit`).
        mode: The output mode of the last answered request ("" before any).
        problems: The reasons of rejected answers, in order (one line each).
    """

    requests: int = 0
    attempts: int = 0
    refused: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    rejected: int = 0
    truncated: int = 0
    step_downs: int = 0
    limit_cuts: int = 0
    mode: OutputMode | Literal[""] = ""
    problems: list[str] = field(default_factory=list)

    def count(self, reply: ChatReply) -> None:
        """Add one answered request."""
        self.requests += 1
        self.input_tokens += reply.input_tokens
        self.output_tokens += reply.output_tokens
        self.mode = reply.mode
        if reply.finish_reason == "length":
            self.truncated += 1

    @property
    def calls(self) -> int:
        """Requests that cost a model call: every HTTP attempt (retries cost too), else every answer."""
        return max(self.attempts, self.requests)

    @property
    def failures(self) -> int:
        """Calls that gave no usable answer: unanswered attempts, rejected answers, refused requests.

        A step-down is not a failure (see :attr:`step_downs`).
        """
        unanswered = max(0, self.calls - self.requests - self.step_downs)
        return unanswered + self.rejected + self.refused

    def usage(self) -> Usage:
        """These books as a turn's :class:`~recpilot.types.Usage`."""
        return Usage(
            llm_calls=self.calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            failures=self.failures,
            step_downs=self.step_downs,
        )


def validate_answer(text: str, via_tool: bool, output: type[OutputT]) -> tuple[OutputT | None, str]:
    """The typed answer in a model's reply, or why there is none.

    Args:
        text: The output tool's arguments, or the reply's text (JSON, possibly inside prose or a fence).
        via_tool: Whether ``text`` came from the output tool.
        output: The answer's model.
    """
    payload = text if via_tool else extract_json(text)
    if payload is None:
        shown = " ".join(text.split())[:80]
        return None, f"no JSON object in the answer (got {shown!r})" if shown else "the answer was empty"
    try:
        try:
            return output.model_validate_json(payload), ""
        except ValidationError as exc:
            if exc.errors()[0]["type"] != "json_invalid":
                raise
            # Small models put raw newlines and tabs inside strings; lenient JSON reads them.
            try:
                lenient = json.loads(payload, strict=False)
            except ValueError:
                raise exc from None
            return output.model_validate(lenient), ""
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors())
        return None, f"invalid answer ({details[:300]})"


async def ask_typed(
    chat: ChatSession,
    output: type[OutputT],
    books: CallBooks,
    *,
    repairs: int = 1,
    check: Callable[[OutputT], list[str]] | None = None,
) -> OutputT:
    """The model's typed answer in ``chat``, repaired at most ``repairs`` times.

    Raises:
        OutputRejectedError: Every answer failed validation or ``check``.
        LLMError: The request itself failed (HTTP error, unusable body).
    """
    problem = ""
    for _ in range(1 + repairs):
        try:
            reply = await chat.send()
        finally:  # a step-down is booked whether or not the weaker mode then got an answer
            books.step_downs += len(chat.step_downs)
            chat.step_downs.clear()
        books.count(reply)
        answer, problem = validate_answer(reply.text, reply.via_tool, output)
        if answer is None and not reply.via_tool and reply.called and not reply.text:
            problem = f"unknown tool {reply.called[0]!r}; the only tool is {OUTPUT_TOOL}"
        if answer is not None:
            problem = "; ".join(check(answer)) if check is not None else ""
            if not problem:
                return answer
        if reply.finish_reason == "length":
            problem = f"the answer was cut at the token limit ({problem}); answer again, much shorter"
        books.rejected += 1
        books.problems.append(problem[:200])
        where = f"with the {OUTPUT_TOOL} tool" if reply.via_tool else "as one JSON object"
        chat.send_back(reply, f"{problem}. Answer again {where}.")
    raise OutputRejectedError(problem)


__all__ = ["CallBooks", "OutputRejectedError", "ask_typed", "validate_answer"]
