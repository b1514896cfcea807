"""Ask-or-recommend policies on small attribute spaces whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from recpilot.conversation.policy import (
    AbsGreedyPolicy,
    Ask,
    AttributeSpace,
    MaxEntropyPolicy,
    PreferenceWeightedPolicy,
    RandomPolicy,
    Recommend,
    build_policy,
)
from recpilot.conversation.state import DialogueState
from recpilot.crs.mcr import MCRConfig, SimulatedUser, converse
from recpilot.data.loaders import load_dataset
from recpilot.errors import ConfigError


def _space() -> AttributeSpace:
    # 8 items: "half" splits them 4/4, "common" is on 7, "rare" on 1, "pair" on 2.
    return AttributeSpace.from_item_attributes(
        {
            "a": ["g=half", "g=common", "g=rare"],
            "b": ["g=half", "g=common", "g=pair"],
            "c": ["g=half", "g=common", "g=pair"],
            "d": ["g=half", "g=common"],
            "e": ["g=common"],
            "f": ["g=common"],
            "g": ["g=common"],
            "h": [],
        }
    )


def _state(**fields: object) -> DialogueState:
    return DialogueState(session_id="s", user_id="u", **fields)  # type: ignore[arg-type]


def test_max_entropy_asks_the_attribute_that_splits_the_candidates() -> None:
    action = MaxEntropyPolicy(k=2).decide(_state(), _space())
    assert isinstance(action, Ask)
    assert action.attributes == ["g=half"]
    assert not action.multiple_choice


def test_max_entropy_recommends_once_candidates_fit_in_the_list() -> None:
    state = _state()
    state.accept_attribute("g=pair")
    action = MaxEntropyPolicy(k=2).decide(state, _space())
    assert isinstance(action, Recommend)
    assert sorted(action.item_ids) == ["b", "c"]


def test_abs_greedy_always_recommends_by_score_without_rejected_items() -> None:
    space = _space()
    scores = np.arange(8, dtype=np.float64)  # "h" best, "a" worst
    state = _state()
    policy = AbsGreedyPolicy(k=3)
    for _ in range(3):
        action = policy.decide(state, space, scores)
        assert isinstance(action, Recommend)
        assert not set(action.item_ids) & set(state.rejected_items)
        for item in action.item_ids:
            state.reject_item(item)
    assert state.rejected_items[:3] == ["h", "g", "f"]


def test_multiple_choice_question_offers_several_attributes() -> None:
    action = MaxEntropyPolicy(k=1, question_size=3).decide(_state(), _space())
    assert isinstance(action, Ask)
    assert action.multiple_choice
    assert len(action.attributes) == 3
    assert action.attributes[0] == "g=half"


def test_last_turn_always_recommends_and_asked_attributes_are_not_asked_again() -> None:
    state = _state()
    assert isinstance(MaxEntropyPolicy(k=2).decide(state, _space(), turns_left=1), Recommend)
    state.reject_attribute("g=half")
    action = MaxEntropyPolicy(k=2).decide(state, _space())
    assert isinstance(action, Ask)
    assert action.attributes != ["g=half"]


def test_contradictory_answers_latest_wins() -> None:
    space = _space()
    state = _state()
    state.accept_attribute("g=half")
    state.reject_attribute("g=half")
    policy = AbsGreedyPolicy(k=8)
    action = policy.decide(state, space)
    assert isinstance(action, Recommend)
    assert sorted(action.item_ids) == ["e", "f", "g", "h"]
    state.accept_attribute("g=half")
    action = policy.decide(state, space)
    assert isinstance(action, Recommend)
    assert sorted(action.item_ids) == ["a", "b", "c", "d"]


def test_state_candidates_restrict_the_set() -> None:
    action = AbsGreedyPolicy(k=5).decide(_state(candidates=["c", "e", "unknown"]), _space())
    assert isinstance(action, Recommend)
    assert sorted(action.item_ids) == ["c", "e"]


def test_reflection_lowers_the_rejected_items_neighbours() -> None:
    space = _space()
    state = _state()
    state.reject_item("b")  # "c" shares all of b's attributes, "e" only "common"
    with_reflection = PreferenceWeightedPolicy(reflection=1.0)
    without = PreferenceWeightedPolicy(reflection=0.0)
    on = with_reflection.estimate(with_reflection.context(state, space)).logits
    off = without.estimate(without.context(state, space)).logits
    row = dict(zip(space.item_ids, range(8), strict=True))
    drop_c = off[row["c"]] - on[row["c"]]
    drop_e = off[row["e"]] - on[row["e"]]
    assert drop_c > drop_e > 0
    assert on[row["h"]] == off[row["h"]]  # no shared attributes: untouched
    assert np.isneginf(on[row["b"]])  # the rejected item itself is no candidate


def _synthetic(seed: int) -> tuple[AttributeSpace, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_items, n_attrs = 300, 40
    has = rng.random((n_items, n_attrs)) < 0.15
    space = AttributeSpace.from_item_attributes(
        {f"i{r}": [f"a={c}" for c in np.flatnonzero(has[r])] or ["a=none"] for r in range(n_items)}
    )
    return space, rng.normal(size=n_items)


def test_preference_weighted_needs_fewer_turns_than_random_on_a_synthetic_space() -> None:
    space, noise = _synthetic(7)
    config = MCRConfig(max_turns=15, k=5)
    targets = [f"i{r}" for r in range(0, 300, 5)]
    turns: dict[str, list[int]] = {"random": [], "preference-weighted": []}
    for name in turns:
        policy = build_policy(name, k=5, seed=3)
        for index, target in enumerate(targets):
            scores = noise.copy()
            scores[int(target[1:])] += 2.0  # an informative, imperfect prior
            outcome = converse(policy, space, "u", target, scores, config, np.random.default_rng(index))
            turns[name].append(outcome.turn if outcome.turn else 15)
    assert np.mean(turns["preference-weighted"]) < np.mean(turns["random"]) - 1.0


def test_random_policy_is_reproducible_with_its_seed() -> None:
    space, _ = _synthetic(1)
    first = [RandomPolicy(seed=5).decide(_state(), space) for _ in range(3)]
    second = [RandomPolicy(seed=5).decide(_state(), space) for _ in range(3)]
    assert first == second


def test_bad_policy_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown policy 'nope'"):
        build_policy("nope")
    with pytest.raises(ConfigError, match="k"):
        build_policy("max-entropy", k=0)
    with pytest.raises(ConfigError, match="scores have shape"):
        MaxEntropyPolicy().decide(_state(), _space(), np.zeros(3))


def test_simulated_user_answers_truthfully() -> None:
    space = _space()
    user = SimulatedUser(space, "b", np.random.default_rng(0))
    assert user.opening() in {"g=half", "g=common", "g=pair"}
    accepted, rejected = user.answer(Ask(attributes=["g=pair", "g=rare", "g=half"], multiple_choice=True))
    assert accepted == ["g=pair", "g=half"]
    assert rejected == ["g=rare"]
    state = _state()
    assert user.respond(Recommend(item_ids=["a", "c"], k=2), state) == 0
    assert state.rejected_items == ["a", "c"]
    assert user.respond(Recommend(item_ids=["d", "b"], k=2), state) == 2


def test_space_from_lastfm_lists_and_from_a_movielens_catalog() -> None:
    lastfm = AttributeSpace.from_lastfm_items(
        {"0": {"feature_index": [69, 75]}, "1": {"feature_index": [75]}}
    )
    assert lastfm.attributes_of("0") == ["tag=69", "tag=75"]
    assert list(lastfm.items_with("tag=75")) == [0, 1]
    movies = AttributeSpace.from_dataset(load_dataset("ml-latest-small"))
    toy_story = movies.attributes_of(1)
    assert "genres=Animation" in toy_story
    assert "decade=1990s" in toy_story
    assert not any(name.startswith(("imdb_id=", "tmdb_id=", "year=")) for name in movies.attribute_names)


def test_max_entropy_recommends_by_chance_at_its_published_probability() -> None:
    scores = np.arange(8, dtype=np.float64)  # "h" best, then "g", ...
    always = MaxEntropyPolicy(k=2, recommend_probability=1.0).decide(_state(), _space(), scores)
    assert isinstance(always, Recommend)
    assert always.item_ids == ["h", "g"]
    assert isinstance(MaxEntropyPolicy(k=2, recommend_probability=0.0).decide(_state(), _space()), Ask)
    policy = MaxEntropyPolicy(k=2, recommend_probability=0.1, seed=3)
    actions = [policy.decide(_state(), _space(), scores) for _ in range(2000)]
    share = np.mean([isinstance(a, Recommend) for a in actions])
    assert share == pytest.approx(0.1, abs=0.02)


def test_abs_greedy_counts_a_rejected_list_against_its_neighbours() -> None:
    # "b" and "c" hold the same attributes; once "b" is rejected "c" falls behind "d".
    scores = np.array([0.0, 3.0, 2.9, 2.8, 0.0, 0.0, 0.0, 0.0])
    state = _state()
    state.reject_item("b")
    mask = np.ones(8, dtype=np.bool_)
    mask[1] = False
    plain = AbsGreedyPolicy(k=2, negative_feedback=0.0).decide(state, _space(), scores, candidates=mask)
    updated = AbsGreedyPolicy(k=2, negative_feedback=1.0).decide(state, _space(), scores, candidates=mask)
    assert isinstance(plain, Recommend)
    assert plain.item_ids == ["c", "d"]
    assert isinstance(updated, Recommend)
    assert updated.item_ids == ["d", "c"]
