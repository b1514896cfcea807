"""Condensing long dialogues: what is kept, what is carried over, and what stays bounded."""

from __future__ import annotations

import pytest

from recpilot.errors import ConfigError
from recpilot.memory import DialogueTurn
from recpilot.memory.condense import MAX_SUMMARY_CHARS, REQUEST_CHARS, condense_dialogue


def _dialogue(n_exchanges: int, start: int = 0) -> list[DialogueTurn]:
    turns = []
    for i in range(start, start + n_exchanges):
        turns.append(DialogueTurn(role="user", content=f"request {i}", created_at=float(2 * i)))
        turns.append(DialogueTurn(role="assistant", content=f"answer {i}", created_at=float(2 * i + 1)))
    return turns


def _requests(summary: DialogueTurn) -> list[str]:
    assert summary.role == "summary"
    return summary.content.split(": ", 1)[1].split(" | ")


def test_short_dialogue_is_returned_as_the_same_object() -> None:
    turns = _dialogue(3)
    assert condense_dialogue(turns, max_turns=6, keep=2) is turns
    empty: list[DialogueTurn] = []
    assert condense_dialogue(empty) is empty


def test_long_dialogue_keeps_recent_turns_and_every_earlier_request() -> None:
    turns = _dialogue(10)
    condensed = condense_dialogue(turns, max_turns=8, keep=4)
    assert condensed[1:] == turns[-4:], "the recent turns are kept verbatim"
    assert len(condensed) == 5
    summary = condensed[0]
    assert summary.content.startswith("Earlier the user asked: ")
    assert _requests(summary) == [f"request {i}" for i in range(8)]
    assert "answer" not in summary.content
    assert summary.created_at == turns[-5].created_at, "dated by the last turn it replaces"
    assert turns == _dialogue(10), "the input list is not modified"


def test_repeated_condensation_loses_no_request() -> None:
    session: list[DialogueTurn] = []
    for i in range(40):
        session = [*session, *_dialogue(1, start=i)]
        session = condense_dialogue(session, max_turns=10, keep=4)
        assert len(session) <= 10
        assert sum(t.role == "summary" for t in session) <= 1
    summary, recent = session[0], session[1:]
    still_visible = [t.content for t in recent if t.role == "user"]
    assert _requests(summary) + still_visible == [f"request {i}" for i in range(40)]


def test_foreign_summary_is_kept_word_for_word() -> None:
    foreign = DialogueTurn(role="summary", content="The user is vegetarian and hates subtitles.")
    turns = [foreign, *_dialogue(6)]
    condensed = condense_dialogue(turns, max_turns=8, keep=2)
    assert condensed[0].content.startswith(
        "The user is vegetarian and hates subtitles. Earlier the user asked: "
    )


def test_requests_are_shortened_merged_and_bounded() -> None:
    long_request = "x" * (REQUEST_CHARS * 3)
    turns = [
        DialogueTurn(role="user", content="  something   funny\n please "),
        DialogueTurn(role="user", content=long_request),
        DialogueTurn(role="user", content="Something funny please"),
        *[DialogueTurn(role="user", content=f"distinct request number {i:04d}") for i in range(200)],
        *_dialogue(2),
    ]
    condensed = condense_dialogue(turns, max_turns=10, keep=4)
    assert condensed[1:] == turns[-4:]
    summary = condensed[0].content
    requests = _requests(condensed[0])
    assert len(" | ".join(requests)) <= MAX_SUMMARY_CHARS
    assert requests[-1] == "distinct request number 0199", "the most recent requests are kept"
    assert len(requests) > 50
    # 203 requests, less the earlier "something funny please" (a repeat of a later one), less those kept.
    omitted = 202 - len(requests)
    assert summary.startswith(f"Earlier the user asked ({omitted} older requests omitted): ")

    merged = condense_dialogue(turns[:3] + _dialogue(4), max_turns=4, keep=2)
    assert _requests(merged[0])[:2] == ["x" * (REQUEST_CHARS - 1) + "…", "Something funny please"]

    again = condense_dialogue([*condensed, *_dialogue(6, start=10)], max_turns=10, keep=4)
    assert again[0].content.startswith("Earlier the user asked (")
    assert len(" | ".join(_requests(again[0]))) <= MAX_SUMMARY_CHARS
    carried = int(again[0].content.split("(")[1].split(" ")[0])
    assert carried > omitted, "the omitted count accumulates"


def test_request_text_is_shortened() -> None:
    turns = [DialogueTurn(role="user", content="y" * 1_000), *_dialogue(3)]
    request = _requests(condense_dialogue(turns, max_turns=4, keep=3)[0])[0]
    assert len(request) == REQUEST_CHARS
    assert request.endswith("…")


def test_only_assistant_turns_condense_to_nothing() -> None:
    turns = [DialogueTurn(role="assistant", content=f"hello {i}") for i in range(6)]
    assert condense_dialogue(turns, max_turns=4, keep=2) == turns[-2:]


@pytest.mark.parametrize(("max_turns", "keep"), [(4, 4), (4, 9), (4, -1)])
def test_invalid_settings_are_refused(max_turns: int, keep: int) -> None:
    with pytest.raises(ConfigError, match="keep < max_turns"):
        condense_dialogue(_dialogue(10), max_turns=max_turns, keep=keep)
