"""The recommender side of a simulation: the protocols, three adapters, and the page-level guard.

Anything that answers :meth:`RecommenderUnderTest.arecommend` can be simulated: a fitted model
(:class:`ModelRecommender`, which also ranks whole batches for the fast path), the agent
(:class:`AgentRecommender`) or any HTTP service (:class:`HttpRecommender`). :func:`fetch_page` calls
it under a timeout and turns failures, duplicates and unknown ids into recorded errors. A recommender
that also implements :class:`FeedbackObserver` learns from every page's outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx2
import numpy as np
import numpy.typing as npt

from recpilot.data.dataset import Dataset
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

    Args:
        agent: The agent.
        message: What the simulated user says to get recommendations.
    """

    def __init__(self, agent: RecommenderAgent, *, message: str = "recommend me something to watch") -> None:
        self.agent = agent
        self.name = "agent"
        self.message = message

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
        """Ask the agent; items already excluded are dropped here (the agent does not take exclusions)."""
        response = await self.agent.arespond(user_id, self.message, session_id=f"sim:{user_id}")
        banned = set(exclude)
        return [str(i.item_id) for i in response.items if str(i.item_id) not in banned][:k]


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
    ) -> tuple[list[str], list[str]]:
        """Ask for a page; return ``(clean ids, errors)`` and never raise for the recommender's faults.

        Exceptions and timeouts give an empty page; duplicates, unknown ids, excluded ids and items
        beyond ``k`` are dropped, each kind noted once.
        """
        try:
            raw = await asyncio.wait_for(
                recommender.arecommend(user_id, list(history), k, list(exclude)), timeout_s
            )
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
