"""Critiques: reading them against the list shown last, and how they change the dialogue state."""

from __future__ import annotations

import pytest

from recpilot.conversation.critiques import apply_critique, parse_critique, parse_critiques, parse_selection
from recpilot.conversation.state import DialogueState

SHOWN = [("6", "Heat (1995)"), ("47", "Seven (a.k.a. Se7en) (1995)"), ("1", "Toy Story (1995)")]
GENRES = frozenset({"Action", "Thriller", "Horror", "Crime", "Comedy", "Drama", "War"})
YEAR = frozenset({"year"})


@pytest.mark.parametrize(
    ("text", "kind", "item"),
    [("not this one", "reject", "6"), ("not the first", "reject", "6"),
     ("No, not the second one!", "reject", "47"), ("not Toy Story", "reject", "1"),
     ("not the last one", "reject", "1"), ("skip number 3", "reject", "1"),
     ("more like the second one", "more_like", "47"), ("something similar to Heat", "more_like", "6"),
     ("something else", "other", None), ("none of these", "other", None)],
)  # fmt: skip
def test_item_critiques_resolve_against_the_shown_list(text: str, kind: str, item: str | None) -> None:
    critique = parse_critique(text, SHOWN, genres=GENRES, numeric=YEAR)
    assert critique is not None
    assert (critique.kind, critique.item_id, critique.problem) == (kind, item, None)


def test_attribute_and_numeric_critiques() -> None:
    violent = parse_critique("less violent", SHOWN, genres=GENRES, numeric=YEAR)
    assert violent is not None
    assert violent.kind == "less"
    assert set(violent.attributes) == {
        f"genres={g}" for g in ("Action", "Thriller", "Horror", "Crime", "War")
    }
    funny = parse_critique("a bit more funny please", SHOWN, genres=GENRES, numeric=YEAR)
    assert funny is not None
    assert (funny.kind, funny.attributes) == ("more", ["genres=Comedy"])
    older = parse_critique("something older", SHOWN, genres=GENRES, numeric=YEAR)
    assert older is not None
    assert (older.kind, older.numeric) == ("lower", "year")
    obscure = parse_critique("less popular ones", SHOWN, genres=GENRES, numeric=YEAR)
    assert obscure is not None
    assert (obscure.kind, obscure.numeric) == ("lower", "popularity"), "popularity is always available"


def test_a_critique_the_catalog_cannot_express_says_so() -> None:
    cheaper = parse_critique("something cheaper", SHOWN, genres=GENRES, numeric=YEAR)
    assert cheaper is not None
    assert cheaper.problem is not None
    assert "no price" in cheaper.problem
    shorter = parse_critique("shorter", SHOWN, genres=GENRES, numeric=YEAR)
    assert shorter is not None
    assert shorter.problem is not None
    assert "runtime" in shorter.problem
    with_runtime = parse_critique("shorter", SHOWN, genres=GENRES, numeric=YEAR | {"runtime"})
    assert with_runtime is not None
    assert (with_runtime.numeric, with_runtime.problem) == ("runtime", None)


def test_references_to_items_not_shown_name_the_problem() -> None:
    seventh = parse_critique("not the seventh one", SHOWN, genres=GENRES, numeric=YEAR)
    assert seventh is not None
    assert seventh.item_id is None
    assert seventh.problem is not None
    assert "7" in seventh.problem
    assert "3" in seventh.problem
    nothing = parse_critique("not the first", [], genres=GENRES, numeric=YEAR)
    assert nothing is not None
    assert nothing.problem is not None
    pick = parse_selection("the seventh one", SHOWN)
    assert pick is not None
    assert pick.item_id is None
    assert pick.problem is not None


@pytest.mark.parametrize(
    "text",
    ["older than Heat", "something like Heat but newer", "no horror", "not too long", "and no romance",
     "more", "like Toy Story but from the 1950s", "a 90s comedy"],
)  # fmt: skip
def test_requests_are_not_critiques(text: str) -> None:
    assert parse_critique(text, SHOWN, genres=GENRES, numeric=YEAR) is None


def test_selection_details_or_pick() -> None:
    about = parse_selection("tell me about the third one", SHOWN)
    assert about is not None
    assert (about.item_id, about.details) == ("1", True)
    take = parse_selection("I'll take the second one", SHOWN)
    assert take is not None
    assert (take.item_id, take.details) == ("47", False)


def test_applying_critiques_updates_the_estimate_not_only_a_filter() -> None:
    state = DialogueState(session_id="s", user_id="ann", shown=[["6", "47", "1"]])
    reject = parse_critique("not the first", SHOWN, genres=GENRES, numeric=YEAR)
    assert reject is not None
    record = apply_critique(state, reject)
    assert record.kind == "reject"
    assert state.rejected_items == ["6"]
    assert state.item_weights["6"] < 0, "a negative anchor: its neighbours move down too"
    like = parse_critique("more like the second one", SHOWN, genres=GENRES, numeric=YEAR)
    assert like is not None
    apply_critique(state, like)
    assert state.item_weights["47"] > 0
    less = parse_critique("less violent", SHOWN, genres=GENRES, numeric=YEAR)
    assert less is not None
    apply_critique(state, less)
    apply_critique(state, less)
    assert state.attribute_weights["genres=Crime"] == -2.0, "repeated critiques add up"
    older = parse_critique("older", SHOWN, genres=GENRES, numeric=YEAR)
    assert older is not None
    apply_critique(state, older, reference=1995.0)
    apply_critique(state, older, reference=1990.0)
    assert state.numeric_bounds["year"] == (None, 1989.0)
    other = parse_critique("something else", SHOWN, genres=GENRES, numeric=YEAR)
    assert other is not None
    apply_critique(state, other)
    assert set(state.rejected_items) == {"6", "47", "1"}, "something else drops the whole last list"
    assert [c.kind for c in state.critiques] == [
        "reject",
        "more_like",
        "less",
        "less",
        "lower",
        "lower",
        "other",
    ]
    assert DialogueState.model_validate_json(state.model_dump_json()) == state, (
        "the state round-trips as JSON"
    )


def test_several_critiques_in_one_message() -> None:
    parsed = parse_critiques("not the first one, and less violent; older", SHOWN, genres=GENRES, numeric=YEAR)
    assert [c.kind for c in parsed] == ["reject", "less", "lower"]
    assert parsed[0].item_id == "6"


def test_a_message_splits_only_when_every_clause_is_a_critique() -> None:
    assert parse_critiques("not the first one, and something with dragons", SHOWN, genres=GENRES) == []
    assert [c.kind for c in parse_critiques("not the second one", SHOWN)] == ["reject"]
