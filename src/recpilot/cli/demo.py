"""``recpilot demo``: the main job on the embedded default (built-in data, no network, no LLM)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from recpilot.cli._common import err_console, out_console, print_json, status
from recpilot.data.builtin import load_builtin
from recpilot.data.dataset import Dataset
from recpilot.data.splits import leave_last_out
from recpilot.evaluation import FullRanking, evaluate
from recpilot.models.registry import build_model


def run_demo(
    model_names: Sequence[str], *, sample_user: int = 1, json_out: bool = False, converse: bool = True
) -> dict[str, Any]:
    """Load MovieLens latest-small, evaluate the models leave-last-out, and recommend for a sample user.

    Returns the JSON payload it printed (or would print with ``json_out``).
    """
    start = time.perf_counter()
    quiet = json_out
    with status("Loading the built-in MovieLens latest-small...", quiet=quiet):
        data = load_builtin("ml-latest-small")
    info = data.describe()
    if not quiet:
        out_console().print(
            f"[bold]recpilot demo[/]: {info['name']} with {info['users']} users, {info['items']} movies, "
            f"{info['interactions']} ratings (built-in, offline)."
        )

    split = leave_last_out(data)
    models = {name: build_model(name) for name in model_names}

    def progress(message: str) -> None:
        if not quiet:
            err_console.print(f"[dim]{message}[/]")

    report = evaluate(
        models, split, k=10, protocol=FullRanking(), n_bootstrap=200, seed=42, progress=progress
    )
    payload_eval = report.to_dict()
    ranked = [n for n, r in payload_eval["models"].items() if "error" not in r]
    best = max(ranked, key=lambda n: payload_eval["models"][n]["ndcg@10"])

    payload: dict[str, Any] = {
        "dataset": info,
        "evaluation": payload_eval,
        "best_model": best,
        "sample_user": _sample_user(data, best, sample_user, quiet=quiet),
        "conversation": run_conversation(data, sample_user, quiet=quiet) if converse else [],
        "simulation": demo_simulation(data, split, models, quiet=quiet),
        "wall_seconds": time.perf_counter() - start,
    }
    if json_out:
        print_json(payload)
    else:
        _print_demo(payload)
    return payload


def _sample_user(data: Dataset, best: str, sample_user: int, *, quiet: bool) -> dict[str, Any]:
    """The sample user's favourites and the top 10 of the best model refitted on all data."""
    with status(f"Refitting {best} on all data...", quiet=quiet):
        final = build_model(best).fit(data)
    user_index = data.users.index_of(sample_user, hint="choose --user from the dataset's user ids")
    ratings = data.matrix("rating")[user_index]
    top_rated = ratings.indices[ratings.data.argsort()[::-1][:5]]
    recs = final.recommend(sample_user, k=10)
    rec_titles = data.titles(data.items.to_internal(recs.ids()))
    return {
        "user_id": sample_user,
        "n_ratings": len(data.user_sequence(user_index)),
        "top_rated": data.titles(top_rated),
        "recommendations": [
            {"rank": e.rank, "item_id": str(e.item_id), "title": t, "score": e.score}
            for e, t in zip(recs, rec_titles, strict=True)
        ],
    }


