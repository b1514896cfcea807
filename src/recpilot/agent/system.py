"""One config file builds the same agent in the library, the CLI, the service and the tests.

A :class:`SystemSpec` names the dataset, the store, the model of each role, the memory, the brain and
the tool policy, each part as a registry :class:`~recpilot.registry.Spec`::

    dataset = "ml-latest-small"
    llm = "http://127.0.0.1:8080/v1#qwen"        # for parts that talk to a model (the llm brain)

    [roles]
    collaborative = { class = "ease", config = { l2 = 300 } }
    content = "content"

    [brain]
    class = "offline"
    config = { clarify_policy = "preference-weighted" }

    [memory]
    class = "in-memory"

An ``llm`` given on the command line (``--llm URL#MODEL``) means "let this model decide":
:meth:`SystemSpec.with_llm` gives it to a brain that takes a model and otherwise replaces the offline
brain by the LLM brain, keeping the file's offline brain as its fallback.

:func:`build_agent` builds it (``recpilot.build_agent("system.toml")``); :func:`agent_factory` gives the
function the service calls to make each tenant's agent over its own memory; ``recpilot ask/chat/serve
--system FILE`` read the same file.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.brain import Brain
from recpilot.agent.runtime import DEFAULT_ROLES, AgentRuntime, build_runtime
from recpilot.errors import ConfigError, RecpilotError
from recpilot.registry import REGISTRY, Spec, SpecLike
from recpilot.tools.dispatcher import ToolPolicy

if TYPE_CHECKING:
    from recpilot.data.dataset import Dataset

#: Makes an agent over a runtime with a tool policy (the service calls it once per tenant).
AgentFactory = Callable[[AgentRuntime, ToolPolicy | None], RecommenderAgent]


def _as_spec(value: Any) -> Any:
    return {"class": value} if isinstance(value, str) else value


class SystemSpec(BaseModel):
    """A whole recommender system as data.

    Attributes:
        dataset: Built-in dataset name or a dataset path.
        store_url: SQLAlchemy URL of the catalog store and memory (None: where the builder keeps it:
            an in-memory SQLite in :func:`build_agent`, the settings home in the CLI and the service).
        cache_dir: Where fitted models are saved and reloaded (None: fit on every build).
        roles: Role -> model spec (``collaborative``, ``content``, ``sequential``...).
        memory: The profile memory's spec (None: SQL memory in a persistent store, else in-memory).
        brain: The brain's spec (``offline`` or ``llm``, or a dotted path).
        fallback: The brain that completes a turn when ``brain`` fails (None: the offline brain with
            its defaults).
        llm: ``URL#MODEL`` of an OpenAI-compatible endpoint, given to a brain that takes a ``model``.
        policy: The tool policy: ``default``, ``read-only``, ``allow-all`` or a policy file.
        k: Items per answer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "ml-latest-small"
    store_url: str | None = None
    cache_dir: Path | None = None
    roles: dict[str, Spec] = Field(
        default_factory=lambda: {role: Spec.of(model) for role, model in DEFAULT_ROLES.items()}
    )
    memory: Spec | None = None
    brain: Spec = Field(default_factory=lambda: Spec.of("offline"))
    fallback: Spec | None = None
    llm: str | None = None
    policy: str = "default"
    k: int = Field(default=10, ge=1, le=100)

    @field_validator("roles", mode="before")
    @classmethod
    def _role_names(cls, value: Any) -> Any:
        return {role: _as_spec(spec) for role, spec in value.items()} if isinstance(value, Mapping) else value

    @field_validator("brain", "fallback", "memory", mode="before")
    @classmethod
    def _part_name(cls, value: Any) -> Any:
        return _as_spec(value)

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any], *, supplied: Collection[str] = ()) -> SystemSpec:
        """A system from a ``.toml`` / ``.json`` file or a mapping, every part checked.

        Args:
            source: The file or mapping.
            supplied: Objects the brain will be built from in code (e.g. ``model``), see :meth:`check`.

        Raises:
            ConfigError: The file is missing or malformed, a field is unknown or invalid, or a part's
                spec does not resolve (the message names the file, the field and the problem).
        """
        where = "system config"
        if isinstance(source, Mapping):
            data: Any = dict(source)
        else:
            path = Path(source)
            where = f"system config {path}"
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{where} cannot be read: {exc}") from None
            try:
                data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
            except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
                kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
                raise ConfigError(f"{where} is not valid {kind}: {exc}") from None
        try:
            system = cls.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"])
            raise ConfigError(f"{where}: field {field!r}: {error['msg']}") from None
        try:
            return system.check(supplied=supplied)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def check(self, *, supplied: Collection[str] = ()) -> SystemSpec:
        """Resolve every part and check its config, before any data is loaded (returns ``self``).

        Args:
            supplied: Objects the brain will be built from in code (``model`` for a test double);
                ``llm`` supplies the ``model`` of a brain that takes one.
        """
        for role, spec in self.roles.items():
            try:
                REGISTRY.check("model", spec)
            except ConfigError as exc:
                raise ConfigError(f"roles.{role}: {exc}") from None
        if self.memory is not None:
            REGISTRY.check("memory", self.memory, supplied=["engine"])
        given = [*supplied, "model"] if self.llm else list(supplied)
        try:
            REGISTRY.check("brain", self.brain, supplied=given)
        except ConfigError as exc:
            hint = '; set llm = "URL#MODEL" (or --llm)' if "'model' is required" in str(exc) else ""
            raise ConfigError(f"{exc}{hint}") from None
        if self.fallback is not None:
            try:
                REGISTRY.check("brain", self.fallback)
            except ConfigError as exc:
                raise ConfigError(f"fallback: {exc}") from None
        from recpilot.safety import load_policy

        try:
            load_policy(self.policy)
        except RecpilotError as exc:
            raise ConfigError(f"policy: {exc}") from None
        return self

    def with_llm(self, llm: str | None) -> SystemSpec:
        """This system driven by the model at ``llm`` (``URL#MODEL``; None changes nothing).

        Naming a model asks for a brain that uses it: a brain that takes a ``model`` (the ``llm``
        brain) gets this endpoint; the offline brain, which takes none, is replaced by the ``llm``
        brain and becomes its fallback with its settings (it answers when the model is unavailable).

        Raises:
            ConfigError: The system's brain is neither the offline brain nor one that takes a model, so
                the model has nothing to drive (the message says how to choose).
        """
        if llm is None:
            return self
        if REGISTRY.accepts("brain", self.brain, "model"):
            return self.model_copy(update={"llm": llm})
        from recpilot.agent.offline.brain import OfflineBrain

        if issubclass(REGISTRY.resolve("brain", self.brain.class_), OfflineBrain):
            fallback = self.fallback if self.fallback is not None else self.brain
            return self.model_copy(update={"llm": llm, "brain": Spec.of("llm"), "fallback": fallback})
        raise ConfigError(
            f"an LLM endpoint ({llm}) was given, but the system's brain {self.brain.describe()} takes no "
            "model: leave out --llm to run that brain, or set the brain to 'llm'"
        )


