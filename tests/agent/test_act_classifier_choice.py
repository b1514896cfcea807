"""The act classifier an agent is built with is the one every part of it uses: an offline brain built
with the rules must not load the MiniLM classifier through the agent's fallback or its parser of the
user's words (that cost the first ambiguous turn 5-13 s)."""

from __future__ import annotations

import pytest

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.offline.brain import OfflineBrain
from recpilot.agent.runtime import AgentRuntime
from recpilot.understanding import act_classifier as act_classifiers
from recpilot.understanding.acts import ActKind


class RecordingClassifier:
    """Abstains on every message and remembers what it was asked."""

    name = "recording"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def classify(self, text: str) -> ActKind | None:
        self.asked.append(text)
        return None


@pytest.fixture
def minilm_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make "auto" choose MiniLM (as with the [embed] extra installed) but fail if it is ever built."""

    def forbidden() -> None:
        raise AssertionError("the MiniLM act classifier was built for an agent configured with the rules")

    monkeypatch.setattr(act_classifiers, "embed_extra_installed", lambda: True)
    monkeypatch.setattr(act_classifiers, "_SHARED", {})
    monkeypatch.setattr(act_classifiers, "EmbeddingActClassifier", forbidden)


def test_a_rules_agent_never_builds_the_minilm_classifier(
    runtime: AgentRuntime, minilm_forbidden: None
) -> None:
    agent = RecommenderAgent(runtime, brain=OfflineBrain(act_classifier="rules"))

    assert agent.fallback.classifier() is None  # type: ignore[attr-defined]
    assert agent._parser.classifier() is None
    agent.respond("rules-only-user", "recommend a comedy")
    response = agent.respond("rules-only-user", "hmm, what about the second one?")
    assert response.reply


def test_the_given_classifier_reads_the_users_acts(runtime: AgentRuntime, minilm_forbidden: None) -> None:
    classifier = RecordingClassifier()
    agent = RecommenderAgent(runtime, brain=OfflineBrain(act_classifier=classifier))

    assert agent._parser.classifier() is classifier
    assert agent.fallback.classifier() is classifier  # type: ignore[attr-defined]
    agent.respond("own-classifier-user", "recommend a comedy")
    agent.respond("own-classifier-user", "hmm, what about the second one?")
    assert classifier.asked


def test_the_default_agent_still_uses_the_default_classifier(runtime: AgentRuntime) -> None:
    agent = RecommenderAgent(runtime)
    default = OfflineBrain().classifier()
    assert agent._parser.classifier() is default
