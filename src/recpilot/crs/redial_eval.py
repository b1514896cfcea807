"""How well the agent understands real ReDial dialogues: extraction, mapping, recall of accepted films.

Three measurements (:func:`evaluate_redial`):

1. Extraction: the text extractor's liked/disliked films against the agreed labels (micro-averaged
   precision and recall), and how often the seeker states constraints the offline parser understands.
2. Mapping coverage: ReDial films mapped to catalog items by normalised title and year.
3. Recommendation: at every recommender turn that suggests a film the seeker accepted (labelled
   suggested and liked), the agent gets the dialogue so far as one message built from the extracted
   likes, dislikes and constraints; recall@k of its list against the accepted suggestions of that
   turn, beside the same agent given the labelled likes (an extraction oracle), the collaborative
   model on the extracted likes, and popularity.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recpilot.agent import RecommenderAgent
from recpilot.agent.runtime import AgentRuntime
from recpilot.crs.protocol import ConversationalRecommender
from recpilot.crs.redial import (
    MENTION,
    ExtractedPreferences,
    MovieMatcher,
    RedialDialogue,
    extract_preferences,
    scores,
)
from recpilot.understanding import CatalogVocabulary
from recpilot.understanding.act_classifier import ActClassifier
from recpilot.understanding.acts import read_act
from recpilot.understanding.lexicon import phrase_key
from recpilot.understanding.shown import ShownItem

KS: tuple[int, ...] = (1, 5, 10, 20)
METHODS: tuple[str, ...] = ("agent (text)", "agent (labels)", "collaborative (text likes)", "popularity")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExtractionScores(_Model):
    """Micro-averaged extraction quality over dialogues, and constraint statistics.

    Attributes:
        dialogues: Dialogues scored.
        liked_precision: Extracted likes that are labelled liked.
        liked_recall: Labelled likes that were extracted.
        disliked_precision: Extracted dislikes that are labelled disliked.
        disliked_recall: Labelled dislikes that were extracted.
        liked_truth: Labelled likes in all.
        disliked_truth: Labelled dislikes in all.
        with_genres: Share of dialogues where the seeker asked for a genre the parser understood.
        with_years: Share of dialogues where the seeker stated a period the parser understood.
    """

    dialogues: int
    liked_precision: float
    liked_recall: float
    disliked_precision: float
    disliked_recall: float
    liked_truth: int
    disliked_truth: int
    with_genres: float
    with_years: float


class MappingCoverage(_Model):
    """How many ReDial films map to catalog items.

    Attributes:
        movies: Films in the ReDial movie list.
        mapped: Those mapped.
        mention_share: Mapped share weighted by mentions in the whole ReDial corpus.
        dialogue_movies: Distinct films mentioned in the dialogues evaluated.
        dialogue_mapped: Those mapped.
    """

    movies: int
    mapped: int
    mention_share: float
    dialogue_movies: int
    dialogue_mapped: int


class RedialReport(_Model):
    """The ReDial understanding report.

    Attributes:
        extraction: Extraction quality.
        mapping: Mapping coverage.
        turns: Recommender turns evaluated (each with at least one accepted, mapped suggestion).
        recall: Method -> k -> mean recall@k over those turns.
        acts: Dialogue act -> seeker turns assigned it (:func:`seeker_acts`).
        elapsed_s: Wall time.
    """

    extraction: ExtractionScores
    mapping: MappingCoverage
    turns: int
    recall: dict[str, dict[int, float]] = Field(default_factory=dict)
    acts: dict[str, int] = Field(default_factory=dict)
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class RecommendationCase:
    """A recommender turn to predict: the dialogue before it and the accepted suggestions in it."""

    dialogue: RedialDialogue
    upto: int
    targets: frozenset[object]
    mentioned: frozenset[object]


def score_extraction(
    dialogues: Sequence[RedialDialogue], vocabulary: CatalogVocabulary | None = None
) -> ExtractionScores:
    """Extract from every dialogue and score against the agreed labels."""
    totals = np.zeros((2, 3), dtype=np.int64)
    genres = years = 0
    for dialogue in dialogues:
        found = extract_preferences(dialogue, vocabulary)
        totals[0] += scores(found.liked, dialogue.labelled("liked"))
        totals[1] += scores(found.disliked, dialogue.labelled("disliked"))
        genres += bool(found.genres)
        years += found.years is not None
    n = max(1, len(dialogues))
    return ExtractionScores(
        dialogues=len(dialogues),
        liked_precision=_ratio(totals[0, 0], totals[0, 1]),
        liked_recall=_ratio(totals[0, 0], totals[0, 2]),
        disliked_precision=_ratio(totals[1, 0], totals[1, 1]),
        disliked_recall=_ratio(totals[1, 0], totals[1, 2]),
        liked_truth=int(totals[0, 2]),
        disliked_truth=int(totals[1, 2]),
        with_genres=genres / n,
        with_years=years / n,
    )


def mapping_coverage(
    names: dict[str, tuple[str, int]], dialogues: Sequence[RedialDialogue], mapping: dict[str, object]
) -> MappingCoverage:
    """Coverage of ``mapping`` over the movie list and over the films the dialogues mention."""
    mentions = sum(count for _, count in names.values())
    mapped_mentions = sum(count for key, (_, count) in names.items() if key in mapping)
    in_dialogues = {m for d in dialogues for m in d.movies}
    return MappingCoverage(
        movies=len(names),
        mapped=sum(1 for key in names if key in mapping),
        mention_share=_ratio(mapped_mentions, mentions),
        dialogue_movies=len(in_dialogues),
        dialogue_mapped=sum(1 for m in in_dialogues if m in mapping),
    )


def recommendation_cases(
    dialogues: Sequence[RedialDialogue], mapping: dict[str, object]
) -> list[RecommendationCase]:
    """Recommender turns suggesting, for the first time, films the seeker accepted (and that map)."""
    cases: list[RecommendationCase] = []
    for dialogue in dialogues:
        earlier: set[str] = set()
        for index, message in enumerate(dialogue.messages):
            new = [m for m in message.mentions if m not in earlier]
            if message.sender == "recommender":
                accepted = {
                    mapping[m]
                    for m in new
                    if m in mapping
                    and (label := dialogue.label(m)) is not None
                    and label.suggested == 1
                    and label.liked == 1
                }
                if accepted:
                    seen = frozenset(mapping[m] for m in earlier if m in mapping)
                    cases.append(RecommendationCase(dialogue, index, frozenset(accepted), seen))
            earlier.update(message.mentions)
    return cases


def preference_message(
    preferences: ExtractedPreferences,
    dialogue: RedialDialogue,
    mapping: dict[str, object],
    runtime: AgentRuntime,
) -> str:
    """One message saying what the seeker liked, disliked and asked for, with catalog titles."""
    catalog = runtime.catalog

    def titles(movies: Sequence[str]) -> list[str]:
        return [catalog.title(mapping[m]) for m in movies if m in mapping]  # type: ignore[arg-type]

    parts: list[str] = []
    liked, disliked = titles(preferences.liked), titles(preferences.disliked)
    if liked:
        parts.append(f"I liked {_join(liked)}.")
    if disliked:
        parts.append(f"I didn't like {_join(disliked)}.")
    wish = f"I want {' or '.join(g.lower() for g in preferences.genres)} films" if preferences.genres else ""
    if preferences.years is not None:
        low, high = preferences.years
        span = (
            f"from {low:.0f} to {high:.0f}"
            if low and high
            else f"after {low:.0f}"
            if low
            else f"before {high:.0f}"
        )
        wish = f"{wish or 'I want films'} {span}"
    if preferences.excluded_genres:
        wish = (
            f"{wish or 'I want films'} but no {' or '.join(g.lower() for g in preferences.excluded_genres)}"
        )
    if wish:
        parts.append(wish + ".")
    return " ".join(parts) or "Can you recommend a good movie?"


def labelled_preferences(
    dialogue: RedialDialogue, upto: int, text: ExtractedPreferences
) -> ExtractedPreferences:
    """The oracle: the films mentioned before ``upto`` with their labels, and the text's constraints."""
    before = list(dict.fromkeys(m for msg in dialogue.messages[:upto] for m in msg.mentions))
    liked = [m for m in before if (lab := dialogue.label(m)) is not None and lab.liked == 1]
    disliked = [m for m in before if (lab := dialogue.label(m)) is not None and lab.liked == 0]
    return text.model_copy(update={"liked": liked, "disliked": disliked})


