"""The calibrated behavioural engine: no LLM, vectorised over many users at once.

A page is scanned top to bottom. Position ``p`` is examined with probability
``rho_u * (p + 1) ** -eta`` (``rho_u`` grows with the persona's activity); an examined item is attractive
with the probability of the calibrated logistic link (see :mod:`recpilot.simulation.calibration`);
the user clicks the first examined attractive item and stops scanning the page (the cascade model).
A click is rated from the user's own rating distribution shifted by preference. Satisfaction moves
towards a signal (liked click, disliked click, nothing) and fatigue grows per page, faster for less
active users; the user leaves when satisfaction falls below an activity-dependent threshold, fatigue
reaches 1, or a small per-page hazard fires.

The vectorised :meth:`OfflineEngine.decide_arrays` is the one implementation; :meth:`adecide` calls it
with a batch of one, so the async path and the batch path draw the same numbers for the same
user-session seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import ndtri

from recpilot.data.dataset import Dataset
from recpilot.errors import NotFittedError, UnknownIdError
from recpilot.models.ease import EaseRecommender
from recpilot.simulation.calibration import LinkParams, PreferenceModel, calibrate_link, examination, sigmoid
from recpilot.simulation.engine import DecisionEngine, templated_interview
from recpilot.simulation.persona import build_personas, genre_matrix, string_index
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


class BehaviourConfig(BaseModel):
    """Behavioural priors of the engine (not identifiable from rating logs; documented defaults).

    Attributes:
        eta: Position-bias exponent of the examination curve ``(p + 1) ** -eta``.
        examine_base: Examination scale of the least active user (the most active examines with 1).
        initial_satisfaction: Satisfaction at the start of the first session.
        satisfaction_rate: How far satisfaction moves towards a page's signal.
        signal_liked: Signal of a page with a liked click.
        signal_disliked: Signal of a page with a disliked click.
        signal_nothing: Signal of a page without a click.
        fatigue_per_page: Fatigue added by each page for the most active user.
        fatigue_inactive: Extra fatigue per page for the least active user.
        fatigue_per_click: Fatigue added by a click.
        leave_satisfaction: Satisfaction below which the most active user leaves.
        leave_inactive: Added to that threshold for the least active user.
        leave_hazard: Per-page probability of leaving for reasons outside the page.
        fatigue_recovery: Share of fatigue gone before the next session.
        satisfaction_memory: Share of the deviation from the initial satisfaction kept across sessions.
        attractiveness_shift: Added to the link's logit on pages (0: the calibrated link).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    eta: float = Field(default=1.0, ge=0.0)
    examine_base: float = Field(default=0.7, ge=0.0, le=1.0)
    initial_satisfaction: float = Field(default=0.6, ge=0.0, le=1.0)
    satisfaction_rate: float = Field(default=0.35, ge=0.0, le=1.0)
    signal_liked: float = 1.0
    signal_disliked: float = 0.35
    signal_nothing: float = 0.1
    fatigue_per_page: float = Field(default=0.05, ge=0.0)
    fatigue_inactive: float = Field(default=0.1, ge=0.0)
    fatigue_per_click: float = Field(default=0.02, ge=0.0)
    leave_satisfaction: float = Field(default=0.2, ge=0.0, le=1.0)
    leave_inactive: float = Field(default=0.15, ge=0.0)
    leave_hazard: float = Field(default=0.02, ge=0.0, le=1.0)
    fatigue_recovery: float = Field(default=0.8, ge=0.0, le=1.0)
    satisfaction_memory: float = Field(default=0.5, ge=0.0, le=1.0)
    attractiveness_shift: float = 0.0


@dataclass
class PageBatch:
    """One page for each of ``B`` users, as arrays.

    Attributes:
        items: ``(B, k)`` internal item indices, -1 where the page has fewer items.
        z: ``(B, k)`` standardised preference scores of those items.
        popularity: ``(B, k)`` popularity percentiles of those items.
        consumed: ``(B, k)`` True where the user already consumed the item (never attractive again).
        activity, conformity, rating_mean, rating_std: ``(B,)`` persona traits.
        satisfaction, fatigue: ``(B,)`` state before the page.
        uniforms: ``(B, 2k + 2)`` uniform draws (see :func:`page_uniforms`).
    """

    items: npt.NDArray[np.int64]
    z: FloatArray
    popularity: FloatArray
    consumed: npt.NDArray[np.bool_]
    activity: FloatArray
    conformity: FloatArray
    rating_mean: FloatArray
    rating_std: FloatArray
    satisfaction: FloatArray
    fatigue: FloatArray
    uniforms: FloatArray


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


