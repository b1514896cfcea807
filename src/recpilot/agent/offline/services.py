"""The offline brain's non-recommendation turns: details, profile, remember and forget, through the tools."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from recpilot.agent.brain import ToolRunner
from recpilot.agent.offline.item_answers import rating_of
from recpilot.agent.offline.replies import details_reply, genre_label, profile_reply
from recpilot.agent.types import Plan, PlanStep
from recpilot.understanding.request import ParsedRequest, PreferenceNote
from recpilot.understanding.vocabulary import GENRE_ATTRIBUTE, CatalogVocabulary, pretty_title, title_forms

_LIKED_RATING = 4.0
_ID_SUFFIX = re.compile(r"\s*\(id [^)]*\)$")
_FAVOURITE_GENRES = 3


class ServiceReplies:
    """Runs one non-recommendation intent and words the answer.

    Args:
        tools: The turn's tool runner.
        vocabulary: The catalog vocabulary.
    """

    def __init__(self, tools: ToolRunner, vocabulary: CatalogVocabulary) -> None:
        self.tools = tools
        self.vocabulary = vocabulary

    def details(self, parsed: ParsedRequest) -> str:
        """Catalog facts about the titles asked for ("tell me about The Matrix")."""
        names = [str(s.item_id) if s.item_id is not None else s.text for s in parsed.subjects]
        records = self.tools.run_plan(
            Plan(intent="details", steps=[PlanStep(tool="item_details", args={"items": names})])
        )
        record = records[0] if records else None
        if record is None or not record.ok or record.output is None:
            return "I couldn't look that up just now; please try again."
        rows: list[dict[str, Any]] = record.output.data.get("items", [])
        missing = [
            parsed.subjects[i].text for i, n in enumerate(names) if n in record.output.data.get("missing", [])
        ]
        stats = [rating_of(self.tools.context, row["item_id"]) for row in rows]
        reply = details_reply(rows, stats, missing)
        if rows:
            reply += (
                f" Ask for “something like {_short_title(str(rows[0].get('title', '')))}” for similar picks."
            )
        return reply

    def profile(self) -> str:
        """What is remembered about the user, and what their history says."""
        records = self.tools.run_plan(Plan(intent="profile", steps=[PlanStep(tool="user_profile")]))
        record = records[0] if records else None
        if record is None or not record.ok or record.output is None:
            return "I couldn't read your profile just now; please try again."
        likes, dislikes, other = [], [], []
        for pref in record.output.data.get("preferences", []):
            value = _attribute_label(str(pref["value"]))
            if pref["kind"] in ("like_item", "like_attribute"):
                likes.append(value)
            elif pref["kind"] in ("dislike_item", "dislike_attribute"):
                dislikes.append(value)
            else:
                other.append(value)
        history = int(record.output.data.get("history_size", 0))
        return profile_reply(likes, dislikes, other, history, self._favourite_genres())

    def forget(self, parsed: ParsedRequest) -> str:
        """Delete remembered preferences: the ones named, or all of them."""
        tools = self.tools
        if parsed.forget_all:
            records = tools.run_plan(Plan(intent="forget", steps=[PlanStep(tool="user_profile")]))
            prefs = records[0].output.data.get("preferences", []) if records and records[0].output else []
            removed = sum(
                _removed(tools.call("forget_preference", {"preference_id": p["id"]})) for p in prefs
            )
            if not removed:
                return "There was nothing to forget: I had no preferences of yours stored."
            return (
                f"Done: I forgot all {removed} preference{'s' if removed != 1 else ''} I had stored for you."
            )
        if not parsed.forget:
            return "Tell me what to forget, for example “forget that I like Heat”, or “forget everything”."
        steps = [PlanStep(tool="forget_preference", args={"value": note.value}) for note in parsed.forget]
        records = tools.run_plan(Plan(intent="forget", steps=steps))
        done = [n for n, r in zip(parsed.forget, records, strict=False) if _removed(r)]
        missed = [n for n in parsed.forget if n not in done]
        parts = []
        if done:
            parts.append(f"Done: I forgot {_describe_all(done)}.")
        if missed:
            parts.append(f"I had nothing stored about {_join([_label(n) for n in missed])}.")
        return " ".join(parts)

    def remember(self, parsed: ParsedRequest) -> str:
        """Store the preferences stated after "remember that ..."."""
        notes = self.remember_stated(parsed, intent="remember")
        if notes:
            return " ".join(notes)
        if parsed.unresolved:
            names = _join([f"“{u}”" for u in parsed.unresolved])
            return f"I couldn't find {names} in the catalog, so I didn't store it."
        return "Tell me what to remember, for example “remember that I love westerns”."

    def remember_stated(self, parsed: ParsedRequest, *, intent: str = "recommend") -> list[str]:
        """Remember what the user said about their taste; returns sentences for the reply."""
        if not parsed.remember:
            return []
        steps = [
            PlanStep(tool="remember_preference", args={"kind": n.kind, "value": n.value})
            for n in parsed.remember
        ]
        if intent == "remember":
            records = self.tools.run_plan(Plan(intent="remember", steps=steps))
        else:
            records = [self.tools.call(step.tool, step.args) for step in steps]
        stored = [n for n, r in zip(parsed.remember, records, strict=False) if r.ok]
        return [f"I'll remember {_describe_all(stored)}."] if stored else []

    def _favourite_genres(self) -> list[str]:
        ctx = self.tools.context
        if ctx.dataset_user is None or GENRE_ATTRIBUTE not in ctx.catalog.dataset.catalog.columns:
            return []
        data = ctx.catalog.dataset
        row = data.matrix("rating")[data.users.index_of(ctx.dataset_user)]
        liked = row.indices[row.data >= _LIKED_RATING] if row.nnz else np.zeros(0, dtype=np.int64)
        genres = data.catalog[GENRE_ATTRIBUTE].to_numpy()
        counts = Counter(g for i in liked.tolist() for g in genres[i])
        return [g for g, _ in counts.most_common(_FAVOURITE_GENRES)]


def _removed(record: Any) -> int:
    return int(record.output.data.get("removed", 0)) if record.ok and record.output is not None else 0


def _attribute_label(value: str) -> str:
    """ "genres=Musical" -> "musicals"; "Heat (1995) (id 6)" -> "Heat (1995)"."""
    name, _, attribute_value = value.partition("=")
    if attribute_value and " " not in name:
        return genre_label(attribute_value)
    return _ID_SUFFIX.sub("", value)


def _label(note: PreferenceNote) -> str:
    if note.kind in ("like_attribute", "dislike_attribute"):
        return genre_label(note.label)
    return pretty_title(note.label) if note.kind in ("like_item", "dislike_item") else note.label


def _describe_all(notes: list[PreferenceNote]) -> str:
    likes = [_label(n) for n in notes if n.kind.startswith("like")]
    dislikes = [_label(n) for n in notes if n.kind.startswith("dislike")]
    other = [f"“{n.label}”" for n in notes if n.kind == "constraint"]
    parts = []
    if likes:
        parts.append(f"that you like {_join(likes)}")
    if dislikes:
        parts.append(f"that you don't like {_join(dislikes)}")
    parts.extend(other)
    return _join(parts)


def _join(values: list[str]) -> str:
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " and " + values[-1]


def _short_title(title: str) -> str:
    return title_forms(title)[0] or title
