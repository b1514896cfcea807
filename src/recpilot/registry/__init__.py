"""One registry and one spec format for every pluggable part.

Every part is described the same way in the library, config files, the CLI, the service and the tests:
a :class:`Spec` ``{"class": NAME_OR_DOTTED_PATH, "config": {...}}`` (LensKit's component spec). The
registry maps a short name per *kind* of part to a dotted class path:

=============  ===============================================  ======================================
kind           base class (or required method)                  examples
=============  ===============================================  ======================================
model          ``recpilot.models.base.Recommender``             ``ease``, ``als``, ``sasrec``
policy         ``recpilot.conversation.policy.ConversationPolicy``  ``max-entropy``, ``llm``
brain          ``recpilot.agent.brain.Brain``                   ``offline``, ``llm``
engine         ``recpilot.simulation.engine.DecisionEngine``    ``offline``, ``llm``
memory         ``recpilot.memory.base.ProfileMemory``           ``in-memory``, ``sql``
recommender    ``arecommend`` (a recommender under simulation)  ``model``, ``agent``, ``http``
=============  ===============================================  ======================================

The registry sits at the lowest layer, so it names every class by its dotted path and imports it only
when asked (optional extras such as torch load only for the part that needs them). :meth:`Registry.build`
checks a spec's config against the class before building it: against its pydantic ``config_class``
when it has one, else against its constructor's signature. Every problem is one :class:`ConfigError`
naming the kind, the spec and the field. Third-party packages add parts with :meth:`Registry.register`
or an entry point in the group ``recpilot.<kind>`` (``name = "pkg.module:Class"``).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from recpilot.errors import ConfigError
from recpilot.registry.arguments import constructor_arguments, first_error, signature_parameters
from recpilot.registry.spec import KINDS, Kind, Spec, SpecLike, class_path


@dataclass(frozen=True)
class KindInfo:
    """What a kind's classes must be and how they are built.

    Attributes:
        base: Dotted path of the base class every entry must subclass (None: check ``requires``).
        requires: Methods every entry must have (for kinds typed by a protocol).
        constructor: The class attribute that builds an entry (``"__init__"``: the class itself; a
            classmethod name for parts built from other objects, e.g. a recommender fitted on data).
    """

    base: str | None
    requires: tuple[str, ...] = ()
    constructor: str = "__init__"


_KINDS: dict[Kind, KindInfo] = {
    "model": KindInfo("recpilot.models.base.Recommender"),
    "policy": KindInfo("recpilot.conversation.policy.base.ConversationPolicy"),
    "brain": KindInfo("recpilot.agent.brain.Brain"),
    "engine": KindInfo("recpilot.simulation.engine.DecisionEngine"),
    "memory": KindInfo("recpilot.memory.base.ProfileMemory"),
    "recommender": KindInfo(None, requires=("arecommend",), constructor="for_training"),
}

_BUILTIN: dict[Kind, dict[str, str]] = {
    "model": {
        "random": "recpilot.models.random_baseline.RandomRecommender",
        "pop": "recpilot.models.popularity.PopularityRecommender",
        "itemknn": "recpilot.models.itemknn.ItemKNNRecommender",
        "ease": "recpilot.models.ease.EaseRecommender",
        "ease-lowrank": "recpilot.models.ease_lowrank.EaseLowRankRecommender",
        "als": "recpilot.models.implicit_mf.ALSRecommender",
        "bpr": "recpilot.models.implicit_mf.BPRRecommender",
        "sasrec": "recpilot.models.sasrec.SASRecRecommender",
        "content": "recpilot.models.content.ContentRecommender",
    },
    "policy": {
        "random": "recpilot.conversation.policy.baselines.RandomPolicy",
        "abs-greedy": "recpilot.conversation.policy.baselines.AbsGreedyPolicy",
        "max-entropy": "recpilot.conversation.policy.baselines.MaxEntropyPolicy",
        "preference-weighted": "recpilot.conversation.policy.preference.PreferenceWeightedPolicy",
        "llm": "recpilot.conversation.policy.llm.LLMPolicy",
    },
    "brain": {
        "offline": "recpilot.agent.offline.brain.OfflineBrain",
        "llm": "recpilot.agent.llm_brain.LLMBrain",
    },
    "engine": {
        "offline": "recpilot.simulation.offline_engine.OfflineEngine",
        "llm": "recpilot.simulation.llm_engine.LLMDecisionEngine",
    },
    "memory": {
        "in-memory": "recpilot.memory.base.InMemoryProfileMemory",
        "sql": "recpilot.memory.sql.SqlProfileMemory",
    },
    "recommender": {
        "model": "recpilot.simulation.environment.ModelRecommender",
        "agent": "recpilot.simulation.environment.AgentRecommender",
        "http": "recpilot.simulation.environment.HttpRecommender",
    },
}


class Registry:
    """Names of the parts of each kind, and building a part from a :class:`Spec`.

    Entries are dotted paths (or classes registered at run time); nothing is imported until a part
    is resolved. Names are case-insensitive.
    """

    def __init__(self, entries: Mapping[Kind, Mapping[str, str | type]] | None = None) -> None:
        self._entries: dict[Kind, dict[str, str | type]] = {kind: {} for kind in KINDS}
        for kind, names in (entries or {}).items():
            self._entries[_kind(kind)].update({_name(n): target for n, target in names.items()})
        self._discovered: set[Kind] = set()

    # -- the table ----------------------------------------------------------------------------------------

    def register(self, kind: Kind, name: str, target: str | type, *, replace: bool = False) -> None:
        """Add a part under ``name``: a dotted class path (imported when first built) or the class.

        Raises:
            ConfigError: The kind is unknown, the name is taken (and ``replace`` is False), or the
                name is not a plain word (a dot would read as a class path).
        """
        table = self._table(kind)
        key = _name(name)
        if not key or "." in key:
            raise ConfigError(f"{kind} name {name!r} must be a non-empty word without dots")
        if key in table and not replace and table[key] != target:
            raise ConfigError(f"{kind} name {name!r} is taken by {class_path(table[key])}; pass replace=True")
        table[key] = target

    def unregister(self, kind: Kind, name: str) -> None:
        """Remove a part (a no-op when the name is not registered)."""
        self._table(kind).pop(_name(name), None)

    def names(self, kind: Kind) -> list[str]:
        """The registered names of ``kind``, in registration order."""
        return list(self._table(kind))

    def entries(self, kind: Kind) -> dict[str, str]:
        """Name -> dotted class path of every part of ``kind`` (a copy, as the table is now)."""
        return {name: class_path(target) for name, target in self._table(kind).items()}

    def view(self, kind: Kind) -> Mapping[str, str]:
        """A read-only, live name -> dotted class path mapping of ``kind``: parts registered later
        (a plugin's) appear in it, removed ones leave it."""
        return _KindView(self, _kind(kind))

    # -- resolving and building ---------------------------------------------------------------------------

    def resolve(self, kind: Kind, name_or_path: str) -> type:
        """The class a registry name or dotted path names, checked against the kind.

        Raises:
            ConfigError: An unknown name (the message lists the choices), a path that does not
                import (the message names the path and the import error), or a class of another kind.
        """
        table = self._table(kind)
        target = table.get(_name(name_or_path))
        if target is None:
            if "." not in name_or_path.strip(". "):
                raise ConfigError(
                    f"unknown {kind} {name_or_path!r}; choose one of {', '.join(table) or '(none)'} "
                    "or a dotted class path"
                )
            target = name_or_path.strip()
        cls = _import(kind, target) if isinstance(target, str) else target
        self._check_kind(kind, name_or_path, cls)
        return cls

    def spec(self, kind: Kind, value: SpecLike) -> Spec:
        """``value`` as a :class:`Spec`: a name or path, a ``{"class", "config"}`` mapping, or a spec.

        Raises:
            ConfigError: A mapping with keys other than ``class`` and ``config``, without a ``class``,
                or with a ``config`` that is not a mapping.
        """
        if isinstance(value, Spec):
            return value
        if isinstance(value, str):
            return Spec.of(value)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{kind} spec must be a name, a dotted path or a mapping, got {value!r}")
        unknown = sorted(set(value) - {"class", "class_", "config"})
        if unknown:
            raise ConfigError(
                f"{kind} spec {dict(value)!r} has unknown key(s) {unknown}; a spec has 'class' and 'config'"
            )
        if "class" not in value and "class_" not in value:
            raise ConfigError(f"{kind} spec {dict(value)!r} needs a 'class' (a {kind} name or dotted path)")
        try:
            return Spec.model_validate(dict(value))
        except ValidationError as exc:
            field, message = first_error(exc)
            raise ConfigError(f"{kind} spec {dict(value)!r}: {field}: {message}") from None

    def check(self, kind: Kind, value: SpecLike, *, supplied: Collection[str] = ()) -> Spec:
        """Resolve ``value`` and validate its config without building anything (fail early).

        Args:
            kind: The kind of part.
            value: The spec.
            supplied: Arguments the caller will pass in code when it builds the part (an LLM client,
                a database engine): not required in the config.
        """
        spec = self.spec(kind, value)
        cls = self.resolve(kind, spec.class_)
        constructor_arguments(kind, spec, cls, self._constructor(kind, cls), {}, supplied)
        return spec

    def build(self, kind: Kind, value: SpecLike, /, **overrides: Any) -> Any:
        """Build the part ``value`` describes, its config checked first.

        Args:
            kind: The kind of part.
            value: A name or dotted path, a ``{"class", "config"}`` mapping, or a :class:`Spec`.
            **overrides: Config fields that replace the spec's, and objects the part is built from
                (a fitted model, an LLM client, a database engine) that a file cannot hold.

        Raises:
            ConfigError: See :meth:`resolve` and :meth:`spec`; a config field the class does not take,
                a value it rejects, or a required field missing.
        """
        spec = self.spec(kind, value)
        cls = self.resolve(kind, spec.class_)
        constructor = self._constructor(kind, cls)
        args, kwargs = constructor_arguments(kind, spec, cls, constructor, overrides)
        return constructor(*args, **kwargs)

    def accepts(self, kind: Kind, value: SpecLike, argument: str) -> bool:
        """Whether the part ``value`` names is built with a keyword ``argument`` (e.g. ``engine``)."""
        cls = self.resolve(kind, self.spec(kind, value).class_)
        parameters = signature_parameters(self._constructor(kind, cls))
        return argument in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())

    # -- internals ----------------------------------------------------------------------------------------

    def _table(self, kind: Kind) -> dict[str, str | type]:
        kind = _kind(kind)
        if kind not in self._discovered:
            self._discovered.add(kind)
            for point in entry_points(group=f"recpilot.{kind}"):
                self._entries[kind].setdefault(_name(point.name), point.value.replace(":", "."))
        return self._entries[kind]

    def _check_kind(self, kind: Kind, given: str, cls: type) -> None:
        info = _KINDS[kind]
        if not isinstance(cls, type):
            raise ConfigError(f"{kind} {given!r} names {cls!r}, which is not a class")
        if info.base is not None:
            base = _import(kind, info.base)
            if not issubclass(cls, base):
                raise ConfigError(
                    f"{kind} {given!r} is {class_path(cls)}, not a subclass of {info.base} "
                    f"(the {kind} base class)"
                )
        missing = [m for m in info.requires if not callable(getattr(cls, m, None))]
        if missing:
            raise ConfigError(f"{kind} {given!r} is {class_path(cls)}, which lacks {', '.join(missing)}()")

    def _constructor(self, kind: Kind, cls: type) -> Any:
        name = _KINDS[kind].constructor
        if name == "__init__":
            return cls
        constructor = getattr(cls, name, None)
        if constructor is None:
            raise ConfigError(f"{kind} {class_path(cls)} cannot be built from a spec: it has no {name}()")
        return constructor


