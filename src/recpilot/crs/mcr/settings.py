"""The candidate rules of the MCR environment: ours, and those of the published LastFM* benchmark.

The environment, not the policy, owns the set of items still on offer: it is what a policy may recommend
from and what its question statistics run over. Two rule sets are implemented here.

``paper`` (the default of the harness, the CLI and the benchmark) reproduces the simulators of the
published LastFM* results, read from their code (below).

``ours`` ("truthful negatives as filters") keeps exactly the items consistent with everything the user
said: every accepted attribute, no rejected attribute, no rejected item. On LastFM*'s 8,438 fine-grained
tags every truthful "no" then removes items, an easier task: its figures are not comparable with
published tables.

``paper``, with its sources:

* Binary questions -- UNICORN (Deng et al., SIGIR 2021), github.com/dengyang17/unicorn,
  ``RL/env_binary_question.py`` (``BinaryRecommendEnv``), the environment its ``RL/RL_evaluate.py`` uses
  for ``LAST_FM_STAR``. MCMIPL ships the same file (github.com/ZYM6-6/MCMIPL, ``RL/env_binary_question.py``).
  SCPR's released simulator (github.com/gangyizh/SCPR, same path) has the same candidate rules: its
  rejected-attribute filter in ``_update_cand_items`` is commented out, and its item score has no
  rejected-attribute term at all.

  - *Start*: every item is a candidate (``reset``); the user's opening attribute is drawn uniformly
    (``random.choice``) from the target item's ``belong_to`` list, i.e. its ``feature_index`` tags in
    ``item_dict.json`` (the fine-grained tags: 8,438 features on LastFM*, the vocabulary recpilot
    uses), and is applied as an accepted answer, so the conversation starts on the items that have it.
  - *Accepted attribute*: candidates intersect the items that have it (``_update_cand_items``).
  - *Rejected attribute*: the candidate set is **not** changed; the attribute only lowers the score of
    the items that hold it (``_item_score``, a sigmoid penalty inside the agent's ranking).
  - *Rejected list*: its items leave the candidates **only while more than 10 candidates remain**
    (``_recommend_update``, ``rec_num = 10``); success is the target anywhere in the 10 items.
  - *Turns*: the opening takes step 1 of ``max_turn = 15``; a step taken at step 15 ends the
    conversation as a failure before acting, so the system acts at most 14 times. ``RL_evaluate.py``
    counts a success on the system's ``t``-th action (0-based) as turn ``t + 1`` for SR@5/10/15 and AT
    (a failure counts 15) and scores hDCG with ``1/log2(t+3) + (1/log2(t+2) - 1/log2(t+3))/log2(rank+1)``:
    the same bookkeeping as :mod:`recpilot.crs.mcr.harness`.
  - *Pairs*: every (user, item) pair of ``review_dict_test.json``, shuffled, of which only the first
    4,000 are evaluated on LastFM* ("for the sake of time"), averaged over blocks of ``observe_num``.
    recpilot runs all 11,892 pairs in file order, or with ``MCRConfig.max_pairs`` the first N of a
    seeded shuffle.

* Multiple-choice questions -- MCMIPL (Zhang et al., WWW 2022), github.com/ZYM6-6/MCMIPL,
  ``RL/env_multi_choice_question.py`` (``MultiChoiceRecommendEnv``).

  - *Question*: up to ``choice_num`` (4 by default in ``RL_model.py``) fine attributes that share one
    coarse attribute type (``link_to_feature``; LastFM*'s coarse types come from ``fea_large.pkl``,
    which the SCPR_Data layout recpilot reads does not hold, so recpilot offers the top attributes of
    its policy without a shared type).
  - *Answer*: the user accepts every offered attribute the target has and rejects the others.
  - *Candidates*: the candidates with **any** accepted attribute of the question (a union within one
    question; an intersection across questions), minus the candidates with **any** rejected attribute;
    with no accepted attribute only the removal applies; an update that would empty the set is skipped.
  - *Rejected list*, *turns* and *opening*: as in the binary environment.
  - MCMIPL's users hold several target items at once (multi-interest, ``UI_data/test.pkl``); recpilot's
    simulated user holds one, so the opening attribute is one of the target's, as in UNICORN.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from recpilot.conversation.policy.space import AttributeSpace, IndexArray

Environment = Literal["paper", "ours"]

ENVIRONMENTS: tuple[Environment, ...] = ("paper", "ours")


class CandidateSet:
    """The items still on offer in one conversation, updated by the rules of ``environment``.

    Args:
        space: The attribute space.
        environment: ``paper`` (the published simulators) or ``ours`` (consistent with every answer).
        k: Items per recommendation (the paper rules keep a rejected list's items while <= ``k`` remain).
    """

    def __init__(self, space: AttributeSpace, environment: Environment = "paper", *, k: int = 10) -> None:
        self.space = space
        self.environment: Environment = environment
        self.k = k
        self.mask: npt.NDArray[np.bool_] = np.ones(space.n_items, dtype=np.bool_)

    @property
    def rows(self) -> IndexArray:
        """Candidate rows in row order."""
        return np.flatnonzero(self.mask).astype(np.int64)

    def __len__(self) -> int:
        return int(self.mask.sum())

    def _holding(self, names: Iterable[str]) -> npt.NDArray[np.bool_]:
        """Items that hold any of ``names``."""
        held = np.zeros(self.space.n_items, dtype=np.bool_)
        for name in names:
            held[self.space.items_with(name)] = True
        return held

    def answer(
        self, accepted: Sequence[str], rejected: Sequence[str], *, multiple_choice: bool = False
    ) -> None:
        """Apply the user's answer to one question (the opening is an answer with one accepted attribute).

        Args:
            accepted: Offered attributes the user accepted.
            rejected: Offered attributes the user rejected.
            multiple_choice: The question offered several attributes at once (MCMIPL's rule in ``paper``).
        """
        if self.environment == "ours":
            for name in accepted:
                self.mask &= self._holding([name])
            self.mask &= ~self._holding(rejected)
            return
        if not multiple_choice:  # UNICORN: an acceptance intersects, a rejection changes nothing
            for name in accepted:
                self.mask &= self._holding([name])
            return
        kept = self.mask & self._holding(accepted) if accepted else self.mask.copy()
        kept &= ~self._holding(rejected)
        if kept.any():  # MCMIPL skips an update that would leave no candidate
            self.mask = kept

    def reject_list(self, item_ids: Sequence[str]) -> None:
        """Apply a rejected recommendation (``paper``: only while more than ``k`` candidates remain)."""
        if self.environment == "paper" and len(self) <= self.k:
            return
        rows = self.space.item_positions(item_ids)
        self.mask[rows[rows >= 0]] = False
