"""``recpilot rules`` and feed rules in ``recpilot recommend --user``, run in-process."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from recpilot.cli import main
from recpilot.cli.agent_commands import agent_memory
from recpilot.data.builtin import load_builtin
from recpilot.memory import AttributeTarget, FeedRule, ProfileMemory
from recpilot.memory.provenance import Provenance


@pytest.fixture
def memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProfileMemory:
    """The agent's memory for the built-in dataset under a private home."""
    monkeypatch.setenv("RECPILOT_HOME", str(tmp_path / "home"))
    opened = agent_memory("ml-latest-small", create=True)
    assert opened is not None
    return opened


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)  # type: ignore[no-any-return]


def _rule(user: str, genre: str, expires_at: float | None = None) -> FeedRule:
    return FeedRule(
        user_id=user,
        effect="exclude",
        target=AttributeTarget(attribute="genres", value=genre),
        text=f"no more {genre.lower()}",
        expires_at=expires_at,
    )


def test_list_and_remove_rules(capsys: pytest.CaptureFixture[str], memory: ProfileMemory) -> None:
    kept = memory.add_feed_rule("7", _rule("7", "Horror"))
    old = memory.add_feed_rule("7", _rule("7", "Comedy", expires_at=time.time() - 60))
    listed = _json(capsys, "rules", "--user", "7")
    assert [(r["id"], r["active"]) for r in listed["rules"]] == [(kept.id, True), (old.id, False)]
    assert listed["rules"][0]["target"] == {"kind": "attribute", "attribute": "genres", "value": "Horror"}
    removed = _json(capsys, "rules", "--user", "7", "--remove", str(old.id))
    assert [r["id"] for r in removed["removed"]] == [old.id]
    assert [r["id"] for r in removed["rules"]] == [kept.id]
    assert _json(capsys, "rules", "--user", "nobody")["rules"] == []


def test_removing_an_unknown_rule_is_one_clear_error(
    capsys: pytest.CaptureFixture[str], memory: ProfileMemory
) -> None:
    kept = memory.add_feed_rule("7", _rule("7", "Horror"))
    assert main(["rules", "--user", "7", "--remove", "424242"]) == 2
    err = capsys.readouterr().err
    assert "no rule #424242" in err
    assert len(err.strip().splitlines()) == 1
    assert memory.feed_rules("7") == [kept]


def test_recommend_for_a_user_obeys_the_rules(
    capsys: pytest.CaptureFixture[str], memory: ProfileMemory
) -> None:
    argv = ("recommend", "--user", "1", "--model", "pop", "--k", "10")
    before = _json(capsys, *argv)
    memory.add_feed_rule("1", _rule("1", "Drama"))
    after = _json(capsys, *argv)
    assert len(after["items"]) == 10
    ids_before = [row["item_id"] for row in before["items"]]
    ids_after = [row["item_id"] for row in after["items"]]
    assert ids_before != ids_after
    catalog = load_builtin().catalog.set_index("item_id")["genres"]
    catalog.index = catalog.index.astype(str)  # the JSON output carries ids as text
    dramas_before = [i for i in ids_before if "Drama" in catalog[i]]
    assert dramas_before, "the test needs a drama among the popular films"
    assert not any("Drama" in catalog[i] for i in ids_after)
    assert [i for i in ids_before if i not in dramas_before] == ids_after[
        : len(ids_before) - len(dramas_before)
    ]


def test_the_listing_says_whose_words_asked_for_each_rule(
    capsys: pytest.CaptureFixture[str], memory: ProfileMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = Provenance(source="user", via="offline_parser", turn=3, session_id="s9", at=1.8e9)
    memory.add_feed_rule("7", _rule("7", "Horror").model_copy(update={"provenance": said}))
    memory.add_feed_rule("7", _rule("7", "Drama").model_copy(update={"provenance": Provenance.legacy()}))
    listed = _json(capsys, "rules", "--user", "7")
    assert [r["provenance"] for r in listed["rules"]] == [
        said.model_dump(mode="json"),
        Provenance.legacy().model_dump(mode="json"),
    ]
    monkeypatch.setenv("COLUMNS", "400")  # one line per rule
    assert main(["rules", "--user", "7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    horror = next(line for line in lines if "genres=Horror" in line)
    drama = next(line for line in lines if "genres=Drama" in line)
    assert "your message (turn 3 of session s9), read by the offline parser, 2027-01-15" in horror
    assert "unknown (before provenance)" in drama
