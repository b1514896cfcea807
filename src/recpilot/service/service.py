"""The transport-free recommender service: what the HTTP API and the MCP server both call.

One :class:`RecommenderService` holds the loaded runtime (catalog, fitted models, shared memory) and
the service tables; each operation takes the caller's tenant id and touches only that tenant's users,
sessions, memories and feedback (see :mod:`recpilot.service.tenancy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import numpy as np
import sqlalchemy as sa

from recpilot.agent.agent import DEFAULT_TOOLS, RecommenderAgent
from recpilot.agent.brain import Brain
from recpilot.agent.events import DoneEvent, EventSink, ItemEvent, ReplyEvent, TurnEvent
from recpilot.agent.runtime import AgentRuntime, build_runtime
from recpilot.agent.system import AgentFactory
from recpilot.agent.system import agent_factory as system_agent_factory
from recpilot.agent.types import AgentResponse, RecommendedItem
from recpilot.errors import RecpilotError
from recpilot.memory.base import Preference, PreferenceKind, UserProfile
from recpilot.memory.feed_rules import MAX_RULE_SECONDS, FeedRule
from recpilot.memory.integrity import MemorySnapshot
from recpilot.safety import SafetyPolicy, default_policy, load_policy, neutralise, report_unusable
from recpilot.service.caching import LruCache, UserSnapshot
from recpilot.service.config import LimitsConfig, ServiceConfig
from recpilot.service.errors import InvalidRequestError, NotFoundError
from recpilot.service.keys import IssuedKey, KeyRing, Principal
from recpilot.service.recommend import Recommendations
from recpilot.service.schemas import (
    AuditOut,
    ChatReply,
    Deleted,
    ExplanationOut,
    FeedbackIn,
    FeedbackReceipt,
    ItemOut,
    MessageIn,
    MessageOut,
    ProfileOut,
    Readiness,
    RecommendRequest,
    RecommendResponse,
    SessionCreate,
    SessionHistory,
    SessionOut,
)
from recpilot.service.simulations import SimulationJobs
from recpilot.service.storage import ServiceStore
from recpilot.service.tenancy import TenantMemory
from recpilot.types import ItemId

logger = logging.getLogger("recpilot.service")

_INTERNAL = "internal error; the server log has the details"
#: Streamed turns still running; held so a turn whose client left runs to its end.
_TURNS: set[asyncio.Future[AgentResponse]] = set()
_SESSION_LOCKS: weakref.WeakValueDictionary[tuple[str, str], threading.Lock] = weakref.WeakValueDictionary()
_LOCKS_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChatEvent:
    """One server-sent event of a streamed chat turn: ``step``, ``item``, ``reply``, ``done`` or ``error``."""

    event: str
    data: str


class RecommenderService:
    """Recommendations, chat sessions, feedback and profiles for many tenants over one runtime.

    Args:
        runtime: Catalog, fitted models and the shared memory (SQL memory for persistence).
        brain: The agent's brain (None: the offline brain); ignored when ``agent_factory`` is given.
        agent_factory: Makes each tenant's agent from its runtime (the tenant's memory) and tool policy
            (see :func:`recpilot.agent.system.agent_factory`; None: ``RecommenderAgent`` with ``brain``).
        limits: Request limits (``max_k``, simulation users and jobs...).
        cache_size: Rankings kept per history (see :mod:`recpilot.service.caching`); 0 turns the
            ranking and user-profile caches off.
        llm: ``URL#MODEL`` of the server's LLM, offered to simulation jobs (None: offline engine only).
        policy: The tool policy of every tenant's agent (None: :func:`recpilot.safety.default_policy`).
        tenant_policies: Policies that replace ``policy`` for some tenants.
    """

    def __init__(
        self,
        runtime: AgentRuntime,
        *,
        brain: Brain | None = None,
        agent_factory: AgentFactory | None = None,
        limits: LimitsConfig | None = None,
        cache_size: int = 4096,
        llm: str | None = None,
        policy: SafetyPolicy | None = None,
        tenant_policies: Mapping[str, SafetyPolicy] | None = None,
    ) -> None:
        self.runtime = runtime
        self.policy = policy or default_policy()
        self.tenant_policies = dict(tenant_policies or {})
        for used in (self.policy, *self.tenant_policies.values()):
            report_unusable(used, DEFAULT_TOOLS)  # a policy that denies everything is reported at start-up
        self.brain = brain
        self.agent_factory = agent_factory or system_agent_factory(brain=brain)
        self.limits = limits or LimitsConfig()
        self.state = ServiceStore(runtime.catalog.store.engine)
        self.keys = KeyRing(self.state)
        self.recommendations = Recommendations(runtime.catalog, runtime.models, cache_size=cache_size)
        #: Simulation jobs (``POST /v1/simulations``) on the served dataset.
        self.simulations = SimulationJobs(self.state.engine, runtime.catalog.dataset, self.limits, llm)
        #: Called with the seconds of every agent turn (each app serving the service adds its metric).
        self.turn_observers: list[Callable[[float], None]] = []
        self._agents: dict[str, RecommenderAgent] = {}
        self._snapshots: LruCache[tuple[str, str], UserSnapshot] = LruCache(65_536 if cache_size else 0)
        self._lock = threading.Lock()
        self._scale: tuple[float, float] | None = None

    @classmethod
    def from_config(
        cls, config: ServiceConfig, *, brain: Brain | None = None, agent_factory: AgentFactory | None = None
    ) -> RecommenderService:
        """Load the dataset, open the store and load (or fit once and cache) the models of ``config``."""
        from recpilot.data.loaders import load_dataset

        data = load_dataset(config.dataset)
        home = config.dataset_home(data.name)
        home.mkdir(parents=True, exist_ok=True)
        runtime = build_runtime(
            data,
            store_url=config.resolved_store_url(data.name),
            roles=config.roles,
            cache_dir=home / "models",
            memory=config.memory,
        )
        if brain is None and agent_factory is None and config.llm:
            from recpilot.agent.llm_brain import build_llm_brain
            from recpilot.llm import LLMSettings

            brain = build_llm_brain(LLMSettings.from_cli(config.llm))
        return cls(
            runtime,
            brain=brain,
            agent_factory=agent_factory,
            limits=config.limits,
            llm=config.llm,
            cache_size=config.ranking_cache,
            policy=load_policy(config.policy),
            tenant_policies={tenant: load_policy(p) for tenant, p in config.tenant_policies.items()},
        )

    def close(self) -> None:
        """Stop the simulation jobs (running ones are abandoned) and release the database connections."""
        self.simulations.close()
        self.runtime.catalog.store.close()

    # -- tenants and keys -------------------------------------------------------------------------------

    def create_tenant(self, tenant_id: str, name: str | None = None) -> str:
        """Create a tenant (idempotent); see :meth:`KeyRing.create_tenant`."""
        return self.keys.create_tenant(tenant_id, name)

    def create_api_key(self, tenant_id: str = "default", *, name: str = "") -> IssuedKey:
        """Issue an API key for a tenant, creating the tenant when it does not exist."""
        return self.keys.create_key(tenant_id, name=name)

    def revoke_api_key(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such active key."""
        return self.keys.revoke(key_id)

    def authenticate(self, key: str) -> Principal:
        """The caller behind an API key.

        Raises:
            AuthenticationError: The key is malformed, unknown or revoked.
        """
        return self.keys.authenticate(key)

    # -- recommendations --------------------------------------------------------------------------------

    def recommend(self, tenant: str, request: RecommendRequest) -> RecommendResponse:
        """Top-k items for a user or an ad-hoc history, each with its evidence."""
        if request.user_id is None:
            return self.recommendations.recommend(request, self.limits.max_k)
        snapshot = self.snapshot(tenant, request.user_id)
        return self.recommendations.recommend(
            request, self.limits.max_k, profile=snapshot.profile, rules=snapshot.rules
        )

    def snapshot(self, tenant: str, user_id: str) -> UserSnapshot:
        """The user's preferences and feed rules, re-read only when their version in the store moved."""
        version = self.state.user_version(tenant, user_id)
        cached = self._snapshots.get((tenant, user_id))
        if cached is not None and cached.version == version:
            return cached
        memory = self.memory(tenant)
        fresh = UserSnapshot(
            version, memory.stored_profile(user_id), tuple(memory.stored_feed_rules(user_id))
        )
        return self._snapshots.put((tenant, user_id), fresh)

    def explain(self, tenant: str, user_id: str, item_id: ItemId) -> ExplanationOut:
        """Why ``item_id`` suits the user (their history and remembered likes under the ranking model).

        Raises:
            NotFoundError: The item is not in the catalog.
        """
        return self.recommendations.explain(user_id, item_id, self.snapshot(tenant, user_id).profile)

    # -- chat -------------------------------------------------------------------------------------------

    def create_session(self, tenant: str, request: SessionCreate) -> SessionOut:
        """A new chat session for one of the tenant's users."""
        session_id, created = self.state.create_session(tenant, request.user_id)
        return SessionOut(session_id=session_id, user_id=request.user_id, created_at=created)

    def session_user(self, tenant: str, session_id: str) -> str:
        """The user of one of the tenant's sessions.

        Raises:
            NotFoundError: The tenant has no such session.
        """
        found = self.state.session(tenant, session_id)
        if found is None:
            raise NotFoundError(f"session {session_id!r} not found")
        return found[0]

    def history(self, tenant: str, session_id: str) -> SessionHistory:
        """A session's stored messages, oldest first."""
        user_id = self.session_user(tenant, session_id)
        turns = self.memory(tenant).turns(session_id)
        messages = [
            MessageOut(
                role=t.role, content=neutralise(t.content, keep_newlines=True), created_at=t.created_at
            )
            for t in turns
        ]
        return SessionHistory(session_id=session_id, user_id=user_id, messages=messages)

    def send(self, tenant: str, session_id: str, message: MessageIn) -> ChatReply:
        """One chat turn (blocking): the agent answers, and both messages are stored with the session."""
        return self._reply(tenant, self._respond(tenant, session_id, message))

    async def asend(self, tenant: str, session_id: str, message: MessageIn) -> ChatReply:
        """One chat turn in a worker thread, so the event loop keeps serving other requests.

        Once started, the turn runs to completion and is stored even if the caller is cancelled.
        """
        return await anyio.to_thread.run_sync(self.send, tenant, session_id, message)

    async def stream(self, tenant: str, session_id: str, message: MessageIn) -> AsyncIterator[ChatEvent]:
        """One chat turn as events, each forwarded as the agent makes it (see :mod:`recpilot.agent.events`).

        ``step`` carries a plan, tool call, tool result, fallback, rollback or other trace step (the
        agent's event as JSON, its ``kind`` saying which); then ``item`` per item (as in
        :class:`ChatReply`), ``reply`` and ``done`` once the turn is committed. A turn that fails ends
        with ``error`` (``{"detail": ...}``, no traceback) and has sent no item.

        The session is checked before anything runs. The turn runs in a worker thread (its tools and
        storage are synchronous), so the event loop keeps serving; once started it runs to completion
        and is stored even if the client leaves mid-stream.
        """
        user_id = self.session_user(tenant, session_id)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ChatEvent | None] = asyncio.Queue()

        def forward(event: TurnEvent) -> None:
            chat = self._chat_event(tenant, user_id, session_id, event)  # in the turn's thread
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, chat)

        turn = asyncio.ensure_future(
            anyio.to_thread.run_sync(lambda: self._respond(tenant, session_id, message, forward))
        )
        _TURNS.add(turn)  # held until it ends, even when the client leaves
        turn.add_done_callback(_ended)
        turn.add_done_callback(lambda _: queue.put_nowait(None))
        while (chat := await queue.get()) is not None:
            yield chat
        failure = turn.exception()
        if failure is not None:
            detail = str(failure) if isinstance(failure, RecpilotError) else _INTERNAL
            yield ChatEvent("error", _json({"detail": detail}))

    def _respond(
        self, tenant: str, session_id: str, message: MessageIn, on_event: EventSink | None = None
    ) -> AgentResponse:
        """The agent's turn for one of the tenant's sessions, timed for the turn observers.

        A session's turns run one at a time, so they never interleave in its dialogue: a turn whose
        client left mid-stream still runs while the client may already send the next message.
        """
        user_id = self.session_user(tenant, session_id)
        with _session_lock(tenant, session_id):
            started = time.perf_counter()
            response = self._agent(tenant).respond(
                user_id, message.content, session_id=session_id, on_event=on_event
            )
        for observe in list(self.turn_observers):
            observe(time.perf_counter() - started)
        return response

    def _chat_event(self, tenant: str, user_id: str, session_id: str, event: TurnEvent) -> ChatEvent:
        """The server-sent event for one agent event: items and the reply as :class:`ChatReply` has them."""
        if isinstance(event, ItemEvent):
            return ChatEvent("item", self._item_out(event.item).model_dump_json())
        if isinstance(event, ReplyEvent):
            rules = _shown_rules(self.memory(tenant).feed_rules(user_id))
            reply = ChatReply(
                session_id=session_id,
                reply=neutralise(event.reply, keep_newlines=True),
                items=[],
                degraded=event.degraded,
                brain=event.brain,
                feed_rules=rules or None,
            )
            body = reply.model_dump(
                mode="json", include={"session_id", "reply", "degraded", "brain", "feed_rules"}
            )
            return ChatEvent("reply", _json(body))
        if isinstance(event, DoneEvent):
            return ChatEvent("done", _json({"session_id": session_id}))
        return ChatEvent("step", event.model_dump_json())

    # -- feedback and profiles --------------------------------------------------------------------------

    def feedback(self, tenant: str, event: FeedbackIn) -> FeedbackReceipt:
        """Store one feedback event; likes and dislikes also update the user's profile.

        Raises:
            InvalidRequestError: The item is unknown, or a rating carries no value.
            NotFoundError: ``session_id`` is not one of the tenant's sessions.
        """
        catalog = self.runtime.catalog
        if not catalog.has_item(event.item_id):
            raise InvalidRequestError(
                f"item_id: unknown item id {event.item_id!r}; ids come from the catalog"
            )
        if event.event == "rating":
            low, high = self._rating_scale()
            if event.value is None or not low <= event.value <= high:
                raise InvalidRequestError(
                    f"value: a 'rating' event needs a number between {low:g} and {high:g} (this catalog's "
                    f"rating scale), got {event.value}"
                )
        if event.session_id is not None:
            self.session_user(tenant, event.session_id)
        item = catalog.coerce_item_id(event.item_id)
        row = event.model_dump(include={"user_id", "event", "value", "session_id", "event_id"})
        event_id, created = self.state.add_feedback(tenant, {**row, "item_id": str(item)})
        if created and event.event in ("like", "dislike"):
            memory = self.memory(tenant)
            kind: PreferenceKind = "like_item" if event.event == "like" else "dislike_item"
            opposite: PreferenceKind = "dislike_item" if event.event == "like" else "like_item"
            # The snapshot comes first, so the audit lists the opposite mark this one replaces.
            before = MemorySnapshot.take(memory, event.user_id)
            memory.forget_matching(event.user_id, opposite, str(item))
            memory.remember(event.user_id, Preference(kind=kind, value=str(item), source="feedback"))
            memory.record_audit(event.user_id, before.changes(memory, provenance="feedback"))
        return FeedbackReceipt(id=event_id, duplicate=not created)

    def _rating_scale(self) -> tuple[float, float]:
        """The lowest and highest rating in the served dataset (1 to 5 when it has none)."""
        if self._scale is None:
            ratings = self.runtime.catalog.dataset.interactions["rating"]
            finite = ratings[np.isfinite(ratings)] if len(ratings) else ratings
            self._scale = (float(finite.min()), float(finite.max())) if len(finite) else (1.0, 5.0)
        return self._scale

    def audit(self, tenant: str, user_id: str) -> AuditOut:
        """The audit log of the user's memory writes (newest first) in this tenant."""
        entries = self.memory(tenant).audit_log(user_id)
        shown = [e.model_copy(update={"detail": neutralise(e.detail)}) for e in entries]
        return AuditOut(user_id=user_id, entries=shown)

    def feedback_events(self, tenant: str, user_id: str) -> list[dict[str, Any]]:
        """The user's stored feedback events, oldest first."""
        return self.state.feedback_events(tenant, user_id)

    def profile(self, tenant: str, user_id: str) -> ProfileOut:
        """What the tenant's memory holds about a user (empty for a user it never saw)."""
        memory = self.memory(tenant)
        stored = memory.profile(user_id)
        rules = _shown_rules(memory.feed_rules(user_id))
        # Echoed stored text is neutralised, like every other echo (a value stored before it was checked).
        preferences = [p.model_copy(update={"value": neutralise(p.value)}) for p in stored.preferences]
        summary = neutralise(stored.summary, keep_newlines=True)
        return ProfileOut(user_id=user_id, preferences=preferences, summary=summary, feed_rules=rules)

    def delete_preference(self, tenant: str, user_id: str, preference_id: int) -> Deleted:
        """Forget one preference.

        Raises:
            NotFoundError: The user has no such preference in this tenant.
        """
        memory = self.memory(tenant)
        before = MemorySnapshot.take(memory, user_id)
        if not memory.forget(user_id, preference_id):
            raise NotFoundError(f"user {user_id!r} has no preference {preference_id}")
        memory.record_audit(user_id, before.changes(memory, provenance="user (API)"))
        return Deleted(deleted=1)

    def delete_feed_rule(self, tenant: str, user_id: str, rule_id: int) -> Deleted:
        """Remove one feed rule.

        Raises:
            NotFoundError: The user has no such rule in this tenant.
        """
        memory = self.memory(tenant)
        before = MemorySnapshot.take(memory, user_id)
        if not memory.remove_feed_rule(user_id, rule_id):
            raise NotFoundError(f"user {user_id!r} has no feed rule {rule_id}")
        memory.record_audit(user_id, before.changes(memory, provenance="user (API)"))
        return Deleted(deleted=1)

    def forget_user(self, tenant: str, user_id: str) -> Deleted:
        """Delete everything the tenant holds about a user: memory, sessions and feedback."""
        removed = self.memory(tenant).forget_user(user_id) + self.state.delete_user(tenant, user_id)
        return Deleted(deleted=removed)

    # -- health -----------------------------------------------------------------------------------------

    def readiness(self) -> Readiness:
        """Whether the store answers and the models are loaded."""
        store_ok, detail = True, ""
        try:
            with self.state.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as err:
            store_ok, detail = False, f"store unreachable: {err.orig}"
        models = [role for role, model in self.runtime.models.items() if model.is_fitted]
        ready = store_ok and bool(models)
        if store_ok and not models:
            detail = "no fitted model loaded"
        return Readiness(
            ready=ready, store=store_ok, models=models, dataset=self.runtime.catalog.name, detail=detail
        )

    # -- internals --------------------------------------------------------------------------------------

    def memory(self, tenant: str) -> TenantMemory:
        """The tenant's view of the shared memory."""
        agent = self._agent(tenant)
        memory = agent.runtime.memory
        assert isinstance(memory, TenantMemory)
        return memory

    def policy_for(self, tenant: str) -> SafetyPolicy:
        """The policy the tenant's tool calls run under (chat turns and MCP): its own, else the service's."""
        return self.tenant_policies.get(tenant, self.policy)

    def _agent(self, tenant: str) -> RecommenderAgent:
        agent = self._agents.get(tenant)
        if agent is None:
            with self._lock:
                agent = self._agents.get(tenant)
                if agent is None:
                    runtime = self.runtime
                    memory = TenantMemory(
                        runtime.memory, tenant, self._changed(tenant), self._snapshot_reader(tenant)
                    )
                    scoped = AgentRuntime(runtime.catalog, runtime.models, memory)
                    agent = self.agent_factory(scoped, self.policy_for(tenant))
                    self._agents[tenant] = agent
        return agent

    def _snapshot_reader(self, tenant: str) -> Callable[[str], tuple[UserProfile, Sequence[FeedRule]]] | None:
        if self._snapshots.size == 0:
            return None

        def read(user_id: str) -> tuple[UserProfile, Sequence[FeedRule]]:
            found = self.snapshot(tenant, user_id)
            return found.profile, found.rules

        return read

    def _changed(self, tenant: str) -> Callable[[str], None]:
        def bump(user_id: str) -> None:
            self.state.bump_user_version(tenant, user_id)

        return bump

    def _item_out(self, item: RecommendedItem) -> ItemOut:
        return ItemOut(
            item_id=str(item.item_id),
            title=item.title,
            score=item.score,
            attributes=self.recommendations.attributes(self.runtime.catalog.index(item.item_id)),
            explanation="; ".join(reason.text for reason in item.reasons),
            reasons=item.reasons,
        )

    def _reply(self, tenant: str, response: AgentResponse) -> ChatReply:
        items = [self._item_out(item) for item in response.items]
        rules = _shown_rules(self.memory(tenant).feed_rules(response.user_id))
        return ChatReply(
            session_id=response.session_id,
            reply=neutralise(response.reply, keep_newlines=True),
            items=items,
            degraded=response.degraded,
            brain=response.brain,
            feed_rules=rules or None,
            trace=response.trace,
        )


