"""The contract every recommender under simulation must honour, as a pytest mixin.

Usage in a test module::

    class TestMine(RecommenderUnderTestContract):
        def make_recommender(self, train: Dataset) -> RecommenderUnderTest:
            return MyRecommender.for_training(train)

A recommender under test answers :meth:`~recpilot.simulation.environment.RecommenderUnderTest.arecommend`;
the simulation's :class:`~recpilot.simulation.environment.CatalogGuard` drops what breaks the protocol
and records it as an error, so a recommender that breaks it loses pages silently. The contract checks
the protocol itself on the known-answer data (six taste groups; each user misses one item of their
group): at most ``k`` distinct catalog ids, none of ``exclude``, a full page while items remain, the
same answer from two recommenders built the same way (a seeded simulation must replay), users unknown
to it served from their history, and, for a personalised recommender, each user's own group first.

:func:`recommender_service` serves a recommender on a loopback HTTP port in the request format of
:class:`~recpilot.simulation.environment.HttpRecommender`, so the HTTP adapter runs the contract
against a real server.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar

import pytest

from recpilot.data.dataset import Dataset
from recpilot.simulation.environment import RecommenderUnderTest
from recpilot.testing.datasets import KnownAnswer, known_answer_dataset

_T = TypeVar("_T")
#: One request to a recommender under test: ``(user_id, history, k, exclude)``.
Request = tuple[str, list[str], int, list[str]]


def ask(recommender: RecommenderUnderTest, work: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``work`` on a fresh event loop and close ``recommender`` (its ``aclose``) in the same loop.

    A recommender may hold a connection pool bound to the loop that first used it, so all of one
    recommender's calls and its closing share one loop.
    """

    async def go() -> _T:
        try:
            return await work()
        finally:
            close = getattr(recommender, "aclose", None)
            if callable(close):
                await close()

    return asyncio.run(go())