class _KindView(Mapping[str, str]):
    """The parts of one kind as the registry holds them at each access (see :meth:`Registry.view`)."""

    def __init__(self, registry: Registry, kind: Kind) -> None:
        self._registry = registry
        self._kind = kind

    def __getitem__(self, name: str) -> str:
        return class_path(self._registry._table(self._kind)[name])

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._registry._table(self._kind)))

    def __len__(self) -> int:
        return len(self._registry._table(self._kind))

    def __repr__(self) -> str:
        return f"<{self._kind} parts: {self._registry.entries(self._kind)!r}>"


def _import(kind: str, path: str) -> Any:
    module_name, _, attribute = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any failure to import makes the path unusable for the user
        raise ConfigError(
            f"{kind} class path {path!r} does not import: {type(exc).__name__}: {exc}"
        ) from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"{kind} class path {path!r}: module {module_name!r} has no {attribute!r}"
        ) from None


def _name(name: str) -> str:
    return name.strip().lower()


def _kind(kind: str) -> Kind:
    if kind not in _KINDS:
        raise ConfigError(f"unknown kind of part {kind!r}; choose one of {', '.join(KINDS)}")
    return kind


#: The process-wide registry every builder uses (models, policies, brains, engines, memories, recommenders).
REGISTRY = Registry(_BUILTIN)


def build(kind: Kind, spec: SpecLike, /, **overrides: Any) -> Any:
    """Build a part from a spec with the process-wide registry (see :meth:`Registry.build`).

    Example:
        >>> model = build("model", {"class": "ease", "config": {"l2": 300}})
    """
    return REGISTRY.build(kind, spec, **overrides)


def resolve(kind: Kind, name_or_path: str) -> type:
    """The class a name or dotted path names (see :meth:`Registry.resolve`)."""
    return REGISTRY.resolve(kind, name_or_path)


def register(kind: Kind, name: str, target: str | type, *, replace: bool = False) -> None:
    """Add a part to the process-wide registry (see :meth:`Registry.register`)."""
    REGISTRY.register(kind, name, target, replace=replace)


def available(kind: Kind) -> list[str]:
    """The registered names of ``kind``."""
    return REGISTRY.names(kind)


__all__ = [
    "KINDS",
    "REGISTRY",
    "Kind",
    "KindInfo",
    "Registry",
    "Spec",
    "SpecLike",
    "available",
    "build",
    "register",
    "resolve",
]
