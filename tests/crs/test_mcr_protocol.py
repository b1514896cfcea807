"""The published MCR protocol by default: pair sampling, the ablation switches and labelled outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recpilot.cli.app import main
from recpilot.conversation.policy import AttributeSpace, PreferenceWeightedPolicy
from recpilot.crs.mcr import (
    MCRConfig,
    RandomPrior,
    converse,
    load_lastfm_star,
    make_policy,
    run_mcr,
    select_pairs,
)
from recpilot.crs.mcr.prior import CollaborativePrior
from recpilot.errors import ConfigError

PAIRS = [(f"u{u}", f"i{i}") for u in range(30) for i in range(u % 4 + 1)]


def test_pair_sample_is_seeded_and_draws_without_replacement() -> None:
    first = select_pairs(PAIRS, None, seed=1, max_pairs=20)
    assert first == select_pairs(PAIRS, None, seed=1, max_pairs=20)
    assert len(first) == len(set(first)) == 20
    assert set(first) <= set(PAIRS)
    assert first != select_pairs(PAIRS, None, seed=2, max_pairs=20)
    assert first != PAIRS[:20]  # shuffled, not the file's head
    assert sorted(select_pairs(PAIRS, None, seed=1, max_pairs=10_000)) == sorted(PAIRS)
    assert select_pairs(PAIRS, None, seed=1) == PAIRS


def test_random_prior_depends_on_the_user_not_on_the_call_order() -> None:
    prior = RandomPrior(50, seed=3)
    a, b = prior.scores("alice"), prior.scores("bob")
    assert np.array_equal(prior.scores("alice"), a)
    assert not np.array_equal(a, b)
    assert not np.array_equal(RandomPrior(50, seed=4).scores("alice"), a)
    assert a.shape == (50,)
    assert prior.fit_seconds == 0.0


def _space() -> AttributeSpace:
    rng = np.random.default_rng(5)
    has = rng.random((120, 25)) < 0.2
    return AttributeSpace.from_item_attributes(
        {f"i{r}": [f"a={c}" for c in np.flatnonzero(has[r])] or ["a=none"] for r in range(120)}
    )


def test_hiding_negatives_equals_a_policy_that_ignores_them() -> None:
    # Hiding the "no" answers and rejected lists from the policy (negatives=False) must act exactly
    # like switching off every term that reads them (the penalty and the reflection).
    space = _space()
    scores = np.random.default_rng(9).random(space.n_items)
    hidden, shown = MCRConfig(k=5, negatives=False), MCRConfig(k=5)
    changed = 0
    for index in range(0, 120, 6):
        target = f"i{index}"
        uses = PreferenceWeightedPolicy(k=5)
        ignores = PreferenceWeightedPolicy(k=5, rejected_attribute_penalty=0.0, reflection=0.0)
        blind = converse(uses, space, "u", target, scores, hidden, np.random.default_rng(index))
        plain = converse(ignores, space, "u", target, scores, shown, np.random.default_rng(index))
        told = converse(uses, space, "u", target, scores, shown, np.random.default_rng(index))
        assert (blind.turn, blind.rank, blind.questions) == (plain.turn, plain.rank, plain.questions)
        changed += (told.turn, told.rank) != (blind.turn, blind.rank)
    assert changed > 0  # the switch matters: the policy does read negatives when they are shown


def _tiny_lastfm(root: Path) -> Path:
    rng = np.random.default_rng(0)
    items = {str(i): {"feature_index": sorted({int(t) for t in rng.integers(0, 12, 3)})} for i in range(40)}
    (root / "Graph_generate_data").mkdir(parents=True)
    (root / "UI_Interaction_data").mkdir()
    (root / "Graph_generate_data" / "item_dict.json").write_text(json.dumps(items))
    for split, count in (("train", 6), ("valid", 1), ("test", 2)):
        review = {str(u): [int(i) for i in rng.choice(40, count, replace=False)] for u in range(12)}
        (root / "UI_Interaction_data" / f"review_dict_{split}.json").write_text(json.dumps(review))
    return root


def test_crs_eval_runs_the_published_protocol_by_default_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(_tiny_lastfm(tmp_path / "lastfm"))
    argv = ["crs-eval", "--data-dir", root, "--policy", "max-entropy", "--json"]
    assert main([*argv, "--max-pairs", "10"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert default["environment"] == "paper"
    assert "paper environment" in default["setting"]
    assert default["n_conversations"] == 10
    assert default["pairs"].startswith("10 of 24 pairs")
    assert default["prior_model"] == "ease"
    assert default["negatives"] is True
    assert main([*argv, "--env", "ours", "--random-prior", "--no-negatives"]) == 0
    variant = json.loads(capsys.readouterr().out)
    assert variant["environment"] == "ours"
    assert "truthful negatives as filters" in variant["protocol"]
    assert variant["prior_model"] == "random"
    assert variant["negatives"] is False
    assert variant["pairs"] == "all 24 pairs"
    assert main([*argv, "--max-pairs", "0"]) == 2
    assert "--max-pairs must be a positive integer" in capsys.readouterr().err


def test_a_random_prior_config_refuses_a_fitted_prior(tmp_path: Path) -> None:
    data = load_lastfm_star(_tiny_lastfm(tmp_path / "lastfm"))
    config = MCRConfig(prior="random")
    with pytest.raises(ConfigError, match="random prior"):
        run_mcr(make_policy("abs-greedy", config), data, config, prior=CollaborativePrior.fit(data))
