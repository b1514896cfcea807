"""Feed commands: parsing into typed rules, durations, the sequel heuristic, and apply_feed_rules."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from recpilot.conversation.feed import (
    BOOST,
    AttributeTarget,
    FeedRule,
    FeedVocabulary,
    NumericTarget,
    TitlePatternTarget,
    apply_feed_rules,
    is_sequel_title,
    parse_feed_command,
    parse_rules_request,
)
from recpilot.conversation.feed_store import add_feed_rules, describe_rules, remove_feed_rules
from recpilot.data.dataset import Dataset
from recpilot.memory import InMemoryProfileMemory
from recpilot.types import ItemList

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC).timestamp()  # a Wednesday afternoon


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    items = pd.DataFrame(
        {
            "item_id": [1, 2, 3, 4, 5, 6],
            "title": [
                "Alien (1979)",
                "Aliens 2 (1986)",
                "Toy Story (1995)",
                "Toy Story 2 (1999)",
                "Planet Earth (2006)",
                "Godfather: Part II, The (1974)",
            ],
            "year": [1979, 1986, 1995, 1999, 2006, None],
            "genres": [
                ["Horror", "Sci-Fi"],
                ["Action", "Horror"],
                ["Animation", "Comedy"],
                ["Animation", "Comedy"],
                ["Documentary"],
                ["Crime", "Drama"],
            ],
        }
    )
    interactions = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 3, 5], "rating": [4.0, 5.0, 3.0]})
    return Dataset.from_frames(interactions, items, name="feed-test")


@pytest.fixture(scope="module")
def vocabulary(dataset: Dataset) -> FeedVocabulary:
    return FeedVocabulary.from_dataset(dataset)


# -- parsing -----------------------------------------------------------------------------------------------


_HORROR = AttributeTarget(attribute="genres", value="Horror")
_SEQUELS = TitlePatternTarget(pattern="sequel")
_DOCS = AttributeTarget(attribute="genres", value="Documentary")
_COMEDY = AttributeTarget(attribute="genres", value="Comedy")
_DAY = 86_400


@pytest.mark.parametrize(
    ("text", "effect", "target", "lasts"),
    [
        ("no more horror this week", "exclude", _HORROR, 7 * _DAY),
        ("show me more documentaries", "boost", _DOCS, None),
        ("stop recommending sequels", "exclude", _SEQUELS, None),
        # NOW is 15:30 UTC: "today" lasts until midnight, 8.5 hours.
        ("only movies after 2000 for today", "require", NumericTarget(attribute="year", min=2001),
         8.5 * 3_600),
        ("No horror for 3 days!", "exclude", _HORROR, 3 * _DAY),
        ("only comedies until I say otherwise", "require", _COMEDY, None),
        ("don't show me any sequels for 2 weeks", "exclude", _SEQUELS, 14 * _DAY),
        ("only films from the 90s this month", "require", NumericTarget(attribute="year", min=1990, max=1999),
         30 * _DAY),
    ],
)  # fmt: skip
def test_commands_become_typed_time_bounded_rules(
    vocabulary: FeedVocabulary, text: str, effect: str, target: object, lasts: float | None
) -> None:
    command = parse_feed_command(text, vocabulary, now=NOW)
    assert command is not None
    assert [(r.effect, r.target) for r in command.rules] == [(effect, target)]
    rule = command.rules[0]
    assert rule.text == text
    assert rule.created_at == NOW
    if lasts is None:
        assert rule.expires_at is None
    else:
        assert rule.expires_at == pytest.approx(NOW + lasts)


def test_a_command_can_name_several_targets(vocabulary: FeedVocabulary) -> None:
    command = parse_feed_command("no more horror or action this week", vocabulary, now=NOW)
    assert command is not None
    assert {r.target.describe() for r in command.rules} == {"genres=Horror", "genres=Action"}


@pytest.mark.parametrize(
    "text",
    ["no horror", "only comedies", "comedies, no horror", "show me more", "more like the second one", "more",
     "something to watch tonight", "less violent", "no more like this"],
)  # fmt: skip
def test_requests_and_critiques_are_not_commands(vocabulary: FeedVocabulary, text: str) -> None:
    assert parse_feed_command(text, vocabulary, now=NOW) is None


def test_a_target_the_catalog_lacks_is_reported(vocabulary: FeedVocabulary) -> None:
    command = parse_feed_command("no more westerns this week", vocabulary, now=NOW)
    assert command is not None
    assert command.rules == []
    assert command.unknown == ["westerns"]


def test_rules_requests(vocabulary: FeedVocabulary) -> None:
    assert parse_rules_request("what are my rules?", vocabulary).action == "list"  # type: ignore[union-attr]
    removal = parse_rules_request("remove rule #2 and 5", vocabulary)
    assert removal is not None
    assert (removal.action, removal.ids) == ("remove", [2, 5])
    allow = parse_rules_request("allow horror again", vocabulary)
    assert allow is not None
    assert allow.targets == [AttributeTarget(attribute="genres", value="Horror")]
    assert parse_rules_request("horror movies", vocabulary) is None


@pytest.mark.parametrize(
    "text",
    ["remove my horror rule", "delete the no horror rule", "remove my no-horror rule",
     "drop the horror filter", "cancel my rule about horror", "I'm ok with horror again"],
)  # fmt: skip
def test_a_rule_named_by_its_target_is_a_removal(vocabulary: FeedVocabulary, text: str) -> None:
    """Ways people name the rule they want gone: before, they were read as "forget <words>", so the
    rule stayed and the default policy refused the LLM's removal the user had asked for."""
    removal = parse_rules_request(text, vocabulary)
    assert removal is not None
    assert (removal.action, removal.targets) == (
        "remove",
        [AttributeTarget(attribute="genres", value="Horror")],
    )


