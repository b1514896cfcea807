"""The agent's safeguards around a turn: held calls the user confirms, the user's own request ranked
when a plan contradicted it, and the audit of the turn's memory writes."""

from __future__ import annotations

import dataclasses

from recpilot.agent.brain import Act, ToolRunner, Turn
from recpilot.agent.grounding import ground
from recpilot.agent.requested import is_confirmation
from recpilot.agent.types import HardConstraints, ItemId, TraceStep
from recpilot.memory.audit import AuditEntry
from recpilot.memory.base import ProfileMemory
from recpilot.memory.dialogue import DialogueState
from recpilot.safety.request import TOOL_WRITES, RequestedWrite


def confirmed_call(turn: Turn, runner: ToolRunner, state: DialogueState) -> Act | None:
    """A "yes" to a call a policy held for confirmation runs it (the act of the turn); any other message
    drops the held call (None: the brain answers the turn)."""
    pending = state.pending_call
    context = runner.context
    if pending is None or context.dialogue is None:
        return None
    context.dialogue.pending_call = None
    if not is_confirmation(turn.message):
        return None
    tool = str(pending.get("tool", ""))
    kind = TOOL_WRITES.get(tool)
    request = context.request
    args = pending.get("args") or {}
    context.request = dataclasses.replace(
        request,
        confirmed=request.confirmed | {tool},
        writes=request.writes | ({kind} if kind is not None else set()),
        allowed=(*request.allowed, RequestedWrite.exactly(tool, args)),
        via="confirmation",
    )
    record = runner.call(tool, args)
    reply = (
        f"Done: {record.output.summary}."
        if record.output is not None
        else f"That did not work: {record.error}."
    )
    return Act(intent="forget", reply=reply, note=f"confirmed {tool}")


def contradicted(trace: list[TraceStep]) -> bool:
    """Whether grounding recorded a plan that contradicted the user's stated constraints."""
    return any(step.name == "plan_contradicts_user" for step in trace)


def rank_stated(
    runner: ToolRunner, stated: HardConstraints, constraints: HardConstraints, k: int
) -> list[tuple[ItemId, float]]:
    """When a plan that contradicted the user left nothing, rank what the user's own words ask for."""
    context = runner.context
    context.candidates = type(context.candidates)()
    runner.call(
        "search_catalog",
        {
            "attributes": stated.attributes,
            "exclude_attributes": stated.exclude_attributes,
            "numeric": {name: rng.model_dump() for name, rng in stated.numeric.items()},
        },
    )
    runner.call("rank_candidates", {"k": k})
    return ground(context.catalog, context.candidates.ranked, constraints, runner.trace)


def audit_turn(memory: ProfileMemory, written: list[AuditEntry], turn: Turn, *, undone: int) -> None:
    """Append the turn's memory writes (``written``: listed before any rollback) and, when the turn was
    rolled back, the rollback to the audit log."""
    entries = [e.model_copy(update={"session_id": turn.session_id}) for e in written]
    if undone:
        provenance = entries[0].provenance if entries else ""
        entries.append(
            AuditEntry(
                user_id=turn.user_id,
                action="rolled back",
                record="preference",
                detail=f"{undone} write(s) undone: the turn's reply failed, or a call was refused",
                provenance=provenance,
                session_id=turn.session_id,
            )
        )
    if entries:
        memory.record_audit(turn.user_id, entries)
