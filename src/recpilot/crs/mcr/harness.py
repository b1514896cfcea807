"""The MCR evaluation harness: simulated conversations over (user, target item) pairs.

Protocol of SCPR / UNICORN / MCMIPL: for each pair the simulated user holds the target, opens by stating
one of its attributes (seeded), answers questions truthfully and rejects lists that miss the target. As
in UNICORN's ``RL/RL_evaluate.py``, the opening uses the first of ``max_turns`` turns, so the system acts
at most ``max_turns - 1`` times; a success on the system's ``T``-th action counts turn ``T`` for SR@k,
AT and hDCG, and a failure counts ``max_turns`` in AT. A question and a recommendation each take a turn.

The environment keeps the candidate set by one of two rule sets (``MCRConfig.environment``): ``paper``
(the default) follows the published simulators (a rejected attribute leaves the binary candidates
unchanged, a rejected list leaves them while 10 or fewer remain, MCMIPL's union rule for multiple-choice
answers); ``ours`` drops every item inconsistent with an answer ("truthful negatives as filters", an
easier task). :mod:`recpilot.crs.mcr.settings` documents both with their sources.

Two ablations make rows comparable: ``negatives=False`` hides the user's "no" answers and rejected lists
from the policy (it still knows what it asked; the environment applies its rules as before), and
``prior="random"`` replaces the collaborative prior by seeded noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recpilot.conversation.policy.base import Ask, ConversationPolicy
from recpilot.conversation.policy.registry import build_policy
from recpilot.conversation.policy.space import AttributeSpace
from recpilot.conversation.state import DialogueState
from recpilot.crs.mcr.data import MCRData
from recpilot.crs.mcr.metrics import average_turns, hdcg, success_rate
from recpilot.crs.mcr.prior import CollaborativePrior, Prior, RandomPrior
from recpilot.crs.mcr.settings import CandidateSet, Environment
from recpilot.crs.mcr.user import SimulatedUser
from recpilot.errors import ConfigError

Setting = Literal["binary", "multiple-choice"]
PriorKind = Literal["model", "random"]

_RULES: dict[str, str] = {
    "ours": "truthful negatives as filters: candidates drop items with a rejected attribute and every "
    "rejected list",
    "paper": (
        "published candidate rules (UNICORN binary: a rejected attribute keeps the candidates; "
        "MCMIPL multiple choice: union of accepted, minus rejected; "
        "rejected lists leave only while >k remain)"
    ),
}


class MCRConfig(BaseModel):
    """How the benchmark is run.

    Attributes:
        max_turns: Turns per conversation, the user's opening included (15 in the literature).
        k: Items per recommendation (10 in the literature).
        setting: ``binary`` (yes/no questions on one attribute: SCPR, UNICORN) or ``multiple-choice``
            (several attributes per question, the user picks all that apply: MCMIPL-style).
        choices: Attributes offered per multiple-choice question.
        seed: Seed of the users' openings and of the user and pair samples.
        max_users: Converse with the test pairs of at most this many users (a seeded sample).
        max_pairs: Converse on the first ``max_pairs`` of a seeded shuffle of the pairs, as UNICORN's
            ``RL_evaluate.py`` does (4,000 on LastFM*); None keeps every pair.
        model: The recpilot model fitted on the train split for the collaborative prior.
        exclude_history: Rank the user's training items last in the prior (they are known already).
        environment: Candidate rules: ``paper`` (the published UNICORN / MCMIPL simulators, the
            default) or ``ours`` (truthful negatives as filters); see
            :mod:`recpilot.crs.mcr.settings`.
        prior: ``model`` (the collaborative prior of ``model``) or ``random`` (seeded noise, an ablation).
        negatives: Tell the policy the user's "no" answers and rejected lists (False is an ablation).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_turns: int = Field(default=15, ge=2)
    k: int = Field(default=10, ge=1)
    setting: Setting = "binary"
    choices: int = Field(default=5, ge=2)
    seed: int = 0
    max_users: int | None = Field(default=None, ge=1)
    max_pairs: int | None = Field(default=None, ge=1)
    model: str = "ease"
    exclude_history: bool = True
    environment: Environment = "paper"
    prior: PriorKind = "model"
    negatives: bool = True

    @property
    def question_size(self) -> int:
        """Attributes per question in this setting."""
        return 1 if self.setting == "binary" else self.choices


