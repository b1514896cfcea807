"""The calibrated behavioural engine: no LLM, vectorised over many users at once.

The user model has separate parts, each either fitted by maximum likelihood or taken from a stated
prior (:meth:`OfflineEngine.parameters` lists which):

1. **Examination** (position bias, prior): position ``p`` is examined with probability
   ``rho_u * (p + 1) ** -eta``; ``rho_u`` grows with the persona's activity.
2. **Attraction** (click): an examined item is clicked with probability
   ``sigmoid(click_intercept + click_slope * logit q_ui)``, where ``q_ui`` is the exposure-corrected
   probability that the user would like the item if shown it at random (fitted, see
   :mod:`recpilot.simulation.like_model`), plus ``choice_weight`` times the item's relative choice
   propensity (the exposure model's logit minus its mean over the items the user chose in the log);
   the defaults (0, 1, 1, prior) click an item as choosable as the user's own picks with its like
   probability, at the prevalence of random exposure, and less choosable items less often. (Centring
   on the catalog's mean instead made nearly every recommended item more choosable than average on
   a large catalog: about 0.9 clicks per page for any recommender, which hid their differences.)
   The user clicks the first examined attractive item and stops scanning the page (the cascade model).
3. **Consumption and rating** (fitted): a clicked item was chosen by the user, so it is liked with
   the like rate of chosen items ``P(like | u, i, chosen)``, and rated from the (IPS-weighted) rating
   distribution of likes or of dislikes: ratings depend on preference through the item's like
   probability.
4. **Leaving** (priors): satisfaction moves towards a signal (liked click, disliked click, nothing)
   and fatigue grows per page, faster for less active users; the user leaves when satisfaction falls
   below an activity-dependent threshold, fatigue reaches 1, or a small per-page hazard fires.

The vectorised :meth:`OfflineEngine.decide_arrays` is the one implementation; :meth:`adecide` calls it
with a batch of one, so the async path and the batch path draw the same numbers for the same
user-session seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recpilot.data.dataset import Dataset
from recpilot.errors import NotFittedError, UnknownIdError
from recpilot.simulation.behaviour import PRIOR_SOURCES, BehaviourConfig
from recpilot.simulation.calibration import examination, logit, sigmoid
from recpilot.simulation.draws import page_uniforms
from recpilot.simulation.engine import DecisionEngine, templated_interview
from recpilot.simulation.like_model import LikeModel, LikeModelConfig
from recpilot.simulation.persona import genre_matrix, string_index
from recpilot.simulation.types import (
    Interview,
    Page,
    PageDecision,
    Persona,
    SessionRecord,
    SimAction,
    UserState,
)

FloatArray = npt.NDArray[np.float64]


@dataclass
class PageBatch:
    """One page for each of ``B`` users, as arrays.

    Attributes:
        items: ``(B, k)`` internal item indices, -1 where the page has fewer items.
        like: ``(B, k)`` probability that the user would like the item if shown it at random.
        chosen: ``(B, k)`` like probability of the item once the user chose it (clicked).
        consumed: ``(B, k)`` True where the user already consumed the item (never attractive again).
        activity: ``(B,)`` persona activity.
        satisfaction, fatigue: ``(B,)`` state before the page.
        uniforms: ``(B, 2k + 2)`` uniform draws (see :func:`page_uniforms`).
        choice: ``(B, k)`` the user's relative choice propensity of the item (logit of the exposure
            model's probability minus its mean over the user's logged items, or over the catalog;
            see ``BehaviourConfig.choice_reference``; ``None``: 0).
    """

    items: npt.NDArray[np.int64]
    like: FloatArray
    chosen: FloatArray
    consumed: npt.NDArray[np.bool_]
    activity: FloatArray
    satisfaction: FloatArray
    fatigue: FloatArray
    uniforms: FloatArray
    choice: FloatArray | None = None


@dataclass
class PageOutcome:
    """What ``B`` users did with their pages.

    Attributes:
        examined: ``(B, k)`` examined positions.
        click: ``(B,)`` clicked position or -1.
        rating: ``(B,)`` rating of the click (NaN without one).
        liked: ``(B,)`` the click was liked.
        satisfaction, fatigue: ``(B,)`` state after the page.
        leave: ``(B,)`` the user leaves after this page.
        tired: ``(B,)`` leaving because of fatigue (for the interview).
    """

    examined: npt.NDArray[np.bool_]
    click: npt.NDArray[np.int64]
    rating: FloatArray
    liked: npt.NDArray[np.bool_]
    satisfaction: FloatArray
    fatigue: FloatArray
    leave: npt.NDArray[np.bool_]
    tired: npt.NDArray[np.bool_]


class OfflineEngine(DecisionEngine):
    """Calibrated behavioural engine (see the module docstring).

    Args:
        behaviour: Behavioural priors.
        like: Settings of the exposure-corrected like model.
        seed: Seed of the like model's sample and factors (when ``like`` settings are not given).
    """

    name = "offline"

    def __init__(
        self,
        behaviour: BehaviourConfig | None = None,
        *,
        like: LikeModelConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.behaviour = behaviour or BehaviourConfig()
        self.like_config = like or LikeModelConfig(seed=seed)
        self.preference: LikeModel | None = None
        self.dataset: Dataset | None = None
        self._genres: dict[str, list[str]] = {}
        self.item_index: dict[str, int] = {}
        self.user_index: dict[str, int] = {}
        self._centre: FloatArray = np.zeros(0)

    # -- fitting -----------------------------------------------------------------------------------------

    def fit(self, data: Dataset, *, like: LikeModel | None = None) -> OfflineEngine:
        """Fit the like model on ``data``: the simulated users' true preferences.

        For a simulation pass the whole dataset: the recommender under test sees only its training
        part, so the held-out items are true preferences it never saw. For fidelity validation or an
        audit pass the training part, so the held-out items stay unseen. A ``like`` model already
        fitted on the same data is adopted instead of a refit.
        """
        self.preference = like if like is not None else LikeModel(self.like_config).fit(data)
        self.dataset = data
        self._centre = np.full(data.n_users, np.nan)
        self.item_index = string_index(data.items.external_ids)
        self.user_index = string_index(data.users.external_ids)
        genres, names = genre_matrix(data)
        ids = data.items.external_ids
        self._genres = {
            str(ids[i]): [names[g] for g in genres.indices[genres.indptr[i] : genres.indptr[i + 1]]]
            for i in np.flatnonzero(np.diff(genres.indptr))
        }
        return self

    def _require(self) -> tuple[LikeModel, Dataset]:
        if self.preference is None or self.dataset is None:
            raise NotFittedError("OfflineEngine is not fitted: call fit(data) first")
        return self.preference, self.dataset

    @property
    def like_threshold(self) -> float:
        """The lowest rating that is a like: the like model's, the one source for every consumer."""
        preference, _ = self._require()
        return preference.threshold

    def parameters(self) -> dict[str, Any]:
        """The model's parameters, split into what was fitted on data and what was assumed (priors)."""
        preference, _ = self._require()
        return {
            "fitted": {
                "like_model": "maximum-likelihood logistic regressions (exposure, IPS-weighted like, "
                "chosen like) on the logged ratings",
                **preference.summary,
                "rating_distributions": "IPS-weighted rating histograms of likes and of dislikes",
            },
            "assumed": {
                **self.behaviour.model_dump(),
                "sources": PRIOR_SOURCES,
            },
        }

    # -- the vectorised core -----------------------------------------------------------------------------

    def attractiveness(self, like: FloatArray, choice: FloatArray | None = None) -> FloatArray:
        """Probability that an examined item is clicked: its like probability and choice propensity."""
        b = self.behaviour
        shift = 0.0 if choice is None else b.choice_weight * choice
        return sigmoid(b.click_intercept + b.click_slope * logit(like) + shift)

    def decide_arrays(self, batch: PageBatch) -> PageOutcome:
        """Decide ``B`` pages at once (see the module docstring for the model)."""
        self._require()
        b = self.behaviour
        n, k = batch.items.shape
        valid = batch.items >= 0
        rho = b.examine_base + (1.0 - b.examine_base) * batch.activity
        exam_p = rho[:, None] * examination(np.arange(k), b.eta)[None, :]
        attract = np.where(valid & ~batch.consumed, self.attractiveness(batch.like, batch.choice), 0.0)
        would_examine = batch.uniforms[:, :k] < exam_p
        hit = would_examine & (batch.uniforms[:, k : 2 * k] < attract)
        click = np.where(hit.any(axis=1), hit.argmax(axis=1), -1).astype(np.int64)
        stop = np.where(click >= 0, click, k)
        examined = would_examine & valid & (np.arange(k)[None, :] <= stop[:, None])

        clicked = click >= 0
        rows = np.arange(n)
        rating, liked = self.ratings(batch.chosen[rows, np.maximum(click, 0)], batch.uniforms[:, 2 * k])
        rating = np.where(clicked, rating, np.nan)
        liked = clicked & liked

        signal = np.where(liked, b.signal_liked, np.where(clicked, b.signal_disliked, b.signal_nothing))
        satisfaction = np.clip(
            batch.satisfaction + b.satisfaction_rate * (signal - batch.satisfaction), 0.0, 1.0
        )
        fatigue = np.clip(
            batch.fatigue
            + b.fatigue_per_page
            + b.fatigue_inactive * (1.0 - batch.activity)
            + b.fatigue_per_click * clicked,
            0.0,
            1.0,
        )
        tired = fatigue >= 1.0
        unhappy = satisfaction < b.leave_satisfaction + b.leave_inactive * (1.0 - batch.activity)
        leave = tired | unhappy | (batch.uniforms[:, 2 * k + 1] < b.leave_hazard) | ~valid.any(axis=1)
        return PageOutcome(examined, click, rating, liked, satisfaction, fatigue, leave, tired & ~unhappy)

    def ratings(self, chosen: FloatArray, uniform: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Ratings of consumed items and whether they are liked, from one uniform per item.

        The item is liked when ``uniform < chosen``; the uniform, rescaled inside its part, then picks
        the rating from the like or the dislike distribution.
        """
        preference, _ = self._require()
        liked = uniform < chosen
        inner = np.where(
            liked, uniform / np.maximum(chosen, 1e-12), (uniform - chosen) / np.maximum(1.0 - chosen, 1e-12)
        )
        return preference.rating_quantile(liked, np.clip(inner, 0.0, 1.0)), liked

    def user_arrays(self, users: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Like, chosen-like and relative choice ``(len(users), n_items)`` over the whole catalog."""
        preference, _ = self._require()
        like = preference.like_probabilities(users).astype(np.float64)
        chosen = preference.chosen_probabilities(users).astype(np.float64)
        choice = preference.exposure_logits(users)
        choice -= self._choice_centre(np.asarray(users, dtype=np.int64))[:, None]
        return like, chosen, choice

    def pair_arrays(
        self, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Like, chosen-like and relative choice of ``items`` ``(B, k)`` for ``users`` ``(B,)`` (-1: 0).

        Each value depends on its (user, item) pair alone, so a page gets the same numbers in a batch
        of one (:meth:`adecide`) and in a chunk (the fast path). The choice propensity is centred on
        the user's reference (``choice_reference``), computed once per user.
        """
        preference, _ = self._require()
        valid = items >= 0
        pair_users = np.broadcast_to(users[:, None], items.shape)
        like, chosen, exposure = preference.pair_probabilities(pair_users, np.maximum(items, 0))
        choice = logit(exposure) - self._choice_centre(users)[:, None]
        return tuple(np.where(valid, a, 0.0) for a in (like, chosen, choice))  # type: ignore[return-value]

    def _choice_centre(self, users: npt.NDArray[np.int64]) -> FloatArray:
        preference, _ = self._require()
        missing = np.unique(users[np.isnan(self._centre[users])])
        if len(missing):
            if not self._centre.flags.writeable:  # shared read-only by Ray's object store
                self._centre = self._centre.copy()
            self._centre[missing] = (
                preference.mean_chosen_exposure_logit(missing)
                if self.behaviour.choice_reference == "chosen"
                else preference.mean_exposure_logit(missing)
            )
        out: FloatArray = self._centre[users]
        return out

    def next_session(self, satisfaction: FloatArray, fatigue: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Satisfaction and fatigue at the start of the next session."""
        b = self.behaviour
        sat = b.initial_satisfaction + b.satisfaction_memory * (satisfaction - b.initial_satisfaction)
        return sat, fatigue * (1.0 - b.fatigue_recovery)

    # -- the DecisionEngine contract ---------------------------------------------------------------------

    def initial_state(self, persona: Persona) -> UserState:
        """Start at the configured initial satisfaction, rested."""
        return UserState(satisfaction=self.behaviour.initial_satisfaction, fatigue=0.0)

    def carry_over(self, persona: Persona, state: UserState) -> UserState:
        """Partial recovery of fatigue and regression of satisfaction between sessions."""
        sat, fat = self.next_session(np.array([state.satisfaction]), np.array([state.fatigue]))
        return state.model_copy(
            update={
                "session": state.session + 1,
                "page": 0,
                "satisfaction": float(sat[0]),
                "fatigue": float(fat[0]),
            }
        )

    async def adecide(self, persona: Persona, state: UserState, page: Page) -> PageDecision:
        """Decide one page through the vectorised core with a batch of one.

        An empty page is decided as the batch path decides a page of padding: nothing shown, the user
        leaves.
        """
        self._require()
        ids = [s.item_id for s in page.items]
        k = max(1, len(ids))
        items = np.array([self.item_index.get(i, -1) for i in ids] or [-1], dtype=np.int64)
        if persona.user_id not in self.user_index:
            raise UnknownIdError("user", [persona.user_id], "personas must come from the engine's dataset")
        user = np.array([self.user_index[persona.user_id]], dtype=np.int64)
        like, chosen, choice = self.pair_arrays(user, items[None, :])
        consumed = set(state.consumed)
        outcome = self.decide_arrays(
            PageBatch(
                items=items[None, :],
                like=like,
                chosen=chosen,
                consumed=np.array([[i in consumed for i in ids] or [False]], dtype=bool),
                activity=np.array([persona.activity]),
                satisfaction=np.array([state.satisfaction]),
                fatigue=np.array([state.fatigue]),
                uniforms=page_uniforms([state.seed], page.index, k),
                choice=choice,
            )
        )
        actions: list[SimAction] = []
        click = int(outcome.click[0])
        for index, (shown, examined) in enumerate(
            zip(page.items, outcome.examined[0, : len(ids)].tolist(), strict=True)
        ):
            if index == click:
                actions.append(SimAction(kind="click", item_id=shown.item_id, position=shown.position))
                rating = float(outcome.rating[0])
                actions.append(
                    SimAction(kind="rate", item_id=shown.item_id, position=shown.position, rating=rating)
                )
            else:
                actions.append(
                    SimAction(
                        kind="view" if examined else "skip", item_id=shown.item_id, position=shown.position
                    )
                )
        leave = bool(outcome.leave[0])
        if leave:
            actions.append(SimAction(kind="leave", reason="tired" if outcome.tired[0] else "unsatisfied"))
        return PageDecision(
            actions=actions,
            leave=leave,
            satisfaction=float(outcome.satisfaction[0]),
            fatigue=float(outcome.fatigue[0]),
        )

    async def ainterview(self, persona: Persona, state: UserState, record: SessionRecord) -> Interview:
        """The templated interview, naming the persona's favourite genre when nothing matched.

        A rating is liked at the like model's threshold, as on the batch path.
        """
        return templated_interview(
            persona,
            record,
            state.satisfaction,
            genres_by_item=self._genres,
            liked_threshold=self.like_threshold,
        )

    def genres_of(self, item_id: str) -> list[str]:
        """Genres of an item by external id (empty when unknown)."""
        return self._genres.get(item_id, [])