def evaluate_redial(
    runtime: AgentRuntime,
    dialogues: Sequence[RedialDialogue],
    names: dict[str, tuple[str, int]],
    *,
    ks: Sequence[int] = KS,
    max_cases: int | None = None,
    replay: bool = False,
    progress: Callable[[int, int], None] | None = None,
    agent: ConversationalRecommender | None = None,
) -> RedialReport:
    """Extraction scores, mapping coverage and recall@k of every method (see the module docstring).

    With ``replay``, one more method replays the seeker's own messages (mentions written as catalog
    titles) into one agent session per dialogue and scores the agent's latest list (one agent turn
    per seeker message: several times slower). ``agent`` is the recommender under test, answering
    from ``runtime``'s catalog (default: a :class:`~recpilot.agent.RecommenderAgent` on ``runtime``
    showing ``max(ks)`` items).
    """
    started = time.perf_counter()
    vocabulary = CatalogVocabulary.from_catalog(runtime.catalog)
    matcher = MovieMatcher(runtime.catalog.dataset)
    mapping = matcher.map_all({key: name for key, (name, _) in names.items()})
    unlisted = {m: n for d in dialogues for m, n in d.movies.items() if m not in names}
    mapping.update(matcher.map_all(unlisted))
    extraction = score_extraction(dialogues, vocabulary)
    cases = recommendation_cases(dialogues, mapping)[:max_cases]
    depth = max(ks)
    if agent is None:
        agent = RecommenderAgent(runtime, k=depth)
    collaborative = runtime.models.get("collaborative")
    popular = list(
        runtime.catalog.dataset.items.to_external(np.argsort(-runtime.catalog.popularity, kind="stable"))
    )
    hits: dict[str, list[list[float]]] = {m: [] for m in (*METHODS, "agent (replay)")}
    replayed: dict[str, dict[int, list[object]]] = {}
    stops_by_dialogue: dict[str, set[int]] = {}
    for case in cases:
        stops_by_dialogue.setdefault(case.dialogue.conversation_id, set()).add(case.upto)
    for number, case in enumerate(cases, start=1):
        text = extract_preferences(case.dialogue, vocabulary, upto=case.upto)
        user = f"redial-{case.dialogue.conversation_id}-{case.upto}"
        lists: dict[str, list[object]] = {}
        oracle = labelled_preferences(case.dialogue, case.upto, text)
        for method, source, prefs in (("agent (text)", "text", text), ("agent (labels)", "labels", oracle)):
            message = preference_message(prefs, case.dialogue, mapping, runtime)
            # A fresh user per turn and source: nothing remembered leaks between cases.
            response = agent.respond(f"{user}-{source}", message, session_id=f"{user}-{source}")
            lists[method] = [runtime.catalog.coerce_item_id(i.item_id) for i in response.items]
        if replay:
            dialogue = case.dialogue
            if dialogue.conversation_id not in replayed:
                stops = stops_by_dialogue[dialogue.conversation_id]
                replayed[dialogue.conversation_id] = replay_lists(agent, dialogue, mapping, runtime, stops)
            lists["agent (replay)"] = replayed[dialogue.conversation_id][case.upto]
        liked = [mapping[m] for m in text.liked if m in mapping]
        if collaborative is not None:
            recs = collaborative.recommend(
                history=liked, k=depth + len(case.mentioned), exclude=case.mentioned
            )
            lists["collaborative (text likes)"] = list(recs.ids())
        lists["popularity"] = [i for i in popular[: depth + len(case.mentioned)] if i not in case.mentioned]
        for method, items in lists.items():
            ranked = [i for i in items if i not in case.mentioned][:depth]
            hits[method].append([len(set(ranked[:k]) & case.targets) / len(case.targets) for k in ks])
        if progress is not None:
            progress(number, len(cases))
    recall = {
        m: {k: float(np.mean([h[i] for h in rows])) for i, k in enumerate(ks)}
        for m, rows in hits.items()
        if rows
    }
    coverage = mapping_coverage(names, dialogues, mapping)
    return RedialReport(
        extraction=extraction,
        mapping=coverage,
        turns=len(cases),
        recall=recall,
        acts=seeker_acts(dialogues, mapping, runtime),
        elapsed_s=time.perf_counter() - started,
    )


