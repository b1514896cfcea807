"""ReDial: the loader, the text extractor on real dialogues, title mapping, recommendation cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.crs.redial import (
    MovieMatcher,
    RedialDialogue,
    classify,
    extract_preferences,
    load_movie_names,
    load_redial,
)
from recpilot.crs.redial_eval import (
    evaluate_redial,
    preference_message,
    recommendation_cases,
)
from recpilot.data.builtin import load_builtin
from recpilot.errors import DataError
from recpilot.testing.backends import shared_data_dir
from recpilot.tools.context import normalise_title
from recpilot.understanding import CatalogVocabulary

REDIAL = shared_data_dir() / "redial-test"


@pytest.fixture(scope="module")
def dialogues() -> dict[str, RedialDialogue]:
    path = REDIAL / "test_data.jsonl"
    if not path.is_file():
        pytest.skip(f"the ReDial test split is not at {path}")
    return {d.conversation_id: d for d in load_redial(path)}


@pytest.fixture(scope="module")
def runtime() -> AgentRuntime:
    """The built-in catalog with fast models (popularity and TF-IDF content)."""
    return build_runtime(load_builtin(), roles={"collaborative": "pop", "content": "content"})


def _names(dialogue: RedialDialogue, movies: list[str]) -> set[str]:
    return {normalise_title(dialogue.movies[m]) for m in movies}


def test_loader_reads_every_dialogue_with_roles_and_forms(dialogues: dict[str, RedialDialogue]) -> None:
    assert len(dialogues) == 1342
    assert sum(len(d.messages) for d in dialogues.values()) == 23952
    first = dialogues["20001"]
    assert first.messages[0].sender == "seeker"
    assert first.messages[1].sender == "recommender"
    assert first.messages[0].mentions == ["111776"]
    assert first.render(first.messages[0].text) == "Hi I am looking for a movie like Super Troopers (2001)"
    # Forms that disagree on "liked" give no label; agreeing forms do.
    assert first.seeker_labels["101794"].suggested != first.recommender_labels["101794"].suggested
    assert first.label("111776") is not None
    assert first.label("111776").liked == 1
    assert any(not d.seeker_labels for d in dialogues.values())  # forms given as [] load as empty


@pytest.mark.parametrize(
    ("conversation", "liked", "disliked"),
    [
        ("20702", {"goodfellas", "casino"}, {"the godfather"}),  # "I actually hated @Godfather"
        ("20210", {"the lord of the rings"}, {"the hobbit an unexpected journey"}),  # "...was too tedious!"
        ("21221", {"honey", "step up"}, {"o"}),  # "I liked Honey, but I didn't like O"
    ],
)
def test_extractor_finds_what_the_seeker_loved_and_hated(
    dialogues: dict[str, RedialDialogue], conversation: str, liked: set[str], disliked: set[str]
) -> None:
    dialogue = dialogues[conversation]
    found = extract_preferences(dialogue)
    assert liked <= _names(dialogue, found.liked)
    assert disliked <= _names(dialogue, found.disliked)
    assert not _names(dialogue, found.liked) & _names(dialogue, found.disliked)
    # The extraction agrees with the human labels here, and never reads them.
    assert disliked <= _names(dialogue, sorted(dialogue.labelled("disliked")))
    blind = dialogue.model_copy(update={"seeker_labels": {}, "recommender_labels": {}})
    assert extract_preferences(blind) == found


def test_extraction_stops_where_asked(dialogues: dict[str, RedialDialogue]) -> None:
    dialogue = dialogues["20702"]
    hated = next(i for i, m in enumerate(dialogue.messages) if "hated" in m.text)
    assert extract_preferences(dialogue, upto=hated).disliked == []
    assert extract_preferences(dialogue, upto=hated + 1).disliked != []


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("I actually hated @1", "disliked"),
        ("not a fan of @1", "disliked"),
        ("@1 was too slow", "disliked"),
        ("I loved @1", "liked"),
        ("something like @1", "liked"),
        ("I haven't seen @1", None),
    ],
)
def test_sentiment_cues(clause: str, expected: str | None) -> None:
    assert classify(clause) == expected


def test_constraints_come_from_the_offline_parser(
    dialogues: dict[str, RedialDialogue], runtime: AgentRuntime
) -> None:
    vocabulary = CatalogVocabulary.from_catalog(runtime.catalog)
    # "Do you have any Horror Movies that you could suggest for me?"
    assert "Horror" in extract_preferences(dialogues["20112"], vocabulary).genres


def test_titles_map_by_normalised_title_and_year() -> None:
    matcher = MovieMatcher(load_builtin())
    assert matcher.match("The Matrix (1999)") == 2571
    assert matcher.match("Jumanji  (2017)") == 179401  # "Jumanji: Welcome to the Jungle (2017)"
    assert matcher.match("Kill Bill: Volume 1 (2003)") == 6874  # "Kill Bill: Vol. 1"
    assert matcher.match("Why Him%3F (2016)") == 167018  # URL-escaped in the ReDial list
    assert matcher.match("Jumanji (1995)") == 2
    assert matcher.match("Jumanji (1971)") is None
    assert matcher.match("Star Wars") is None  # no year and several films share the title


def test_movie_list_maps_mostly(runtime: AgentRuntime) -> None:
    path = REDIAL / "movies_with_mentions.csv"
    if not path.is_file():
        pytest.skip(f"the ReDial movie list is not at {path}")
    names = load_movie_names(path)
    mapped = MovieMatcher(runtime.catalog.dataset).map_all({k: n for k, (n, _) in names.items()})
    assert len(names) == 6924
    share = sum(c for k, (_, c) in names.items() if k in mapped) / sum(c for _, c in names.values())
    assert share > 0.8  # ml-latest-small has most of the films people talk about


def test_cases_predict_first_suggestions_from_the_past_only(
    dialogues: dict[str, RedialDialogue], runtime: AgentRuntime
) -> None:
    sample = [dialogues[k] for k in sorted(dialogues)[:60]]
    mapping = MovieMatcher(runtime.catalog.dataset).map_all(
        {m: n for d in sample for m, n in d.movies.items()}
    )
    cases = recommendation_cases(sample, mapping)
    assert cases
    for case in cases:
        message = case.dialogue.messages[case.upto]
        assert message.sender == "recommender"
        earlier = {m for msg in case.dialogue.messages[: case.upto] for m in msg.mentions}
        for movie in message.mentions:
            if movie in mapping and mapping[movie] in case.targets:
                label = case.dialogue.label(movie)
                assert label is not None
                assert label.suggested == 1
                assert label.liked == 1
                assert movie not in earlier
        past = extract_preferences(case.dialogue, upto=case.upto)
        text = preference_message(past, case.dialogue, mapping, runtime)
        titles = {runtime.catalog.title(t) for t in case.targets}  # type: ignore[arg-type]
        assert not any(t in text for t in titles)


@pytest.mark.slow
def test_evaluation_report_is_consistent(dialogues: dict[str, RedialDialogue], runtime: AgentRuntime) -> None:
    names = load_movie_names(REDIAL / "movies_with_mentions.csv")
    sample = [dialogues[k] for k in sorted(dialogues)[:15]]
    report = evaluate_redial(runtime, sample, names, ks=(1, 5, 20), replay=True)
    assert report.turns > 0
    assert report.extraction.dialogues == 15
    assert 0.0 < report.extraction.liked_precision <= 1.0
    for by_k in report.recall.values():
        assert by_k[1] <= by_k[5] <= by_k[20] <= 1.0
    assert set(report.recall) == {
        "agent (text)",
        "agent (labels)",
        "collaborative (text likes)",
        "popularity",
        "agent (replay)",
    }


def test_loader_names_the_bad_line(tmp_path: Path) -> None:
    good = {
        "conversationId": "1",
        "initiatorWorkerId": 1,
        "respondentWorkerId": 2,
        "messages": [{"messageId": 1, "text": "hi @5", "senderWorkerId": 1, "timeOffset": 0}],
        "movieMentions": {"5": "Heat (1995)"},
        "initiatorQuestions": [],
        "respondentQuestions": {"5": {"suggested": 0, "seen": 1, "liked": 1}},
    }
    path = tmp_path / "dialogues.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({"messages": []}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        load_redial(path)
    assert load_redial(path, limit=1)[0].label("5") is not None
    with pytest.raises(DataError, match="does not exist"):
        load_redial(tmp_path / "missing.jsonl")
