"""``recpilot ask``, ``recpilot chat`` and ``recpilot rules``: talk to the recommender agent and inspect
the standing feed rules it keeps per user (the same memory database serves all three and
``recpilot recommend --user``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from recpilot.cli._common import err_console, out_console, print_json, status
from recpilot.errors import ConfigError
from recpilot.llm.settings import LLM_OPTION_HELP

if TYPE_CHECKING:
    from recpilot.data.dataset import Dataset
    from recpilot.memory import FeedRule, ProfileMemory
    from recpilot.models.base import Recommender
    from recpilot.types import ItemList

LlmOpt = Annotated[
    str | None,
    typer.Option("--llm", help=LLM_OPTION_HELP),
]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Built-in name or dataset path.")]
AgentDatasetOpt = Annotated[
    str | None,
    typer.Option("--dataset", "-d", help="Built-in name or dataset path (default: ml-latest-small)."),
]


SystemOpt = Annotated[
    Path | None,
    typer.Option(
        "--system",
        help="System config (TOML/JSON): dataset, model roles, brain, memory, policy "
        "(recpilot.agent.system.SystemSpec). --dataset, when given, wins; --llm makes the LLM brain "
        "decide (a file's offline brain becomes its fallback; a brain that takes no model is refused).",
    ),
]


def build_agent(dataset: str | None, llm: str | None, *, quiet: bool, system: Path | None = None) -> Any:
    """The agent over ``dataset`` with persistent store, cached models and memory under the settings home.

    With ``system`` the agent is the one that file describes (the same file builds it in the library,
    the service and the tests); ``dataset`` overrides its dataset, and ``llm`` makes the LLM brain on
    that endpoint decide (see :meth:`~recpilot.agent.system.SystemSpec.with_llm`).
    """
    from recpilot.agent.system import SystemSpec, build_agent
    from recpilot.data.loaders import load_dataset
    from recpilot.settings import get_settings

    # A bad file fails before any work (an LLM brain in it gets its model from --llm).
    spec = SystemSpec.load(system if system is not None else {}, supplied=["model"] if llm else ())
    spec = spec.with_llm(llm)  # --llm means the LLM brain decides (the offline brain is its fallback)
    if dataset is not None:
        spec = spec.model_copy(update={"dataset": dataset})
    settings = get_settings()
    with status(f"Preparing the agent on {spec.dataset}...", quiet=quiet):
        data = load_dataset(spec.dataset)
        home = settings.home / _slug(data.name)
        home.mkdir(parents=True, exist_ok=True)
        defaults = {"store_url": agent_store_url(data.name), "cache_dir": home / "models"}
        spec = spec.model_copy(update={k: v for k, v in defaults.items() if getattr(spec, k) is None})
        return build_agent(spec, dataset=data)


def agent_store_url(dataset_name: str) -> str:
    """The database of the agent's catalog store and memory for a dataset (``RECPILOT_STORE_URL`` wins)."""
    from recpilot.settings import get_settings

    settings = get_settings()
    return settings.store_url or f"sqlite:///{settings.home / _slug(dataset_name) / 'recpilot.db'}"


def agent_memory(dataset_name: str, *, create: bool) -> ProfileMemory | None:
    """The agent's persistent memory for a dataset; None when it does not exist and ``create`` is False."""
    from recpilot.memory.sql import SqlProfileMemory
    from recpilot.store.backend import create_engine, normalise_url

    url = agent_store_url(dataset_name)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
    return SqlProfileMemory(create_engine(normalise_url(url)))


def recommend_with_pipeline(
    recommender: Recommender[Any],
    data: Dataset,
    *,
    user: str | None,
    history: list[str] | None,
    k: int,
    exclude: list[str],
    quiet: bool,
) -> ItemList:
    """``recpilot recommend``: the ranking pipeline (:class:`recpilot.ranking.Ranking`) with one model,
    and for a known user their remembered likes, dislikes and feed rules from the agent's memory, as
    ``/v1/recommend`` and the agent rank them."""
    from recpilot.conversation.feed import feed_adjuster
    from recpilot.ranking import Catalog, Ranking, RankingRequest, likes_of, role_of

    memory = agent_memory(data.name, create=False) if user is not None else None
    rules = memory.feed_rules(user) if memory is not None and user is not None else []
    profile = memory.profile(user) if memory is not None and user is not None else None
    liked, disliked = likes_of(profile)
    if rules and not quiet:
        err_console.print(f"applying {len(rules)} feed rule(s) of user {user} (see `recpilot rules`)")
    role = role_of(recommender)
    request = RankingRequest(
        user_id=user,
        history=tuple(history or ()),
        liked=liked,
        disliked=disliked,
        k=k,
        exclude=tuple(exclude),
        model=role,
    )
    # The command takes no constraints, so its catalog needs no store to search.
    ranking = Ranking(Catalog(data), {role: recommender})
    return ranking.rank(request, adjusters=[feed_adjuster(rules)] if rules else [])