#: The bucket of seeker turns the offline brain reads as a request, a refinement or a critique.
REQUEST_ACTS = "request/refine/critique"


def seeker_acts(
    dialogues: Sequence[RedialDialogue],
    mapping: dict[str, object],
    runtime: AgentRuntime,
    classifier: ActClassifier | None = None,
) -> dict[str, int]:
    """How many seeker turns the offline brain assigns each dialogue act (by its rules, or with
    ``classifier``). The films the recommender mentioned last count as the list shown."""
    catalog = runtime.catalog
    counts: Counter[str] = Counter()
    for dialogue in dialogues:
        shown: list[ShownItem] = []
        for message in dialogue.messages:
            if message.sender == "recommender":
                items = [mapping[m] for m in message.mentions if m in mapping]
                if items:
                    shown = [
                        ShownItem(n, str(i), catalog.title(i), phrase_key(catalog.title(i)))  # type: ignore[arg-type]
                        for n, i in enumerate(items, start=1)
                    ]
                continue
            act = read_act(dialogue.render(message.text), shown, None, classifier)
            counts[act.kind if act is not None else REQUEST_ACTS] += 1
    return dict(counts.most_common())


def replay_lists(
    agent: ConversationalRecommender,
    dialogue: RedialDialogue,
    mapping: dict[str, object],
    runtime: AgentRuntime,
    stops: set[int],
) -> dict[int, list[object]]:
    """Send the seeker's messages to one agent session; the latest non-empty list at each stop index."""
    catalog = runtime.catalog
    session = f"redial-{dialogue.conversation_id}-replay"

    def title(movie: str) -> str:
        item = mapping.get(movie)
        return catalog.title(item) if item is not None else dialogue.movies.get(movie, "")  # type: ignore[arg-type]

    latest: list[object] = []
    lists: dict[int, list[object]] = {}
    for index, message in enumerate(dialogue.messages):
        if index in stops:
            lists[index] = list(latest)
        if index >= max(stops, default=-1):
            break
        text = MENTION.sub(lambda m: title(m.group(1)), message.text).strip()
        if message.sender != "seeker" or not text:
            continue
        response = agent.respond(session, text, session_id=session)
        if response.items:
            latest = [catalog.coerce_item_id(i.item_id) for i in response.items]
    return lists


def _join(titles: Sequence[str]) -> str:
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"


def _ratio(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole else 0.0
