"""The contract every recommender must honour, as a pytest mixin.

Usage in a test module::

    class TestEase(RecommenderContract):
        def make_model(self, **overrides):
            return EaseRecommender(l2=10.0, **overrides)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from recpilot.errors import ConfigError, NotFittedError, UnknownIdError
from recpilot.models.base import Recommender
from recpilot.models.registry import build_model
from recpilot.testing.datasets import KnownAnswer, known_answer_dataset


class RecommenderContract:
    """Behaviour shared by all recommenders; subclass and implement :meth:`make_model`.

    Class attributes:
        personalised: False for models that ignore the user (popularity): the known-answer checks then
            check that every user gets the popularity order.
        ranks_by_chance: True for the random baseline: the known-answer checks then check that it
            finds the right answers no more often than chance and gives users different orders.
        deterministic: False when two fits with the same config may differ (skips the refit check).
        invalid_config: A config override that must be rejected with :class:`ConfigError`.
    """

    personalised: ClassVar[bool] = True
    ranks_by_chance: ClassVar[bool] = False
    deterministic: ClassVar[bool] = True
    invalid_config: ClassVar[dict[str, Any]] = {"no_such_option": 1}

    def make_model(self, **overrides: Any) -> Recommender[Any]:
        """A fresh, unfitted model configured for the small known-answer data."""
        raise NotImplementedError

    # -- fixtures ------------------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def known(cls) -> KnownAnswer:
        return known_answer_dataset()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, known: KnownAnswer) -> Recommender[Any]:
        return cls().make_model().fit(known.dataset)

    # -- the contract ----------------------------------------------------------------------------------------

    def test_known_answer_for_known_users(self, known: KnownAnswer, fitted: Recommender[Any]) -> None:
        if self.ranks_by_chance:
            users = list(known.missing_item)
            firsts = [fitted.recommend(user, k=1).ids() for user in users]
            hits = sum(first == [known.missing_item[u]] for first, u in zip(firsts, users, strict=True))
            assert hits / len(firsts) < 0.5, f"{hits}/{len(firsts)} hits: more than chance for a random model"
            assert len({tuple(f) for f in firsts}) > 1, "a random model gives users different orders"
            return
        if not self.personalised:
            first = {
                tuple(fitted.recommend(user, k=1, filter_seen=False).ids()) for user in known.missing_item
            }
            assert len(first) == 1, "a non-personalised model gives every user the same list"
            return
        hits = sum(
            fitted.recommend(user, k=1).ids() == [missing] for user, missing in known.missing_item.items()
        )
        assert hits / len(known.missing_item) >= 0.9, (
            f"{hits}/{len(known.missing_item)} users got their missing item first"
        )

    def test_known_answer_for_adhoc_history(self, known: KnownAnswer, fitted: Recommender[Any]) -> None:
        if self.ranks_by_chance:
            tops = [fitted.recommend(history=known.group_items(g)[:-1], k=1).ids() for g in range(6)]
            hits = sum(top == known.group_items(g)[-1:] for g, top in enumerate(tops))
            assert hits < 6, "a random model cannot find every group's missing item"
            return
        if not self.personalised:
            ranking = fitted.recommend(history=[], k=known.dataset.n_items).ids()
            counts = known.dataset.item_popularity[known.dataset.items.to_internal(ranking)]
            assert np.all(np.diff(counts) <= 0), "a non-personalised model ranks by popularity"
            return
        for group in range(3):
            items = known.group_items(group)
            history, target = items[:-1], items[-1]
            top = fitted.recommend(history=history, k=1).ids()
            assert top == [target], f"group {group}: history {history} should lead to {target}, got {top}"

    def test_similar_items_stay_in_group(self, known: KnownAnswer, fitted: Recommender[Any]) -> None:
        item = known.group_items(0)[0]
        similar = fitted.similar_items(item, k=3)
        assert item not in similar.ids()
        assert len(similar) == 3
        if self.personalised and not self.ranks_by_chance:
            assert {known.group_of_item[int(str(i))] for i in similar.ids()} == {0}

    def test_filters_seen_and_respects_k(self, known: KnownAnswer, fitted: Recommender[Any]) -> None:
        user = next(iter(known.missing_item))
        sequence = known.dataset.user_sequence(known.dataset.users.index_of(user))
        seen = set(known.dataset.items.to_external(sequence).tolist())
        recs = fitted.recommend(user, k=7)
        assert len(recs) == 7
        assert not seen & set(recs.ids())
        assert len(set(recs.ids())) == 7
        assert np.all(np.diff(recs.scores) <= 0), "scores must be non-increasing"
        unfiltered = fitted.recommend(user, k=known.dataset.n_items, filter_seen=False)
        assert seen <= set(unfiltered.ids())

    def test_exclusions_and_candidates(self, known: KnownAnswer, fitted: Recommender[Any]) -> None:
        user = next(iter(known.missing_item))
        first = fitted.recommend(user, k=5).ids()
        again = fitted.recommend(user, k=5, exclude=[*first[:2], "not-an-item"])
        assert not set(first[:2]) & set(again.ids())
        candidates = known.group_items(3)[:4]
        restricted = fitted.recommend(user, k=10, candidates=candidates, filter_seen=False)
        assert set(restricted.ids()) == set(candidates)
        with pytest.raises(UnknownIdError, match="not-an-item"):
            fitted.recommend(user, k=3, candidates=["not-an-item"])

    def test_score_agrees_with_ranking(self, known: KnownAnswer, fitted: Recommender[Any]) -> None:
        user = next(iter(known.missing_item))
        recs = fitted.recommend(user, k=5)
        scores = fitted.score(recs.ids(), user)
        np.testing.assert_allclose(scores, recs.scores, rtol=1e-5, atol=1e-6)

    def test_batch_path_matches_single_path(self, known: KnownAnswer, fitted: Recommender[Any]) -> None:
        users = list(known.missing_item)[:5]
        index = fitted.user_map.to_internal(users)
        batch_items, _ = fitted.recommend_indices(index, k=4)
        for row, user in enumerate(users):
            single = fitted.recommend(user, k=4)
            batch = fitted.item_map.to_external(batch_items[row]).tolist()
            # Same scores position by position (the batch's items scored on the single path); items whose
            # score ties another within float noise may swap (BLAS sums matrix and vector paths apart).
            np.testing.assert_allclose(fitted.score(batch, user), single.scores, rtol=1e-5, atol=1e-6)
            for pos, (got, want) in enumerate(zip(batch, single.ids(), strict=True)):
                tied = np.abs(np.delete(single.scores, pos) - single.scores[pos]) <= 1e-6
                if not tied.any():
                    assert got == want, f"{user}: position {pos} is {got} in the batch, {want} alone"

    def test_cold_start_paths(self, known: KnownAnswer, fitted: Recommender[Any]) -> None:
        with pytest.raises(UnknownIdError, match="history="):
            fitted.recommend("nobody", k=3)
        cold = fitted.recommend(history=[], k=3)
        popularity = known.dataset.item_popularity
        expected_best = popularity.max()
        best = known.dataset.items.to_internal(cold.ids()[:1])
        assert popularity[best[0]] == expected_best, "empty history must fall back to popularity"
        with pytest.raises(UnknownIdError):
            fitted.recommend(history=[123456789], k=3)

    def test_save_load_round_trip(self, known: KnownAnswer, fitted: Recommender[Any], tmp_path: Path) -> None:
        user = next(iter(known.missing_item))
        before = fitted.recommend(user, k=10)
        path = fitted.save(tmp_path / "model")
        loaded = Recommender.load(path)
        assert type(loaded) is type(fitted)
        assert loaded.config == fitted.config
        after = loaded.recommend(user, k=10)
        assert after.ids() == before.ids()
        np.testing.assert_allclose(after.scores, before.scores, rtol=1e-5, atol=1e-6)
        history = known.group_items(1)[:3]
        assert loaded.recommend(history=history, k=3).ids() == fitted.recommend(history=history, k=3).ids()

    def test_config_round_trip(self, known: KnownAnswer, fitted: Recommender[Any]) -> None:
        rebuilt = build_model(fitted.spec())
        assert type(rebuilt) is type(fitted)
        assert rebuilt.config == fitted.config
        if self.deterministic:
            rebuilt.fit(known.dataset)
            user = next(iter(known.missing_item))
            assert rebuilt.recommend(user, k=5).ids() == fitted.recommend(user, k=5).ids()

    def test_unfitted_and_invalid_config(self) -> None:
        with pytest.raises(NotFittedError):
            self.make_model().recommend(history=[], k=3)
        with pytest.raises(ConfigError):
            self.make_model(**self.invalid_config)
        with pytest.raises(ConfigError, match="k must be"):
            self.make_model().recommend(history=[], k=0)