def rules(
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")],
    remove: Annotated[
        list[int] | None, typer.Option("--remove", help="Id of a rule to delete (repeatable).")
    ] = None,
    dataset: DatasetOpt = "ml-latest-small",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """List a user's feed rules (active and expired) or remove some by id."""
    from recpilot.conversation.feed_store import remove_feed_rules
    from recpilot.data.loaders import load_dataset

    with status(f"Opening the memory of {dataset}...", quiet=json_out):
        name = load_dataset(dataset).name
        memory = agent_memory(name, create=False)
    removed: list[FeedRule] = []
    if remove:
        if memory is None:
            raise ConfigError(
                f"user {user!r} has no rule {', '.join(f'#{i}' for i in remove)}: no memory yet"
            )
        change = remove_feed_rules(memory, user, ids=remove)
        if change.missing:
            raise ConfigError(
                f"user {user!r} has no rule {' or '.join(change.missing)}; "
                f"`recpilot rules --user {user}` lists them"
            )
        removed = change.removed
    listed = memory.feed_rules(user, include_expired=True) if memory is not None else []
    now = time.time()
    if json_out:
        print_json(
            {
                "user": user,
                "removed": [r.model_dump(mode="json") for r in removed],
                "rules": [{**r.model_dump(mode="json"), "active": r.active(now)} for r in listed],
            }
        )
        return
    console = out_console()
    for rule in removed:
        console.print(f"removed {rule.describe(now)}")
    if not listed:
        console.print(f"user {user} has no feed rules")
        return
    table = Table(title=f"Feed rules of user {user}")
    for column in ("id", "effect", "target", "until", "status", "text", "asked by"):
        table.add_column(column)
    for rule in listed:
        until = "removed by the user" if rule.expires_at is None else _stamp(rule.expires_at)
        state = "active" if rule.active(now) else "expired"
        asked = rule.provenance.describe()
        table.add_row(str(rule.id), rule.effect, rule.target.describe(), until, state, rule.text, asked)
    console.print(table)


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "dataset"


def ask(
    message: Annotated[str, typer.Argument(help="What you want, in your own words.")],
    user: Annotated[str, typer.Option("--user", "-u", help="User id (unknown: cold start).")] = "1",
    session: Annotated[str | None, typer.Option(help="Dialogue session id.")] = None,
    dataset: AgentDatasetOpt = None,
    llm: LlmOpt = None,
    system: SystemOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Ask the recommender agent once."""
    agent = build_agent(dataset, llm, quiet=json_out, system=system)
    response = agent.respond(user, message, session_id=session)
    if json_out:
        payload = response.model_dump(mode="json")
        for item in payload["items"]:  # ids leave the process as text, whatever the catalog's type
            item["item_id"] = str(item["item_id"])
        print_json(payload)
        return
    _print_response(response)


def chat(
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")] = "1",
    session: Annotated[str | None, typer.Option(help="Dialogue session id.")] = None,
    dataset: AgentDatasetOpt = None,
    llm: LlmOpt = None,
    system: SystemOpt = None,
) -> None:
    """A conversation with the agent in the terminal (type 'quit' or Ctrl-D to leave)."""
    agent = build_agent(dataset, llm, quiet=False, system=system)
    console = out_console()
    console.print("[bold]recpilot chat[/] — tell me what you'd like to watch. Type 'quit' to leave.")
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        if line.strip().lower() in {"quit", "exit", ":q"}:
            break
        if not line.strip():
            continue
        _print_response(agent.respond(user, line, session_id=session))


def _print_response(response: Any) -> None:
    console = out_console()
    console.print(f"[bold green]recpilot>[/] {response.reply}")
    if response.items:
        table = Table(show_header=True, header_style="bold")
        for column in ("#", "title", "why"):
            table.add_column(column, justify="right" if column == "#" else "left")
        for rank, item in enumerate(response.items, start=1):
            why = "; ".join(reason.text for reason in item.reasons[:3])
            table.add_row(str(rank), item.title, why)
        console.print(table)
    if response.degraded:
        err_console.print("[yellow]note: the language model was unavailable; the offline brain answered[/]")