def _session_lock(tenant: str, session_id: str) -> threading.Lock:
    """The lock a session's turns take (kept while some turn of the session holds or awaits it)."""
    with _LOCKS_LOCK:
        lock = _SESSION_LOCKS.get((tenant, session_id))
        if lock is None:
            lock = _SESSION_LOCKS[(tenant, session_id)] = threading.Lock()
        return lock


def _ended(turn: asyncio.Future[AgentResponse]) -> None:
    """Forget a streamed turn that ended, and log its failure (whether or not a client still listens)."""
    _TURNS.discard(turn)
    failure = None if turn.cancelled() else turn.exception()
    if failure is not None:
        logger.error("a streamed chat turn failed", exc_info=failure)


def _shown_rules(rules: list[FeedRule]) -> list[FeedRule]:
    """Feed rules as the API shows them: texts (the wording, the provenance's session id)
    neutralised, and an expiry later than any rule can last (a value stored before durations were
    bounded, see ``MAX_RULE_SECONDS``) given as null, "until removed", which is what it means and
    what a page can show."""
    horizon = time.time() + MAX_RULE_SECONDS
    return [
        r.model_copy(
            update={
                "text": neutralise(r.text),
                "expires_at": None if r.expires_at is not None and r.expires_at > horizon else r.expires_at,
                "provenance": r.provenance.model_copy(
                    update={"session_id": neutralise(r.provenance.session_id)}
                ),
            }
        )
        for r in rules
    ]


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), default=str)