@dataclass(frozen=True)
class ConversationOutcome:
    """One simulated conversation.

    Attributes:
        user: The user id.
        target: The target item id.
        turn: System turn of the success (1-based), 0 for a failure.
        rank: The target's position in the successful list, 0 for a failure.
        questions: Questions asked.
        recommendations: Lists shown.
    """

    user: str
    target: str
    turn: int
    rank: int
    questions: int
    recommendations: int


class MCRReport(BaseModel):
    """Aggregated results of one policy on one dataset."""

    model_config = ConfigDict(extra="forbid")

    policy: str
    dataset: str
    environment: str
    setting: str
    n_conversations: int
    n_users: int
    sr5: float
    sr10: float
    sr15: float
    avg_turns: float
    hdcg: float
    avg_questions: float
    prior_model: str
    negatives: bool
    pairs: str
    fit_seconds: float
    wall_seconds: float
    fallbacks: int = 0
    protocol: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints (``sr@5`` etc. spelled as in the papers)."""
        data = self.model_dump()
        for k in (5, 10, 15):
            data[f"sr@{k}"] = data.pop(f"sr{k}")
        return data


def make_policy(name: str, config: MCRConfig, **overrides: Any) -> ConversationPolicy[Any]:
    """The policy ``name`` configured for the benchmark's ``k``, question size and seed."""
    settings: dict[str, Any] = {"k": config.k, "question_size": config.question_size, "seed": config.seed}
    return build_policy(name, **{**settings, **overrides})


def select_pairs(
    pairs: Sequence[tuple[str, str]], max_users: int | None, seed: int, max_pairs: int | None = None
) -> list[tuple[str, str]]:
    """The pairs to converse on.

    All pairs in file order, or those of a seeded sample of ``max_users`` users (file order kept); then,
    with ``max_pairs``, the first ``max_pairs`` of a seeded shuffle (UNICORN's sampling).
    """
    selected = list(pairs)
    if max_users is not None:
        users = sorted({user for user, _ in pairs})
        chosen = set(np.random.default_rng(seed).permutation(users)[:max_users].tolist())
        selected = [pair for pair in selected if pair[0] in chosen]
    if max_pairs is not None:
        order = np.random.default_rng([seed, len(selected)]).permutation(len(selected))[:max_pairs]
        selected = [selected[int(i)] for i in order]
    return selected


def build_prior(data: MCRData, config: MCRConfig) -> Prior:
    """The prior ``config`` asks for: ``config.model`` fitted on the train split, or seeded noise."""
    if config.prior == "random":
        return RandomPrior(data.space.n_items, config.seed)
    return CollaborativePrior.fit(data, config.model, exclude_history=config.exclude_history)


def describe_pairs(config: MCRConfig, selected: int, total: int) -> str:
    """How the conversations were chosen, for reports ("all 11892 test pairs", "4000 of ...")."""
    if config.max_pairs is None and config.max_users is None:
        return f"all {total} pairs"
    users = f" of {config.max_users} sampled users" if config.max_users is not None else ""
    return f"{selected} of {total} pairs{users} (seeded shuffle, seed {config.seed})"