def build_brain(spec: SpecLike, *, llm: str | None = None, **objects: Any) -> Brain:
    """The brain ``spec`` names; a brain that takes a ``model`` gets the ``llm`` endpoint's settings.

    Raises:
        ConfigError: See :func:`recpilot.registry.build`; a brain that needs a model and no ``llm``.
    """
    if llm is not None and "model" not in objects and REGISTRY.accepts("brain", spec, "model"):
        from recpilot.agent.llm_brain import usable_settings
        from recpilot.llm import LLMSettings

        objects["model"] = usable_settings(LLMSettings.from_cli(llm))
    brain: Brain = REGISTRY.build("brain", spec, **objects)
    return brain


def agent_factory(
    system: SystemSpec | None = None, *, brain: Brain | None = None, **objects: Any
) -> AgentFactory:
    """The function that makes an agent of ``system`` over a runtime (one brain shared by all agents).

    Args:
        system: The system whose brain and ``k`` the agents get (None: the agent's defaults, each
            agent with its own offline brain).
        brain: A brain object to use instead of building ``system.brain``.
        **objects: Objects the brain is built from (e.g. ``model=`` a test double).
    """
    shared = brain
    if shared is None and system is not None:
        shared = build_brain(system.brain, llm=system.llm, **objects)
    fallback = build_brain(system.fallback) if system is not None and system.fallback is not None else None
    k = system.k if system is not None else SystemSpec().k

    def make(runtime: AgentRuntime, policy: ToolPolicy | None) -> RecommenderAgent:
        return RecommenderAgent(runtime, brain=shared, fallback=fallback, policy=policy, k=k)

    return make


def build_agent(
    system: SystemSpec | str | Path | Mapping[str, Any] | None = None,
    *,
    dataset: Dataset | None = None,
    **objects: Any,
) -> RecommenderAgent:
    """The agent a system config describes, ready to answer.

    Args:
        system: A :class:`SystemSpec`, a ``.toml`` / ``.json`` file, a mapping, or None (defaults).
        dataset: An already loaded dataset (default: load ``system.dataset``).
        **objects: Objects the brain is built from (e.g. ``model=`` an LLM test double).

    Example:
        >>> agent = build_agent({"dataset": "ml-latest-small", "brain": "offline"})
        >>> agent.respond("1", "a comedy from the 90s").items  # doctest: +SKIP
    """
    from recpilot.safety import load_policy

    if isinstance(system, SystemSpec):
        spec = system.check(supplied=list(objects))
    else:
        spec = SystemSpec.load(system or {}, supplied=list(objects))
    if dataset is None:
        from recpilot.data.loaders import load_dataset

        dataset = load_dataset(spec.dataset)
    factory = agent_factory(spec, **objects)  # the brain fails before models are fitted
    runtime = build_runtime(
        dataset,
        store_url=spec.store_url or ":memory:",
        roles=spec.roles,
        cache_dir=spec.cache_dir,
        memory=spec.memory,
    )
    return factory(runtime, load_policy(spec.policy))
