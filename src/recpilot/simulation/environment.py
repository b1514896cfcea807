"""The recommender side of a simulation: the protocols, three adapters, and the page-level guard.

Anything that answers :meth:`RecommenderUnderTest.arecommend` can be simulated: a fitted model
(:class:`ModelRecommender`, which also ranks whole batches for the fast path), the agent
(:class:`AgentRecommender`) or any HTTP service (:class:`HttpRecommender`). :func:`fetch_page` calls
it under a timeout and turns failures, duplicates and unknown ids into recorded errors. A recommender
that also implements :class:`FeedbackObserver` learns from every page's outcome.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx2
import numpy as np
import numpy.typing as npt

from recpilot.data.dataset import Dataset
from recpilot.memory.base import InMemoryProfileMemory
from recpilot.memory.dialogue import DialogueState
from recpilot.models.base import Histories, Recommender
from recpilot.simulation.persona import string_index
from recpilot.simulation.types import Page, PageDecision

if TYPE_CHECKING:
    from recpilot.agent import RecommenderAgent


@runtime_checkable
class RecommenderUnderTest(Protocol):
    """A recommender the simulated users meet: the one required method."""

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        """Up to ``k`` external item ids for ``user_id`` (best first), none of them in ``exclude``.

        Args:
            user_id: The real user the persona is grounded on (services may ignore it).
            history: The user's items so far, oldest first (training history plus this run's clicks).
            k: Page size.
            exclude: Items already shown in this session or consumed before.
        """
        ...


@runtime_checkable
class FeedbackObserver(Protocol):
    """A recommender that learns online (e.g. an exploration strategy): it hears every page's outcome.

    The runner calls :meth:`observe` after each page a recommender implementing it served, before the
    user's next request; a failure in it is recorded in the session's errors, like any other fault.
    """

    def observe(self, user_id: str, page: Page, decision: PageDecision) -> None:
        """Learn from what the user did with ``page``.

        Args:
            user_id: The persona's user id (the one :meth:`RecommenderUnderTest.arecommend` got).
            page: The page as shown.
            decision: The user's actions on it (clicks, ratings, views, skips) and whether they left.
        """
        ...


@runtime_checkable
class InstructableRecommender(Protocol):
    """A recommender that holds a conversation with each simulated user (e.g. the agent).

    Each simulated user (``sim_id``, distinct even for copies of one persona) gets its own
    conversation and memory, and may give it instructions (see
    :mod:`recpilot.simulation.instructions`). The runner calls these methods instead of
    :meth:`RecommenderUnderTest.arecommend` when a recommender has them; plain models need neither.
    """

    async def arecommend_for(
        self, sim_id: str, user_id: str, history: list[str], k: int, exclude: list[str]
    ) -> list[str]:
        """:meth:`RecommenderUnderTest.arecommend` inside the conversation of simulated user ``sim_id``."""
        ...

    async def ainstruct(self, sim_id: str, user_id: str, text: str) -> bool:
        """Hear an instruction of simulated user ``sim_id``; return whether it was acted on."""
        ...


class ModelRecommender:
    """A fitted :class:`~recpilot.models.Recommender` under test.

    Both modes have a batched form for the runner's fast path: :meth:`rank_batch` (stored rows) and
    :meth:`rank_histories` (ad-hoc histories, re-ranked every page).

    Args:
        model: The fitted model.
        use_history: Rank from ``history`` (training history plus this run's clicks) instead of the
            model's stored user row, so pages react to feedback (slower: one call per page).
    """

    def __init__(self, model: Recommender[Any], *, use_history: bool = False) -> None:
        self.model = model
        self.name = model.name
        self.use_history = use_history
        self._users: dict[str, object] = {str(u): u for u in model.user_map.external_ids.tolist()}
        self._items: dict[str, object] = {str(i): i for i in model.item_map.external_ids.tolist()}

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        """Rank for a known user (its stored row) or, with ``use_history`` or an unknown user, the history."""
        excluded = [self._items[i] for i in exclude if i in self._items]
        if not self.use_history and user_id in self._users:
            ranked = self.model.recommend(self._users[user_id], k=k, exclude=excluded)
        else:
            known = [self._items[i] for i in history if i in self._items]
            ranked = self.model.recommend(history=known, k=k, exclude=excluded)
        return [str(i) for i in ranked.ids()]

    @classmethod
    def for_training(
        cls, train: Dataset, *, model: str | Mapping[str, Any] = "ease", use_history: bool = False
    ) -> ModelRecommender:
        """The model ``model`` names (a registry name, dotted path or ``{"class", "config"}`` spec)
        fitted on ``train`` (the registry's ``recommender`` kind builds parts this way)."""
        from recpilot.models.registry import build_model

        return cls(build_model(model).fit(train), use_history=use_history)

    def rank_batch(self, users: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.int64]:
        """Top-``n`` internal item indices per internal user index (training items masked), -1 padded."""
        items, _ = self.model.recommend_indices(users, k=n)
        return items

    def rank_histories(
        self,
        histories: Sequence[npt.NDArray[np.int64]],
        exclude: Sequence[npt.NDArray[np.int64]],
        k: int,
    ) -> npt.NDArray[np.int64]:
        """Top-``k`` internal item indices per ad-hoc history (history items and ``exclude`` masked).

        The batched form of :meth:`arecommend` with ``use_history``, for the fast path's re-ranking.
        """
        n_items = self.model.n_items
        items, _ = self.model.recommend_histories(
            Histories.from_lists(histories, n_items), k, exclude=Histories.from_lists(exclude, n_items)
        )
        return items

    def same_space(self, user_ids: npt.NDArray[np.generic], item_ids: npt.NDArray[np.generic]) -> bool:
        """Whether the model's internal indices match a dataset's (then :meth:`rank_batch` applies)."""
        return bool(
            np.array_equal(self.model.user_map.external_ids, user_ids)
            and np.array_equal(self.model.item_map.external_ids, item_ids)
        )


class AgentRecommender:
    """The :class:`~recpilot.agent.RecommenderAgent` under test: each page is one agent turn.

    Every simulated user talks in a session of its own (``sim:<sim id>``); copies of one persona share
    the real user id the agent ranks for, so each copy after the first gets a shallow copy of the agent
    with a fresh in-memory profile memory: feed rules and dialogue never leak between copies. Items to
    exclude reach the agent as the session's ``seen_items`` (the dialogue state's "already seen" list,
    which the offline brain leaves out of every list), so pages come back full; the
    :class:`CatalogGuard` still drops any excluded item a brain names anyway.

    Args:
        agent: The agent.
        message: What the simulated user says to get recommendations.
    """

    def __init__(self, agent: RecommenderAgent, *, message: str = "recommend me something to watch") -> None:
        self.agent = agent
        self.name = "agent"
        self.message = message
        self._agents: dict[str, RecommenderAgent] = {}
        self._owner: dict[str, str] = {}  # real user id -> the simulated user using the shared agent

    def agent_for(self, sim_id: str, user_id: str) -> RecommenderAgent:
        """The agent simulated user ``sim_id`` talks to (the first copy of a persona gets ``agent``)."""
        agent = self._agents.get(sim_id)
        if agent is None:
            owner = self._owner.setdefault(user_id, sim_id)
            if owner == sim_id:
                agent = self.agent
            else:
                agent = copy.copy(self.agent)
                agent.runtime = dataclasses.replace(self.agent.runtime, memory=InMemoryProfileMemory())
            self._agents[sim_id] = agent
        return agent

    @classmethod
    def for_training(
        cls,
        train: Dataset,
        *,
        system: Mapping[str, Any] | None = None,
        message: str = "recommend me something to watch",
    ) -> AgentRecommender:
        """The agent a system config describes (default: the offline agent) over the training data
        (the registry's ``recommender`` kind builds parts this way).

        Args:
            train: The training part of the data: the agent's catalog and histories.
            system: A :class:`~recpilot.agent.system.SystemSpec` mapping (its dataset is ignored).
            message: What the simulated user says to get recommendations.
        """
        from recpilot.agent.system import build_agent

        return cls(build_agent(dict(system or {}), dataset=train), message=message)

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        """One turn for the real user ``user_id`` (its own simulated user)."""
        return await self.arecommend_for(user_id, user_id, history, k, exclude)

    async def arecommend_for(
        self, sim_id: str, user_id: str, history: list[str], k: int, exclude: list[str]
    ) -> list[str]:
        """Ask the agent in ``sim_id``'s session, with ``exclude`` as the session's seen items."""
        agent, session = self.agent_for(sim_id, user_id), f"sim:{sim_id}"
        memory = agent.runtime.memory
        state = memory.dialogue_state(session) or DialogueState(session_id=session, user_id=user_id)
        if exclude:
            state.seen_items = list(dict.fromkeys([*state.seen_items, *exclude]))
            memory.save_dialogue_state(state)
        response = await agent.arespond(user_id, self.message, session_id=session, source="simulated_user")
        banned = set(exclude)
        return [str(i.item_id) for i in response.items if str(i.item_id) not in banned][:k]

    async def ainstruct(self, sim_id: str, user_id: str, text: str) -> bool:
        """Say ``text`` in ``sim_id``'s session; acted on when the agent stored a new feed rule."""
        agent, session = self.agent_for(sim_id, user_id), f"sim:{sim_id}"
        memory = agent.runtime.memory
        before = len(memory.feed_rules(user_id))
        await agent.arespond(user_id, text, session_id=session, source="simulated_user")
        return len(memory.feed_rules(user_id)) > before


class HttpRecommender:
    """Any HTTP recommender service.

    The adapter POSTs ``{"user_id", "history", "k", "exclude"}`` as JSON and accepts a JSON list of ids,
    a list of ``{"item_id": ...}`` objects, or an object with such a list under ``"items"``.

    Args:
        url: The endpoint.
        timeout_s: Per-request timeout.
        headers: Extra request headers.
    """

    def __init__(
        self, url: str, *, timeout_s: float = 10.0, headers: Mapping[str, str] | None = None
    ) -> None:
        self.url = url
        self.name = url
        self._client = httpx2.AsyncClient(timeout=timeout_s, headers=dict(headers or {}))

    @classmethod
    def for_training(
        cls, train: Dataset, *, url: str, timeout_s: float = 10.0, headers: Mapping[str, str] | None = None
    ) -> HttpRecommender:
        """The service at ``url`` (it trains itself: ``train`` is not sent)."""
        del train
        return cls(url, timeout_s=timeout_s, headers=headers)

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        """POST the request and parse the item ids."""
        body = {"user_id": user_id, "history": history, "k": k, "exclude": exclude}
        response = await self._client.post(self.url, json=body)
        response.raise_for_status()
        return parse_item_ids(response.json())

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def parse_item_ids(payload: Any) -> list[str]:
    """Item ids from a service's JSON answer (see :class:`HttpRecommender`).

    Raises:
        ValueError: If the payload has none of the accepted shapes.
    """
    if isinstance(payload, dict):
        payload = payload.get("items", payload.get("item_ids"))
    if not isinstance(payload, list):
        raise ValueError("answer must be a JSON list of ids or an object with an 'items' list")
    ids = []
    for entry in payload:
        if isinstance(entry, dict):
            entry = entry.get("item_id", entry.get("id"))
        if entry is None or isinstance(entry, (dict, list)):
            raise ValueError(f"answer has an entry without an item id: {entry!r}")
        ids.append(str(entry))
    return ids


class CatalogGuard:
    """Validates recommender answers against a catalog of external ids."""

    def __init__(self, item_ids: npt.NDArray[np.generic]) -> None:
        self.index = string_index(item_ids)

    async def fetch_page(
        self,
        recommender: RecommenderUnderTest,
        user_id: str,
        history: list[str],
        k: int,
        exclude: list[str],
        timeout_s: float,
        *,
        sim_id: str | None = None,
    ) -> tuple[list[str], list[str]]:
        """Ask for a page; return ``(clean ids, errors)`` and never raise for the recommender's faults.

        A :class:`InstructableRecommender` is asked in the conversation of ``sim_id`` (default: the
        user id). Exceptions and timeouts give an empty page; duplicates, unknown ids, excluded ids and
        items beyond ``k`` are dropped, each kind noted once.
        """
        if isinstance(recommender, InstructableRecommender):
            call = recommender.arecommend_for(sim_id or user_id, user_id, list(history), k, list(exclude))
        else:
            call = recommender.arecommend(user_id, list(history), k, list(exclude))
        try:
            raw = await asyncio.wait_for(call, timeout_s)
        except TimeoutError:
            return [], [f"recommender timed out after {timeout_s:g}s"]
        except Exception as exc:  # the recommender's fault is data, not a crash
            return [], [f"recommender raised {type(exc).__name__}: {exc}"]
        errors: list[str] = []
        if not isinstance(raw, list):
            return [], [f"recommender returned {type(raw).__name__}, expected a list of item ids"]
        ids = [str(i) for i in raw]
        seen: set[str] = set()
        banned = set(exclude)
        dupes, unknown, excluded, clean = [], [], [], []
        for item in ids:
            if item in seen:
                dupes.append(item)
                continue
            seen.add(item)
            if item not in self.index:
                unknown.append(item)
            elif item in banned:
                excluded.append(item)
            else:
                clean.append(item)
        if dupes:
            errors.append(f"recommender returned duplicate ids: {', '.join(dupes[:5])}")
        if unknown:
            errors.append(f"recommender returned unknown ids: {', '.join(unknown[:5])}")
        if excluded:
            errors.append(f"recommender returned excluded ids: {', '.join(excluded[:5])}")
        if len(clean) > k:
            errors.append(f"recommender returned {len(clean)} items for a page of {k}")
            clean = clean[:k]
        if not clean:
            errors.append("recommender returned no usable items")
        return clean, errors