@pytest.mark.parametrize("text", ["clear my rules", "remove my rules", "remove rule"])
def test_a_removal_that_names_no_target_is_not_read_as_one(vocabulary: FeedVocabulary, text: str) -> None:
    assert parse_rules_request(text, vocabulary) is None


def test_saying_add_a_rule_makes_a_standing_rule(vocabulary: FeedVocabulary) -> None:
    """ "no horror" alone refines one request; "add a rule: no horror" is a standing rule."""
    assert parse_feed_command("no horror", vocabulary, now=NOW) is None
    for text in ("add a rule: no horror", "new rule: no horror", "please create a rule that says no horror"):
        command = parse_feed_command(text, vocabulary, now=NOW)
        assert command is not None, text
        assert [(r.effect, r.target.describe(), r.expires_at) for r in command.rules] == [
            ("exclude", "genres=Horror", None)
        ]


@pytest.mark.parametrize(
    ("title", "sequel"),
    [("Toy Story 2 (1999)", True), ("Godfather: Part II, The (1974)", True), ("Rocky V (1990)", True),
     ("Star Wars: Episode V - The Empire Strikes Back (1980)", True), ("Apollo 13 (1995)", False),
     ("Se7en (1995)", False), ("2001: A Space Odyssey (1968)", False), ("Toy Story (1995)", False)],
)  # fmt: skip
def test_sequel_heuristic(title: str, sequel: bool) -> None:
    assert is_sequel_title(title) is sequel


# -- applying ------------------------------------------------------------------------------------------------


def _rule(effect: str, target: object, expires_at: float | None = None) -> FeedRule:
    return FeedRule.model_validate(
        {"user_id": "ann", "effect": effect, "target": target, "expires_at": expires_at}
    )


RANKED = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5), (6, 0.4)]


def test_exclude_require_and_boost(dataset: Dataset) -> None:
    horror = AttributeTarget(attribute="genres", value="horror")
    assert [i for i, _ in apply_feed_rules([_rule("exclude", horror)], RANKED, dataset)] == [3, 4, 5, 6]
    sequels = TitlePatternTarget(pattern="sequel")
    assert [i for i, _ in apply_feed_rules([_rule("exclude", sequels)], RANKED, dataset)] == [1, 3, 5]
    recent = NumericTarget(attribute="year", min=1990)
    assert [i for i, _ in apply_feed_rules([_rule("require", recent)], RANKED, dataset)] == [3, 4, 5], (
        "an item without a year does not satisfy a required range"
    )
    docs = AttributeTarget(attribute="genres", value="Documentary")
    boosted = apply_feed_rules([_rule("boost", docs)], RANKED, dataset)
    assert [i for i, _ in boosted] == [1, 2, 3, 5, 4, 6], "the documentary moves up, the rest keep order"
    assert dict(boosted)[5] == pytest.approx(0.2 + BOOST), "scaled to [0, 1] plus the boost"
    assert dict(boosted)[1] == pytest.approx(1.0)


