"""The behavioural priors of the offline engine: what rating logs cannot identify, stated once.

The offline engine (:mod:`recpilot.simulation.offline_engine`) fits preferences on data; how users
examine a page, how strongly liking turns into clicking, and when they leave are priors, each with a
documented default and source (:data:`PRIOR_SOURCES`, reported with the fitted parameters).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
        click_intercept: Added to the like logit to give the click logit of an examined item.
        click_slope: Multiplies the like logit in the click logit.
        choice_weight: Multiplies the item's relative choice propensity in the click logit.
        choice_reference: What the choice propensity is relative to: ``chosen``, the mean over the
            items the user chose in the log (an item as choosable as the user's own picks is clicked
            with its like probability), or ``catalog``, the mean over the whole catalog.
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
    click_intercept: float = 0.0
    click_slope: float = Field(default=1.0, ge=0.0)
    choice_weight: float = Field(default=1.0, ge=0.0)
    choice_reference: Literal["chosen", "catalog"] = "chosen"


#: Where each behavioural prior comes from (reported with the fitted parameters).
PRIOR_SOURCES = {
    "eta": "position bias (p+1)^-eta, eta=1 from click logs (Joachims et al. 2017); not identifiable "
    "from rating logs without positions",
    "click_intercept": "0: an examined item as choosable as the user's own picks is clicked with its "
    "like probability (no click logs)",
    "click_slope": "1: clicks follow expected liking one to one (no click logs)",
    "choice_weight": "1: choice odds (what users pick of their own accord) and liking odds combine "
    "as a product of experts, neither favoured (no click logs)",
    "choice_reference": "chosen: choice propensities are relative to the items the user chose in the "
    "log, so an item as choosable as the user's own picks is clicked with its like probability (no "
    "click logs to fit the click prevalence; the catalog mean put about 0.9 clicks on every page)",
    "leaving": "satisfaction/fatigue/hazard defaults of BehaviourConfig (no session logs)",
    "selection_on_observables": "selection depends on (user, item) only through the like model's "
    "features; what selection on the rating itself adds is not corrected",
}