def _print_demo(payload: dict[str, Any]) -> None:
    """The demo's tables and summaries for a terminal."""
    payload_eval, best, user = payload["evaluation"], payload["best_model"], payload["sample_user"]
    sample_user = user["user_id"]
    console = out_console()
    table = Table(title=f"Leave-last-out, full ranking, {payload_eval['n_users']} users (95% CI half-width)")
    for column in ("model", "NDCG@10", "Recall@10", "MRR@10", "coverage", "fit s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, result in payload_eval["models"].items():
        if "error" in result:
            table.add_row(name, f"[red]{result['error']}[/]", "", "", "", "")
            continue
        ci = result["ci"]
        table.add_row(
            name + (" *" if name == best else ""),
            f"{result['ndcg@10']:.4f} ±{(ci['ndcg@10'][1] - ci['ndcg@10'][0]) / 2:.4f}",
            f"{result['recall@10']:.4f}",
            f"{result['mrr@10']:.4f}",
            f"{result['coverage']:.3f}",
            f"{result['fit_seconds']:.2f}",
        )
    console.print(table)
    console.print(f"\nUser {sample_user} rated {user['n_ratings']} movies; their favourites include:")
    for title in user["top_rated"]:
        console.print(f"  • {title}")
    recs_table = Table(title=f"Top 10 for user {sample_user} from {best} (trained on all data)")
    for column in ("#", "movie", "score"):
        recs_table.add_column(column, justify="left" if column == "movie" else "right")
    for row in user["recommendations"]:
        recs_table.add_row(str(row["rank"]), row["title"], f"{row['score']:.3f}")
    console.print(recs_table)
    _print_conversation(payload["conversation"])
    print_demo_simulation(payload["simulation"])
    console.print(f"[dim]demo finished in {payload['wall_seconds']:.1f}s[/]")


#: The scripted conversation the demo holds with the offline brain.
DEMO_CONVERSATION = (
    "a 90s comedy",
    "something like Toy Story but not animated",
    "no horror; I liked Heat and Se7en",
)


def run_conversation(data: Dataset, user: int, *, quiet: bool) -> list[dict[str, Any]]:
    """Hold :data:`DEMO_CONVERSATION` with the offline-brain agent and return each turn's summary."""
    from recpilot.agent import RecommenderAgent, build_runtime

    with status("Starting the offline agent...", quiet=quiet):
        agent = RecommenderAgent(build_runtime(data))
    turns = []
    for message in DEMO_CONVERSATION:
        response = agent.respond(user, message, session_id="demo")
        turns.append(
            {
                "message": message,
                "reply": response.reply,
                "items": [
                    {"item_id": str(i.item_id), "title": i.title, "why": [r.text for r in i.reasons[:2]]}
                    for i in response.items[:5]
                ],
                "tool_calls": [t.name for t in response.trace if t.kind == "tool_call"],
            }
        )
    return turns


def _print_conversation(turns: list[dict[str, Any]]) -> None:
    console = out_console()
    console.print("\n[bold]A short conversation with the offline agent[/] (no LLM):")
    for turn in turns:
        console.print(f"\n[bold cyan]you>[/] {turn['message']}")
        console.print(f"[bold green]recpilot>[/] {turn['reply']}")
        for item in turn["items"]:
            console.print(f"   • {item['title']}  [dim]{'; '.join(item['why'])}[/]")
        console.print(f"   [dim]tools: {' -> '.join(turn['tool_calls'])}[/]")


#: The recommenders the demo's short simulation compares.
DEMO_RECOMMENDERS = ("pop", "als")


def demo_simulation(
    data: Any,
    split: Any,
    fitted: Mapping[str, Any],
    *,
    quiet: bool,
    users: int = 200,
    sessions: int = 2,
) -> dict[str, Any]:
    """The demo's short simulation: the same simulated users meet two recommenders (offline engine).

    The demo has already fitted most of what a simulation needs, so it passes them in and nothing is
    fitted twice: ``split`` (personas and recommenders come from its training part) and ``fitted``
    (models fitted on ``split.train``, used as the recommenders under test; one that is missing or
    failed to fit is fitted here). The engine's like model is fitted on all of ``data`` (the users'
    true preferences).

    Returns ``{recommender: summary}`` for :data:`DEMO_RECOMMENDERS`.
    """
    from recpilot.simulation.assembly import build_recommender
    from recpilot.simulation.environment import ModelRecommender
    from recpilot.simulation.offline_engine import OfflineEngine
    from recpilot.simulation.persona import build_personas, sample_population
    from recpilot.simulation.runner import SimulationRun, SimulationRunner
    from recpilot.simulation.types import SimulationConfig

    config = SimulationConfig(users=users, sessions=sessions, pages=10, page_size=10, seed=42)
    with status("Fitting simulated users' preferences on all ratings...", quiet=quiet):
        engine = OfflineEngine(seed=config.seed).fit(data)
        population = sample_population(build_personas(split.train), data, users, config.seed)
    results: dict[str, Any] = {}
    for name in DEMO_RECOMMENDERS:
        spec = config.model_copy(update={"recommender": name})
        with status(f"Simulating {users} users x {sessions} sessions with {name}...", quiet=quiet):
            model = fitted.get(name)
            if model is not None and model.is_fitted:
                recommender: Any = ModelRecommender(model)
            else:
                recommender, _ = build_recommender(spec, split)
            run = SimulationRun(spec, data, population, engine, recommender, name)
            results[name] = SimulationRunner(run).run_sync().to_dict()
    return results


def print_demo_simulation(results: dict[str, Any]) -> None:
    """Print the demo simulation's comparison table."""
    if not results:
        return
    first = next(iter(results.values()))
    table = Table(
        title=f"Simulated users ({first['user_sessions']} sessions, 10 pages x 10 items, offline engine)"
    )
    for column in (
        "recommender",
        "likes/session",
        "CTR",
        "mean rating",
        "pages/session",
        "left early",
        "coverage",
    ):
        table.add_column(column, justify="left" if column == "recommender" else "right")
    for name, r in results.items():
        rating = "-" if r["mean_rating"] is None else f"{r['mean_rating']:.2f}"
        table.add_row(
            name,
            f"{r['likes_per_session']:.2f}",
            f"{r['ctr']:.3f}",
            rating,
            f"{r['mean_session_length']:.2f}",
            f"{r['exit_rate']:.2f}",
            f"{r['coverage']:.3f}",
        )
    out_console().print(table)