def test_expired_rules_are_ignored_and_k_truncates(dataset: Dataset) -> None:
    horror = AttributeTarget(attribute="genres", value="Horror")
    expired = _rule("exclude", horror, expires_at=time.time() - 1)
    assert apply_feed_rules([expired], RANKED, dataset, k=3) == RANKED[:3]
    assert apply_feed_rules([_rule("exclude", horror, time.time() + 60)], RANKED, dataset, k=1) == [(3, 0.7)]


def test_item_lists_and_unknown_ids(dataset: Dataset) -> None:
    ranked = ItemList(np.array([99, 2, 3]), np.array([3.0, 2.0, 1.0], dtype=np.float32), "ease")
    horror = AttributeTarget(attribute="genres", value="Horror")
    out = apply_feed_rules([_rule("exclude", horror)], ranked, dataset)
    assert isinstance(out, ItemList)
    assert out.model == "ease"
    assert out.ids() == [99, 3], "an unknown id matches no target, so an exclusion keeps it"
    assert apply_feed_rules([_rule("require", horror)], ranked, dataset).ids() == [2]
    as_text = apply_feed_rules([_rule("exclude", horror)], [("1", 1.0), ("3", 0.5)], dataset)
    assert [i for i, _ in as_text] == ["3"], "ids given as text are matched too"


# -- keeping rules -------------------------------------------------------------------------------------------


def test_latest_instruction_wins_and_removal_reports_missing_ids() -> None:
    memory = InMemoryProfileMemory()
    horror = AttributeTarget(attribute="genres", value="Horror")
    boost = add_feed_rules(memory, "ann", [_rule("boost", horror)]).stored[0]
    change = add_feed_rules(memory, "ann", [_rule("exclude", horror)])
    assert change.removed == [boost], "the opposite rule about the same target is replaced"
    assert [r.effect for r in memory.feed_rules("ann")] == ["exclude"]
    missing = remove_feed_rules(memory, "ann", ids=[12345])
    assert missing.removed == []
    assert missing.missing == ["#12345"]
    assert len(memory.feed_rules("ann")) == 1, "nothing else is touched"


def test_listing_marks_expired_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = InMemoryProfileMemory()
    horror = AttributeTarget(attribute="genres", value="Horror")
    add_feed_rules(memory, "ann", [_rule("exclude", horror, expires_at=time.time() + 60)])
    add_feed_rules(memory, "ann", [_rule("exclude", TitlePatternTarget(pattern="sequel"))])
    later = time.time() + 3_600
    monkeypatch.setattr(time, "time", lambda: later)
    listing = describe_rules(memory.feed_rules("ann", include_expired=True))
    active, _, expired = listing.partition("Expired (no longer applied):")
    assert "sequel" in active
    assert "Horror" not in active
    assert "genres=Horror" in expired


@pytest.mark.parametrize("amount", ["999999999 weeks", "10000 months", "9" * 400 + " days"])
def test_endless_durations_mean_until_removed(vocabulary: FeedVocabulary, amount: str) -> None:
    # A span past what a date can show (or a float can hold) used to crash parsing or the listing.
    command = parse_feed_command(f"no more horror for {amount}", vocabulary, now=NOW)
    assert command is not None
    (rule,) = command.rules
    assert rule.expires_at is None
    assert command.until == "until you remove it"
    assert "until you remove it" in rule.describe(NOW)


def test_a_rule_far_in_the_future_is_still_described() -> None:
    rule = FeedRule(user_id="ann", effect="exclude", target=_HORROR, expires_at=1e18)
    assert rule.describe(NOW).endswith("(until a date too far to show)")


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_a_rule_cannot_expire_at_a_non_finite_time(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        FeedRule(user_id="ann", effect="exclude", target=_HORROR, expires_at=bad)
