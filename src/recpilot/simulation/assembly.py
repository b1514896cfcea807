"""Assemble a simulation run from a :class:`SimulationConfig`: data, split, personas, engine, recommender.

The dataset is split per user (seeded random 20% holdout). The recommender under test and the
engine's calibration see only the training part; the engine's ground-truth preferences are fitted on
all of each user's data, so the held-out items are true preferences the recommender never saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.splits import Split, random_holdout
from recpilot.errors import ConfigError
from recpilot.registry import REGISTRY, Spec
from recpilot.simulation.engine import DecisionEngine
from recpilot.simulation.environment import RecommenderUnderTest
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.persona import build_personas, sample_population
from recpilot.simulation.runner import SimulationRun
from recpilot.simulation.types import SimulationConfig, parse_explore

Step = Callable[[str], None]


def split_for_simulation(dataset: Dataset, seed: int) -> Split:
    """The per-user random holdout (20%) every simulation and validation uses."""
    return random_holdout(dataset, test_fraction=0.2, seed=seed)


def rating_range(dataset: Dataset) -> tuple[float, float] | None:
    """The lowest and highest rating of an explicit dataset (``None`` for implicit or constant ratings)."""
    if dataset.implicit or not dataset.n_interactions:
        return None
    ratings = dataset.interactions[Columns.RATING]
    low, high = float(ratings.min()), float(ratings.max())
    return (low, high) if low < high else None


def build_engine(config: SimulationConfig, split: Split, dataset: Dataset) -> DecisionEngine:
    """The configured engine: the calibrated offline one, or the LLM engine (imported lazily).

    The LLM engine gets the dataset's rating scale, the run's rate limits (``concurrency`` requests
    in flight, ``rate`` per second), timeout, token limit and record/replay cache, and the catalog's
    titles and genres for the memory lines of its prompts.
    """
    if config.engine == "offline":
        offline: OfflineEngine = REGISTRY.build("engine", Spec.of("offline", {"seed": config.seed}))
        return offline.fit(dataset)  # true preferences: all of each user's data
    if not config.llm:
        raise ConfigError("--engine llm needs --llm URL#MODEL (an OpenAI-compatible endpoint and model)")
    try:
        from recpilot.llm.cache import LLMCacheConfig
        from recpilot.llm.ratelimit import RateLimitConfig
        from recpilot.simulation.llm_engine import LLMDecisionEngine, LLMEngineConfig
        from recpilot.simulation.llm_prompts import catalog_items
    except ImportError as exc:
        raise ConfigError(
            f"the LLM simulation engine is not available in this installation ({exc})"
        ) from None
    from recpilot.llm.settings import load_llm_settings, parse_llm_option

    given = {"timeout_s": config.llm_timeout_s, "max_output_tokens": config.llm_max_tokens}
    settings = parse_llm_option(
        config.llm, load_llm_settings(**{k: v for k, v in given.items() if v is not None})
    )
    fields: dict[str, Any] = {
        "rate": RateLimitConfig(max_concurrency=config.concurrency, requests_per_s=config.rate)
    }
    scale = rating_range(dataset)
    if scale is not None:
        fields["rating_min"], fields["rating_max"] = scale
    if config.llm_cache_mode == "replay" and not config.llm_cache:
        raise ConfigError("--llm-cache-mode replay needs --llm-cache PATH (the recorded cache file)")
    if config.llm_cache and config.llm_cache_mode != "off":
        mode = "auto" if config.llm_cache_mode == "record-or-replay" else config.llm_cache_mode
        fields["cache"] = LLMCacheConfig(path=config.llm_cache, mode=mode)
    engine: LLMDecisionEngine = REGISTRY.build(
        "engine",
        "llm",
        model=settings,
        config=LLMEngineConfig(**fields),
        catalog=catalog_items(dataset, ["genres"]),
    )
    return engine


def build_recommender(config: SimulationConfig, split: Split) -> tuple[RecommenderUnderTest, str]:
    """The recommender under test, fitted on the training part when it is a model.

    With ``config.explore`` it is wrapped in the exploration strategy, named e.g. ``thompson(ease)``.
    """
    base, name = _base_recommender(config, split)
    if config.explore is None:
        return base, name
    return explore(base, config.explore, split.train, seed=config.seed), explored_name(config, name)


def explored_name(config: SimulationConfig, name: str) -> str:
    """The name of recommender ``name`` under the run's exploration strategy (``thompson(ease)``)."""
    return name if config.explore is None else f"{config.explore}({name})"