def page_uniforms(seeds: npt.ArrayLike, page: int, k: int) -> FloatArray:
    """The ``(B, 2k + 2)`` uniforms of page ``page`` for user-session ``seeds``.

    Columns ``0..k-1`` decide examination, ``k..2k-1`` attractiveness, ``2k`` the rating noise and
    ``2k+1`` the leave hazard. Each row depends only on its seed and the page number.
    """
    rows = [np.random.default_rng([int(s), page]).random(2 * k + 2) for s in np.asarray(seeds).ravel()]
    return np.vstack(rows) if rows else np.empty((0, 2 * k + 2))


class OfflineEngine(DecisionEngine):
    """Calibrated behavioural engine (see the module docstring).

    Args:
        behaviour: Behavioural priors.
        l2: EASE regularisation of the preference model.
        calibration_fraction: Share of each user's training interactions held out to fit the link.
        seed: Seed of calibration (inner split, negative sampling, standardisation sample).
    """

    name = "offline"

    def __init__(
        self,
        behaviour: BehaviourConfig | None = None,
        *,
        l2: float = 100.0,
        calibration_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.behaviour = behaviour or BehaviourConfig()
        self.l2 = l2
        self.calibration_fraction = calibration_fraction
        self.seed = seed
        self.link: LinkParams | None = None
        self.preference: PreferenceModel | None = None
        self.dataset: Dataset | None = None
        self._rating_scale = (1.0, 5.0, 0.5)
        self._genres: dict[str, list[str]] = {}
        self.item_index: dict[str, int] = {}
        self.user_index: dict[str, int] = {}

    # -- fitting -----------------------------------------------------------------------------------------

    def fit(
        self,
        train: Dataset,
        *,
        truth: Dataset | None = None,
        link: LinkParams | None = None,
        truth_model: EaseRecommender | None = None,
    ) -> OfflineEngine:
        """Calibrate on ``train`` and fit the ground-truth preferences on ``truth`` (default ``train``).

        For simulation pass the full dataset as ``truth`` (train plus held-out: the user's true
        preferences); for fidelity validation leave it out so held-out items stay unseen.
        A previously fitted ``link`` skips calibration; ``truth_model``, an EASE already fitted on
        ``truth`` with this engine's ``l2``, is adopted as the preference model instead of a refit.
        """
        if link is None:
            conformity = np.zeros(train.n_users)
            users = string_index(train.users.external_ids)
            for persona in build_personas(train):
                conformity[users[persona.user_id]] = persona.conformity
            link = calibrate_link(
                train, conformity, fraction=self.calibration_fraction, seed=self.seed, l2=self.l2
            )
        self.link = link
        data = truth if truth is not None else train
        self.preference = PreferenceModel(l2=self.l2, seed=self.seed).fit(data, fitted=truth_model)
        self.dataset = data
        self.item_index = string_index(data.items.external_ids)
        self.user_index = string_index(data.users.external_ids)
        self._rating_scale = _rating_scale(data)
        genres, names = genre_matrix(data)
        ids = data.items.external_ids
        self._genres = {
            str(ids[i]): [names[g] for g in genres.indices[genres.indptr[i] : genres.indptr[i + 1]]]
            for i in np.flatnonzero(np.diff(genres.indptr))
        }
        return self

    def _require(self) -> tuple[LinkParams, PreferenceModel, Dataset]:
        if self.link is None or self.preference is None or self.dataset is None:
            raise NotFittedError("OfflineEngine is not fitted: call fit(train, truth=...) first")
        return self.link, self.preference, self.dataset

    # -- the vectorised core -----------------------------------------------------------------------------

    def attractiveness(self, z: FloatArray, conformity: FloatArray, popularity: FloatArray) -> FloatArray:
        """Probability that an examined item is clicked (the calibrated link, shifted for pages)."""
        link, _, _ = self._require()
        logit = link.logit(z, conformity[:, None], popularity) + self.behaviour.attractiveness_shift
        return sigmoid(logit)

    def decide_arrays(self, batch: PageBatch) -> PageOutcome:
        """Decide ``B`` pages at once (see the module docstring for the model)."""
        self._require()
        b = self.behaviour
        n, k = batch.items.shape
        valid = batch.items >= 0
        rho = b.examine_base + (1.0 - b.examine_base) * batch.activity
        exam_p = rho[:, None] * examination(np.arange(k), b.eta)[None, :]
        attract = self.attractiveness(batch.z, batch.conformity, batch.popularity)
        attract = np.where(valid & ~batch.consumed, attract, 0.0)
        would_examine = batch.uniforms[:, :k] < exam_p
        hit = would_examine & (batch.uniforms[:, k : 2 * k] < attract)
        click = np.where(hit.any(axis=1), hit.argmax(axis=1), -1).astype(np.int64)
        stop = np.where(click >= 0, click, k)
        examined = would_examine & valid & (np.arange(k)[None, :] <= stop[:, None])

        clicked = click >= 0
        rows = np.arange(n)
        z_click = batch.z[rows, np.maximum(click, 0)]
        rating = np.where(
            clicked,
            self.ratings(z_click, batch.rating_mean, batch.rating_std, batch.uniforms[:, 2 * k]),
            np.nan,
        )
        liked = clicked & (np.nan_to_num(rating, nan=-np.inf) >= batch.rating_mean)

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

    def ratings(self, z: FloatArray, mean: FloatArray, std: FloatArray, uniform: FloatArray) -> FloatArray:
        """Ratings on the data's scale: the user's distribution shifted by preference (see calibration)."""
        link, _, _ = self._require()
        lo, hi, step = self._rating_scale
        noise = ndtri(np.clip(uniform, 1e-9, 1 - 1e-9))
        raw = mean + np.maximum(std, 0.5) * (
            link.rating_slope * (z - link.positive_z) + link.rating_noise * noise
        )
        out: FloatArray = np.clip(np.round(raw / step) * step, lo, hi)
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
        _, preference, _ = self._require()
        ids = [s.item_id for s in page.items]
        k = max(1, len(ids))
        items = np.array([self.item_index.get(i, -1) for i in ids] or [-1], dtype=np.int64)
        if persona.user_id not in self.user_index:
            raise UnknownIdError("user", [persona.user_id], "personas must come from the engine's dataset")
        user = self.user_index[persona.user_id]
        scores = preference.scores(np.array([user], dtype=np.int64))[0]
        safe = np.maximum(items, 0)
        consumed = set(state.consumed)
        outcome = self.decide_arrays(
            PageBatch(
                items=items[None, :],
                z=np.where(items >= 0, scores[safe], 0.0)[None, :],
                popularity=np.where(items >= 0, preference.popularity_pct[safe], 0.0)[None, :],
                consumed=np.array([[i in consumed for i in ids] or [False]], dtype=bool),
                activity=np.array([persona.activity]),
                conformity=np.array([persona.conformity]),
                rating_mean=np.array([persona.rating_mean]),
                rating_std=np.array([persona.rating_std]),
                satisfaction=np.array([state.satisfaction]),
                fatigue=np.array([state.fatigue]),
                uniforms=page_uniforms([state.seed], page.index, k),
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
        """The templated interview, naming the persona's favourite genre when nothing matched."""
        return templated_interview(persona, record, state.satisfaction, genres_by_item=self._genres)

    def genres_of(self, item_id: str) -> list[str]:
        """Genres of an item by external id (empty when unknown)."""
        return self._genres.get(item_id, [])


def _rating_scale(data: Dataset) -> tuple[float, float, float]:
    values = np.unique(data.interactions["rating"].to_numpy(np.float64))
    if data.implicit or len(values) < 2:
        return 1.0, 1.0, 1.0
    step = float(np.min(np.diff(values)))
    return float(values[0]), float(values[-1]), max(step, 1e-6)
