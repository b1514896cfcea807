"""Dialogue acts read by rules: the act of a message, the shown items it refers to, and bad references;
soft modifiers; explanations in plain words."""

from __future__ import annotations

import pytest

from recpilot.agent.explain import why_sentence
from recpilot.agent.types import Reason
from recpilot.understanding.act_classifier import (
    EmbeddingActClassifier,
    build_act_classifier,
    embed_extra_installed,
)
from recpilot.understanding.acts import read_act
from recpilot.understanding.modifiers import find_modifiers
from recpilot.understanding.shown import ShownItem

TITLES = ["Heat (1995)", "Ronin (1998)", "Jurassic Park (1993)", "Fargo (1996)", "Casino (1995)"]
WORDS = ["action crime", "action crime", "steven spielberg dinosaurs", "coen brothers", "martin scorsese"]
SHOWN = [
    ShownItem(i + 1, str(100 + i), t, f"{t.lower()} {w}")
    for i, (t, w) in enumerate(zip(TITLES, WORDS, strict=True))
]


@pytest.mark.parametrize(
    ("message", "kind", "items"),
    [
        ("is the last one violent?", "ask_item", ["104"]),
        ("how old is the first one?", "ask_item", ["100"]),
        ("tell me more about number 2", "ask_item", ["101"]),
        ("is the Spielberg one any good?", "ask_item", ["102"]),
        ("what's Fargo about?", "ask_item", ["103"]),
        ("why the third one?", "ask_why", ["102"]),
        ("what makes the third one a good pick for me?", "ask_why", ["102"]),
        ("Heat or Ronin, which should I watch?", "compare", ["100", "101"]),
        ("hmm, 2 or 5?", "compare", ["101", "104"]),
        ("the first or the third?", "compare", ["100", "102"]),
        ("I've watched number one and three", "mark", ["100", "102"]),
        ("seen the first two already", "mark", ["100", "101"]),
        ("more of these", "more", []),
        ("keep them coming", "more", []),
        ("none of these appeal", "different", []),
        ("cheers, that's all", "close", []),
        ("hello there", "chitchat", []),
        ("thanks a lot", "chitchat", []),
        ("Ich möchte einen Horrorfilm aus den 80ern", "not_understood", []),
        ("🎬🍿", "not_understood", []),
    ],
)
def test_acts_and_their_references(message: str, kind: str, items: list[str]) -> None:
    act = read_act(message, SHOWN, None)
    assert act is not None
    assert act.kind == kind
    assert act.refs.items == items


@pytest.mark.parametrize(
    "message",
    [
        "a 90s comedy",
        "something like Heat but newer",
        "not the first one",
        "less violent",
        "more like the second one",
        "only after 1990",
        "I liked Fargo, anything like it?",
        "tell me about The Matrix",
    ],
)
def test_requests_and_critiques_are_left_to_the_parser(message: str) -> None:
    assert read_act(message, SHOWN, None) is None


def test_statements_of_taste_before_a_list_are_requests() -> None:
    """ "it" in a statement is no reference to a list when nothing was shown ("It" is also a title)."""
    assert read_act("I liked Heat, it was great", [], None) is None
    assert read_act("I didn't like It (2017). I want comedy films.", [], None) is None


def test_marks_say_how() -> None:
    assert [read_act(m, SHOWN, None).mark for m in ("I loved the second one", "I hated number 4")] == [  # type: ignore[union-attr]
        "liked",
        "disliked",
    ]


def _problem(message: str, shown: list[ShownItem], focus: str | None = None) -> str:
    act = read_act(message, shown, focus)
    assert act is not None
    assert not act.refs.items
    return act.refs.problem or ""


def test_bad_references_name_the_problem() -> None:
    assert "only showed 5" in _problem("tell me about the seventh one", SHOWN)
    assert "haven't shown" in _problem("is the first one any good?", [])
    assert "which of the 5" in _problem("is it funny?", SHOWN)
    focused = read_act("is it funny?", SHOWN, "103")
    assert focused is not None
    assert focused.refs.items == ["103"]
    assert focused.refs.problem is None


def test_soft_modifiers_are_cut_out_and_kept_as_moods() -> None:
    found = find_modifiers("like Se7en but less grim")
    assert found.rest == "like Se7en"  # the title keeps its capital for the parser
    assert [m.name for m in found.moods] == ["lighter"]
    assert find_modifiers("something shorter").length == "lower"
    assert find_modifiers("a 90s comedy").rest == "a 90s comedy"


def test_why_is_said_in_plain_words() -> None:
    reasons = [
        Reason(kind="constraint", text="it's a comedy, as you asked"),
        Reason(kind="model", text="people with tastes like yours rated it highly"),
    ]
    sentence = why_sentence("Clueless (1995)", reasons)
    assert sentence == (
        "I suggested Clueless (1995) because it's a comedy, as you asked and people with tastes like "
        "yours rated it highly."
    )
    assert "no particular evidence" in why_sentence("Clueless (1995)", [])


def test_a_broken_classifier_leaves_the_act_to_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    classifier = EmbeddingActClassifier()

    def missing() -> object:
        raise OSError("no model files")

    monkeypatch.setattr(classifier, "_model", missing)
    assert classifier.classify("got anything else") is None
    act = read_act("why the third one?", SHOWN, None, classifier)
    assert act is not None
    assert act.kind == "ask_why"


# Phrasings written apart from the training examples (act_examples.py) and from the acceptance set.
HELD_OUT = [
    ("request", "could you suggest a crime drama"),
    ("request", "i'm after a good documentary"),
    ("ask_item", "does number four have a happy ending"),
    ("ask_item", "is the first film suitable for teenagers"),
    ("ask_why", "what's the reasoning behind the second pick"),
    ("ask_why", "how is number three a match for me"),
    ("compare", "speed or heat, which is the better watch"),
    ("mark", "i've seen number five before"),
    ("more", "let me see a few more"),
    ("more", "anything further"),
    ("different", "not feeling any of these, something else"),
    ("chitchat", "are you a real person"),
    ("chitchat", "what's your name"),
    ("close", "that's all for tonight, bye"),
    ("not_understood", "tu peux me conseiller un film"),
]


@pytest.mark.embed
@pytest.mark.skipif(not embed_extra_installed(), reason="needs the [embed] extra")
def test_the_minilm_classifier_generalises_to_other_phrasings() -> None:
    classifier = build_act_classifier("minilm")
    assert classifier is not None
    right = [kind for kind, text in HELD_OUT if classifier.classify(text) == kind]
    assert len(right) >= 0.8 * len(HELD_OUT), right