def explore(base: RecommenderUnderTest, spec: str, data: Dataset, *, seed: int) -> RecommenderUnderTest:
    """``base`` wrapped in the strategy ``spec`` names (``thompson``, ``linucb``, ``epsilon[:p]``).

    LinUCB's item features are the catalog's genres (one-hot).

    Raises:
        ConfigError: An unknown strategy, or LinUCB on a catalog without genres.
    """
    from recpilot.simulation.exploration import EpsilonGreedy, LinUCB, ThompsonSampling, genre_features

    try:
        name, parameter = parse_explore(spec)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if name == "thompson":
        return ThompsonSampling(base, seed=seed)
    if name == "linucb":
        features = genre_features(data)
        if not any(vector.any() for vector in features.values()):
            raise ConfigError(f"--explore linucb needs item genres; the catalog of {data.name!r} has none")
        return LinUCB(base, features, seed=seed)
    return EpsilonGreedy(base, 0.1 if parameter is None else parameter, seed=seed)


def recommender_spec(config: SimulationConfig) -> Spec:
    """The registry spec (kind ``recommender``) of ``config.recommender``: the one place its string
    is read. An ``http(s)://`` URL is a service, ``agent`` the offline agent, a registry name of the
    ``recommender`` kind (``model``, ``http``, or one registered) that part, anything else a model
    name or dotted path (with ``recommender_config``)."""
    value = config.recommender.strip()
    if value.startswith(("http://", "https://")):
        return Spec.of("http", {"url": value, "timeout_s": config.timeout_s})
    if value.lower() == "agent" or (
        value.lower() in REGISTRY.names("recommender") and value.lower() not in ("model", "http")
    ):
        return Spec.of(value, config.recommender_config)
    model = {"class": value, "config": config.recommender_config}
    return Spec.of("model", {"model": model, "use_history": config.rerank})


def _base_recommender(config: SimulationConfig, split: Split) -> tuple[RecommenderUnderTest, str]:
    spec = recommender_spec(config)
    built: RecommenderUnderTest = REGISTRY.build("recommender", spec, train=split.train)
    return built, config.recommender


def build_simulation(
    config: SimulationConfig,
    *,
    dataset: Dataset | None = None,
    engine: DecisionEngine | None = None,
    recommender: RecommenderUnderTest | None = None,
    step: Step | None = None,
) -> SimulationRun:
    """Load, split, ground personas, fit the engine (unless given) and the recommender.

    Args:
        config: The run's settings.
        dataset: An already loaded dataset (default: load ``config.dataset``).
        engine: An already fitted engine (reuse one across recommenders).
        recommender: Any object with ``arecommend`` to simulate instead of ``config.recommender``
            (already trained: it is named by its ``name`` attribute, else its class).
        step: Called with a short description before each slow step.
    """
    say = step or (lambda _: None)
    if dataset is None:
        from recpilot.data.loaders import load_dataset

        say(f"loading {config.dataset}")
        dataset = load_dataset(config.dataset)
    split = split_for_simulation(dataset, config.seed)
    personas = build_personas(split.train)
    population = sample_population(personas, dataset, config.users, config.seed)
    if engine is None:
        say(f"calibrating the {config.engine} engine")
        engine = build_engine(config, split, dataset)
    if recommender is None:
        say(f"fitting the recommender {config.recommender}")
        recommender, name = build_recommender(config, split)
    else:
        name = str(getattr(recommender, "name", type(recommender).__name__))
        if config.explore is not None:
            recommender = explore(recommender, config.explore, split.train, seed=config.seed)
            name = explored_name(config, name)
    return SimulationRun(config, dataset, population, engine, recommender, name)
