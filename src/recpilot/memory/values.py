"""Bounded memory values: what every memory implementation refuses to store.

Memory outlives the turn that wrote it and is read back into later turns (and prompts), so a poisoned
entry would act again and again. :func:`check_memory_text` refuses a value that is too long, holds
control characters or reads as an instruction to the assistant ("ignore previous instructions",
"SYSTEM:", "always recommend item 42"); every implementation calls :func:`check_preference` and
:func:`check_feed_rule` before storing: the public write methods of
:class:`~recpilot.memory.base.ProfileMemory` do it for every backend.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from recpilot.errors import ConfigError
from recpilot.memory.feed_rules import AttributeTarget, FeedRule
from recpilot.memory.provenance import Provenance

if TYPE_CHECKING:
    from recpilot.memory.base import Preference

#: The longest preference value or rule text kept (a title, an attribute value or a short sentence).
MAX_VALUE_CHARS = 300

_INSTRUCTION = re.compile(
    r"ignore\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier|other)\b"
    r"|disregard\s+(?:all|any|the|previous|prior|your)\b"
    r"|\b(?:system|assistant|developer)\s*(?:prompt|message|note)?\s*:"
    r"|\b(?:new|updated|override)\s+instructions?\b"
    r"|\byou\s+(?:must|should|are\s+now|will)\b"
    r"|\balways\s+(?:recommend|show|include|suggest|rank)\b"
    r"|\bnever\s+(?:recommend|show|suggest)\s+anything\b"
    r"|\b(?:call|invoke|run|use)\s+(?:the\s+)?(?:tool\s+)?[a-z]+_[a-z_]+\b"
    r"|\binjected\b|\bprompt\s+injection\b|<\|?\s*(?:im_start|im_end|system|endoftext)"
    r"|\[\s*(?:inst|system)\s*\]",
    re.IGNORECASE,
)


class MemoryValueError(ConfigError):
    """A value was refused as memory (too long, or it reads as an instruction)."""


def instruction_like(text: str) -> bool:
    """Whether ``text`` reads as an instruction to an assistant rather than a preference."""
    return bool(_INSTRUCTION.search(text))


def check_memory_text(text: str, *, what: str) -> None:
    """Refuse ``text`` as memory when it is too long or reads as instructions (control characters are
    stored, and neutralised wherever text is echoed: :func:`recpilot.safety.neutralise`).

    Raises:
        MemoryValueError: Naming ``what`` and the problem.
    """
    if len(text) > MAX_VALUE_CHARS:
        raise MemoryValueError(f"{what} has {len(text)} characters; memory keeps at most {MAX_VALUE_CHARS}")
    if instruction_like(text):
        raise MemoryValueError(f"{what} reads as an instruction, not a preference; it was not stored")


def check_preference(preference: Preference) -> None:
    """Refuse a preference whose value is not storable (see :func:`check_memory_text`)."""
    check_memory_text(preference.value, what=f"the {preference.kind} value")


def check_feed_rule(rule: FeedRule) -> None:
    """Refuse a feed rule whose target value, wording or provenance is not storable."""
    if isinstance(rule.target, AttributeTarget):
        check_memory_text(rule.target.attribute, what="the rule's attribute")
        check_memory_text(rule.target.value, what="the rule's value")
    if instruction_like(rule.text):
        raise MemoryValueError(
            "the rule's wording reads as an instruction, not a preference; it was not stored"
        )
    check_provenance(rule.provenance, what="the rule's provenance")


def check_provenance(provenance: Provenance, *, what: str) -> None:
    """Refuse a provenance whose fields are out of their bounds (a copy made with ``model_copy``
    skips the model's validation) or whose session id is not storable text."""
    try:
        Provenance.model_validate(provenance.model_dump())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MemoryValueError(f"{what} is not valid ({problems}); it was not stored") from None
    check_memory_text(provenance.session_id, what=f"{what}'s session id")


def storable(text: str) -> str:
    """``text`` as every memory stores it: NUL characters (PostgreSQL refuses them) replaced, so every
    backend keeps the same value."""
    return text.replace("\x00", "\ufffd")


def bounded_text(text: str) -> str:
    """A rule's wording as stored: cut to :data:`MAX_VALUE_CHARS` (the user's words, kept for listings)."""
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
