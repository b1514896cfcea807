"""The MCR benchmark: metrics on hand-computed cases, the LastFM* harness and the crs-eval command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recpilot.cli.app import main
from recpilot.crs.mcr import (
    CollaborativePrior,
    MCRConfig,
    average_turns,
    hdcg,
    hdcg_per_conversation,
    load_lastfm_star,
    make_policy,
    run_mcr,
    success_rate,
)
from recpilot.errors import ConfigError, DataError
from recpilot.testing.backends import shared_data_dir

LASTFM = shared_data_dir() / "lastfm-star-crs"
needs_lastfm = pytest.mark.skipif(
    not (LASTFM / "Graph_generate_data" / "item_dict.json").is_file(),
    reason=f"LastFM* is not at {LASTFM}",
)

# Four conversations: success on turns 1, 5, 6 (ranks 1, 3, 1) and a failure.
TURNS = [1, 5, 6, 0]
RANKS = [1, 3, 1, 0]


def test_success_rates_and_average_turns() -> None:
    assert success_rate(TURNS, 5) == 0.5
    assert success_rate(TURNS, 10) == 0.75
    assert success_rate([], 5) == 0.0
    assert average_turns(TURNS, 15) == (1 + 5 + 6 + 15) / 4


def test_hdcg_by_hand() -> None:
    # T=1, r=1 -> 1; T=5, r=3 -> 1/log2 7 + (1/log2 6 - 1/log2 7)/log2 4 = 0.356207 + 0.030646/2;
    # T=6, r=1 -> 1/log2 8 + (1/log2 7 - 1/log2 8) = 1/log2 7 = 0.356207; failure -> 0.
    per = hdcg_per_conversation(TURNS, RANKS)
    assert per == pytest.approx([1.0, 0.371530, 0.356207, 0.0], abs=1e-5)
    assert hdcg(TURNS, RANKS) == pytest.approx((1.0 + 0.371530 + 0.356207) / 4, abs=1e-5)
    assert (
        hdcg_per_conversation([3], [1])[0]
        > hdcg_per_conversation([3], [10])[0]
        > hdcg_per_conversation([4], [1])[0]
    )


@needs_lastfm
@pytest.mark.slow
def test_harness_on_a_lastfm_slice() -> None:
    data = load_lastfm_star(LASTFM)
    assert data.space.n_items == 7432
    assert data.space.attribute_names[0].startswith("tag=")
    config = MCRConfig(max_users=5, seed=1)
    prior = CollaborativePrior.fit(data, "ease")
    greedy, outcomes = run_mcr(make_policy("abs-greedy", config), data, config, prior=prior)
    users = {o.user for o in outcomes}
    assert greedy.n_users == len(users) == 5
    assert greedy.n_conversations == sum(1 for user, _ in data.pairs if user in users)
    assert greedy.avg_questions == 0.0
    entropy, _ = run_mcr(make_policy("max-entropy", config), data, config, prior=prior)
    for report in (greedy, entropy):
        assert report.sr5 <= report.sr10 <= report.sr15 <= 1.0
        assert 1.0 <= report.avg_turns <= 15.0
    assert entropy.avg_questions > 0
    with pytest.raises(ConfigError, match="question_size"):
        run_mcr(make_policy("max-entropy", config), data, MCRConfig(setting="multiple-choice"), prior=prior)


@needs_lastfm
@pytest.mark.slow
def test_crs_eval_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "crs-eval",
            "--data-dir",
            str(LASTFM),
            "--policy",
            "preference-weighted",
            "--max-users",
            "20",
            "--json",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    for key in (
        "sr@5",
        "sr@10",
        "sr@15",
        "avg_turns",
        "hdcg",
        "n_conversations",
        "policy",
        "setting",
        "wall_seconds",
    ):
        assert key in payload
    assert payload["policy"] == "preference-weighted"
    assert payload["n_users"] == 20
    assert "binary" in payload["setting"]
    assert payload["n_conversations"] >= 20


def test_missing_data_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crs-eval", "--data-dir", str(tmp_path / "absent"), "--json"]) == 2
    assert "absent" in capsys.readouterr().err
    (tmp_path / "Graph_generate_data").mkdir()
    (tmp_path / "Graph_generate_data" / "item_dict.json").write_text('{"0": {"feature_index": [1]}}')
    with pytest.raises(DataError, match=r"review_dict_train\.json"):
        load_lastfm_star(tmp_path)


def test_unknown_policy_and_setting_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crs-eval", "--data-dir", ".", "--policy", "psychic", "--json"]) == 2
    assert "unknown policy 'psychic'" in capsys.readouterr().err
    assert main(["crs-eval", "--data-dir", ".", "--setting", "ternary", "--json"]) == 2