def converse(
    policy: ConversationPolicy[Any],
    space: AttributeSpace,
    user_id: str,
    target: str,
    scores: np.ndarray[Any, Any] | None,
    config: MCRConfig,
    rng: np.random.Generator,
) -> ConversationOutcome:
    """One conversation between ``policy`` and a simulated user holding ``target``."""
    user = SimulatedUser(space, target, rng)
    state = DialogueState(session_id=f"{user_id}:{target}", user_id=user_id)
    candidates = CandidateSet(space, config.environment, k=config.k)
    opening = user.opening()
    if opening is not None:
        state.accept_attribute(opening)
        candidates.answer([opening], [])
    policy.reset()
    questions = recommendations = 0
    for turn in range(1, config.max_turns):
        action = policy.decide(
            state, space, scores, turns_left=config.max_turns - turn, candidates=candidates.mask
        )
        state.turn = turn
        rank = user.respond(action, state, record_negatives=config.negatives)
        if isinstance(action, Ask):
            questions += 1
            accepted, rejected = user.answer(action)
            candidates.answer(accepted, rejected, multiple_choice=action.multiple_choice)
            continue
        recommendations += 1
        if rank:
            return ConversationOutcome(user_id, target, turn, rank, questions, recommendations)
        candidates.reject_list(action.item_ids)
    return ConversationOutcome(user_id, target, 0, 0, questions, recommendations)


def run_mcr(
    policy: ConversationPolicy[Any],
    data: MCRData,
    config: MCRConfig,
    *,
    prior: Prior | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[MCRReport, list[ConversationOutcome]]:
    """Run every selected conversation and aggregate SR@5/10/15, AT and hDCG.

    Args:
        policy: The policy under test (its ``k`` and question size must match ``config``).
        data: The benchmark data.
        config: Protocol settings.
        prior: A fitted prior (built here from ``config`` when None; pass one to share its fit).
        progress: Called with (done, total) every few hundred conversations.
    """
    if policy.config.k != config.k or policy.config.question_size != config.question_size:
        raise ConfigError(
            f"policy {policy.name!r} has k={policy.config.k}, question_size={policy.config.question_size}; "
            f"the {config.setting} setting needs k={config.k}, question_size={config.question_size}"
        )
    if prior is not None and config.prior == "random" and not isinstance(prior, RandomPrior):
        raise ConfigError("the configuration asks for a random prior but a fitted prior was passed")
    start = time.perf_counter()
    prior = prior or build_prior(data, config)
    pairs = select_pairs(data.pairs, config.max_users, config.seed, config.max_pairs)
    outcomes: list[ConversationOutcome] = []
    for index, (user_id, target) in enumerate(pairs):
        rng = np.random.default_rng([config.seed, index])
        outcomes.append(converse(policy, data.space, user_id, target, prior.scores(user_id), config, rng))
        if progress is not None and (index + 1) % 500 == 0:
            progress(index + 1, len(pairs))
    turns = np.array([o.turn for o in outcomes], dtype=np.int64)
    ranks = np.array([o.rank for o in outcomes], dtype=np.int64)
    report = MCRReport(
        policy=policy.name,
        dataset=data.name,
        environment=config.environment,
        setting=f"{config.setting}, single target, {config.environment} environment",
        n_conversations=len(outcomes),
        n_users=len({o.user for o in outcomes}),
        sr5=success_rate(turns, 5),
        sr10=success_rate(turns, 10),
        sr15=success_rate(turns, config.max_turns),
        avg_turns=average_turns(turns, config.max_turns),
        hdcg=hdcg(turns, ranks),
        avg_questions=float(np.mean([o.questions for o in outcomes])) if outcomes else 0.0,
        prior_model="random" if config.prior == "random" else config.model,
        negatives=config.negatives,
        pairs=describe_pairs(config, len(pairs), len(data.pairs)),
        fit_seconds=prior.fit_seconds,
        wall_seconds=time.perf_counter() - start,
        fallbacks=len(getattr(policy, "fallbacks", [])),
        protocol=(
            f"UNICORN protocol: {config.max_turns} turns incl. the user's opening attribute, "
            f"top-{config.k} lists, truthful user; {_RULES[config.environment]}"
        ),
    )
    return report, outcomes
