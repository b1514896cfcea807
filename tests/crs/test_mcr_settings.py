"""The MCR environment's candidate rules: recpilot's own and those of the published simulators."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recpilot.cli.app import main
from recpilot.conversation.policy import (
    AbsGreedyPolicy,
    Ask,
    AttributeSpace,
    MaxEntropyPolicy,
    PreferenceWeightedPolicy,
    Recommend,
)
from recpilot.conversation.state import DialogueState
from recpilot.crs.mcr import CandidateSet, MCRConfig, converse
from recpilot.testing.backends import shared_data_dir

LASTFM = shared_data_dir() / "lastfm-star-crs"


def _space() -> AttributeSpace:
    # "x" on a, b, c; "y" on a, d; "z" on c, e.
    return AttributeSpace.from_item_attributes(
        {"a": ["t=x", "t=y"], "b": ["t=x"], "c": ["t=x", "t=z"], "d": ["t=y"], "e": ["t=z"]}
    )


def _ids(space: AttributeSpace, candidates: CandidateSet) -> list[str]:
    return [space.item_ids[int(r)] for r in candidates.rows]


def test_binary_rejected_attribute_filters_only_in_our_environment() -> None:
    space = _space()
    ours, paper = CandidateSet(space, "ours", k=1), CandidateSet(space, "paper", k=1)
    for candidates in (ours, paper):
        candidates.answer(["t=x"], [])  # the opening: both keep the items with it
        assert _ids(space, candidates) == ["a", "b", "c"]
        candidates.answer([], ["t=z"])
    assert _ids(space, ours) == ["a", "b"]
    assert _ids(space, paper) == ["a", "b", "c"]  # UNICORN: a "no" leaves the candidates as they were
    for candidates in (ours, paper):
        candidates.answer(["t=y"], [])  # an acceptance intersects in both
        assert _ids(space, candidates) == ["a"]


def test_rejected_list_leaves_the_paper_candidates_only_while_more_than_k_remain() -> None:
    space = _space()
    ours, paper = CandidateSet(space, "ours", k=2), CandidateSet(space, "paper", k=2)
    for candidates in (ours, paper):
        candidates.reject_list(["d", "e"])  # 5 candidates > k: both drop the list
        assert _ids(space, candidates) == ["a", "b", "c"]
        candidates.reject_list(["b", "c"])
    assert _ids(space, ours) == ["a"]
    assert _ids(space, paper) == ["a"]  # still 3 > k before this list
    paper.mask[:] = True
    paper.answer(["t=y"], [])
    paper.reject_list(["a"])  # 2 candidates, not more than k: kept
    assert _ids(space, paper) == ["a", "d"]


def test_multiple_choice_answers_union_the_accepted_in_the_paper_environment() -> None:
    space = _space()
    ours, paper = CandidateSet(space, "ours"), CandidateSet(space, "paper")
    for candidates in (ours, paper):
        candidates.answer(["t=x", "t=y"], ["t=z"], multiple_choice=True)
    assert _ids(space, ours) == ["a"]  # x and y, no z
    assert _ids(space, paper) == ["a", "b", "d"]  # MCMIPL: x or y, minus the items with z
    paper.answer([], ["t=x", "t=y"], multiple_choice=True)  # would empty the set: skipped
    assert _ids(space, paper) == ["a", "b", "d"]
    paper.answer([], ["t=y"], multiple_choice=True)  # no acceptance: only the removal applies
    assert _ids(space, paper) == ["b"]


def test_our_environment_matches_the_candidates_the_state_implies() -> None:
    rng = np.random.default_rng(4)
    has = rng.random((60, 12)) < 0.3
    space = AttributeSpace.from_item_attributes(
        {f"i{r}": [f"a={c}" for c in np.flatnonzero(has[r])] for r in range(60)}
    )
    candidates = CandidateSet(space, "ours", k=3)
    state = DialogueState(session_id="s", user_id="u")
    for step in range(6):
        name = f"a={rng.integers(12)}"
        if step % 2:
            state.reject_attribute(name)
            candidates.answer([], [name])
        else:
            state.accept_attribute(name)
            candidates.answer([name], [])
        shown = [f"i{r}" for r in rng.choice(60, size=3, replace=False)]
        for item in shown:
            state.reject_item(item)
        candidates.reject_list(shown)
        expected = space.candidate_mask(
            state.accepted_attributes, state.rejected_attributes, state.rejected_items
        )
        assert np.array_equal(candidates.mask, expected)


def test_policies_use_the_environment_candidates() -> None:
    space = _space()
    state = DialogueState(session_id="s", user_id="u")
    state.accept_attribute("t=x")
    state.reject_attribute("t=z")
    state.reject_item("b")
    paper = CandidateSet(space, "paper", k=3)
    paper.answer(["t=x"], [])
    paper.answer([], ["t=z"])
    ctx = MaxEntropyPolicy(k=3).context(state, space, candidates=paper.mask)
    assert [space.item_ids[int(r)] for r in ctx.candidates] == ["a", "b", "c"]
    assert [space.item_ids[int(r)] for r in MaxEntropyPolicy(k=3).context(state, space).candidates] == ["a"]
    # "b" was rejected but the environment still offers it (3 candidates, not more than k): allowed.
    action = AbsGreedyPolicy(k=3).decide(state, space, candidates=paper.mask)
    assert isinstance(action, Recommend)
    assert sorted(action.item_ids) == ["a", "b", "c"]


def test_preference_weighted_penalises_items_with_rejected_attributes() -> None:
    space = _space()
    state = DialogueState(session_id="s", user_id="u")
    state.reject_attribute("t=z")
    everything = np.ones(space.n_items, dtype=np.bool_)
    on = PreferenceWeightedPolicy(rejected_attribute_penalty=2.0, reflection=0.0)
    off = PreferenceWeightedPolicy(rejected_attribute_penalty=0.0, reflection=0.0)
    with_penalty = on.estimate(on.context(state, space, candidates=everything)).logits
    without = off.estimate(off.context(state, space, candidates=everything)).logits
    assert with_penalty[2] == pytest.approx(without[2] - 2.0)  # "c" holds z
    assert with_penalty[4] == pytest.approx(without[4] - 2.0)  # "e" holds z
    assert np.allclose(with_penalty[[0, 1, 3]], without[[0, 1, 3]])


def test_a_no_costs_max_entropy_turns_in_the_paper_environment() -> None:
    rng = np.random.default_rng(11)
    has = rng.random((200, 30)) < 0.2
    space = AttributeSpace.from_item_attributes(
        {f"i{r}": [f"a={c}" for c in np.flatnonzero(has[r])] or ["a=none"] for r in range(200)}
    )
    turns: dict[str, list[int]] = {"ours": [], "paper": []}
    for env in turns:
        config = MCRConfig(k=5, environment=env)  # type: ignore[arg-type]
        for index in range(0, 200, 4):
            outcome = converse(
                MaxEntropyPolicy(k=5), space, "u", f"i{index}", None, config, np.random.default_rng(index)
            )
            turns[env].append(outcome.turn or config.max_turns)
    assert np.mean(turns["paper"]) > np.mean(turns["ours"])


def test_bad_environment_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crs-eval", "--data-dir", ".", "--env", "theirs", "--json"]) == 2
    assert "--env must be one of paper, ours" in capsys.readouterr().err


@pytest.mark.skipif(
    not (LASTFM / "Graph_generate_data" / "item_dict.json").is_file(), reason=f"LastFM* is not at {LASTFM}"
)
@pytest.mark.slow
def test_crs_eval_paper_environment_on_a_lastfm_slice(capsys: pytest.CaptureFixture[str]) -> None:
    results = {}
    for env in ("ours", "paper"):
        argv = ["crs-eval", "--data-dir", str(LASTFM), "--policy", "max-entropy", "--max-users", "20"]
        assert main([*argv, "--env", env, "--json"]) == 0
        results[env] = json.loads(capsys.readouterr().out)
    assert "paper environment" in results["paper"]["setting"]
    assert results["paper"]["n_conversations"] == results["ours"]["n_conversations"]
    assert results["paper"]["avg_questions"] > results["ours"]["avg_questions"]
    assert results["paper"]["sr@15"] < results["ours"]["sr@15"]


def test_ask_is_still_an_ask() -> None:
    # The environment hook must not change what a policy asks on a fresh conversation.
    space = _space()
    state = DialogueState(session_id="s", user_id="u")
    everything = np.ones(space.n_items, dtype=np.bool_)
    assert MaxEntropyPolicy(k=1).decide(state, space) == MaxEntropyPolicy(k=1).decide(
        state, space, candidates=everything
    )
    assert isinstance(MaxEntropyPolicy(k=1).decide(state, space), Ask)