class RecommenderUnderTestContract:
    """Behaviour shared by all recommenders under simulation; implement :meth:`make_recommender`.

    Class attributes:
        personalised: Whether the recommender ranks by the user's taste (then each known user's page
            is mostly items of their own group); False for popularity-like or random recommenders.
        users: The known users the checks ask for.
    """

    personalised: ClassVar[bool] = True
    users: ClassVar[tuple[str, ...]] = ("u0_0", "u1_3", "u2_5", "u4_1")

    def make_recommender(self, train: Dataset) -> RecommenderUnderTest:
        """A fresh recommender trained on (or serving) ``train``."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_recommender()")

    # -- fixtures ------------------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def known(cls) -> KnownAnswer:
        return known_answer_dataset()

    # -- helpers -------------------------------------------------------------------------------------------

    @staticmethod
    def catalog(known: KnownAnswer) -> set[str]:
        """The catalog's external ids as the protocol carries them (text)."""
        return {str(item) for item in known.group_of_item}

    @staticmethod
    def history(known: KnownAnswer, user: str) -> list[str]:
        """The user's training history, oldest first, as text ids."""
        data = known.dataset
        sequence = data.user_sequence(data.users.index_of(user))
        return [str(i) for i in data.items.to_external(sequence).tolist()]

    def _pages(self, known: KnownAnswer, requests: list[Request]) -> list[list[str]]:
        """One fresh recommender's answers to ``(user, history, k, exclude)`` requests, in order."""
        recommender = self.make_recommender(known.dataset)

        async def work() -> list[list[str]]:
            return [await recommender.arecommend(u, list(h), k, list(x)) for u, h, k, x in requests]

        return ask(recommender, work)

    def _check_page(self, page: Any, known: KnownAnswer, k: int, exclude: list[str]) -> None:
        assert isinstance(page, list), f"arecommend returned {type(page).__name__}, not a list of ids"
        assert all(isinstance(i, str) for i in page), f"ids must be text: {page!r}"
        assert len(page) <= k, f"{len(page)} items for a page of {k}: {page}"
        assert len(set(page)) == len(page), f"duplicate ids: {page}"
        unknown = sorted(set(page) - self.catalog(known))
        assert not unknown, f"ids not in the catalog: {unknown}"
        excluded = sorted(set(page) & set(exclude))
        assert not excluded, f"excluded ids returned: {excluded}"

    # -- the protocol --------------------------------------------------------------------------------------

    def test_pages_hold_at_most_k_distinct_catalog_items(self, known: KnownAnswer) -> None:
        requests: list[Request] = [(u, self.history(known, u), k, []) for u in self.users for k in (1, 3, 10)]
        for (_, _, k, exclude), page in zip(requests, self._pages(known, requests), strict=True):
            self._check_page(page, known, k, exclude)
            assert page, f"an empty page for a known user (k={k}) while the catalog has items left"

    def test_excluded_items_never_come_back_and_pages_stay_full(self, known: KnownAnswer) -> None:
        user = self.users[0]
        history = self.history(known, user)
        first = self._pages(known, [(user, history, 5, list(history))])[0]
        self._check_page(first, known, 5, history)
        exclude = [*history, *first]
        # After excluding about ten of the catalog's 36 items, a page of 5 must still be full.
        second = self._pages(known, [(user, history, 5, exclude)])[0]
        self._check_page(second, known, 5, exclude)
        left = len(self.catalog(known) - set(exclude))
        assert len(second) == 5, f"a page of {len(second)} for k=5 while {left} items remain"

    def test_two_recommenders_built_alike_answer_alike(self, known: KnownAnswer) -> None:
        requests = [(u, self.history(known, u), 5, self.history(known, u)[:2]) for u in self.users]
        first = self._pages(known, requests)
        again = self._pages(known, requests)
        assert first == again, "the same requests to a recommender built the same way must replay"

    def test_a_user_it_does_not_know_is_served_from_the_history(self, known: KnownAnswer) -> None:
        history = [str(i) for i in known.group_items(2)[:4]]
        page = self._pages(known, [("newcomer", history, 5, history)])[0]
        self._check_page(page, known, 5, history)
        assert page, "a user the recommender has not seen gets an empty page"

    def test_known_users_get_their_own_group_first(self, known: KnownAnswer) -> None:
        if not self.personalised:
            pytest.skip("the recommender is declared not personalised (personalised = False)")
        requests: list[Request] = [(u, self.history(known, u), 3, []) for u in self.users]
        for (user, *_), page in zip(requests, self._pages(known, requests), strict=True):
            group = known.group_of_user[user]
            own = [i for i in page if known.group_of_item[int(i)] == group]
            assert page, f"{user} got an empty page"
            assert page[0] in own, f"{user} (group {group}) got {page} first, not a group item"


class _ServiceHandler(BaseHTTPRequestHandler):
    """Answers ``POST {"user_id", "history", "k", "exclude"}`` with ``{"items": [{"item_id": ...}]}``."""

    recommender: ClassVar[RecommenderUnderTest]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ids = asyncio.run(
            self.recommender.arecommend(
                str(body["user_id"]), list(body["history"]), int(body["k"]), list(body["exclude"])
            )
        )
        payload = json.dumps({"items": [{"item_id": i} for i in ids]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@contextmanager
def recommender_service(recommender: RecommenderUnderTest) -> Iterator[str]:
    """Serve ``recommender`` on a free loopback port; yields the endpoint's URL.

    The request and answer formats are those :class:`~recpilot.simulation.environment.HttpRecommender`
    sends and parses.
    """
    handler = type("Handler", (_ServiceHandler,), {"recommender": recommender})
    with serving(handler) as url:
        yield url


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], path: str = "/recommend") -> Iterator[str]:
    """Run ``handler`` on a threaded HTTP server on a free loopback port; yields ``http://.../path``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


__all__ = ["RecommenderUnderTestContract", "ask", "recommender_service", "serving"]
