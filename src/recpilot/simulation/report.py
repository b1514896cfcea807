"""An HTML report of a simulation run, from its Parquet results (one self-contained file).

Sections: the summary metrics, click-through per session, satisfaction over pages, the exit curve
(share of sessions still active at each page), item coverage and exposure diversity over time, and,
when the run had retraining rounds (:mod:`recpilot.simulation.rounds`), coverage and entropy per
round. Figures are matplotlib PNGs embedded as base64, so the file can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from recpilot.errors import DataError
from recpilot.simulation.files import atomic_write_text
from recpilot.simulation.types import SimColumns as C

#: The file :mod:`recpilot.simulation.rounds` writes beside the result tables.
ROUNDS_FILE = "rounds.parquet"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; }
td, th { padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: left; }
section { margin-bottom: 2.5em; } img { max-width: 100%; } .note { color: #666; font-size: 90%; }
.warn { color: #a40; }
</style></head><body>
<h1>{{ title }}</h1>
@BODY@
{% for figure in figures %}
<section id="{{ figure.id }}"><h2>{{ figure.title }}</h2>
<img alt="{{ figure.title }}" src="data:image/png;base64,{{ figure.png }}">
<p class="note">{{ figure.note }}</p></section>
{% endfor %}
</body></html>
"""

_SUMMARY = """<section id="summary"><h2>Summary</h2><table>
{% for name, value in summary %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>{% endfor %}
</table></section>"""


def report_page(body: str) -> jinja2.Template:
    """A self-contained report page: the shared head and style, ``body`` (Jinja source), then the
    ``figures`` (dicts with ``id``, ``title``, ``png`` and ``note``) embedded as base64 PNGs."""
    return jinja2.Environment(autoescape=True).from_string(_PAGE.replace("@BODY@", body))


def load_results(results_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The items table, the sessions table and the summary (empty when absent) of a run folder.

    Raises:
        DataError: A result table is missing.
    """
    root = Path(results_dir)
    tables = []
    for name in ("items.parquet", "sessions.parquet"):
        path = root / name
        if not path.is_file():
            raise DataError(
                f"no {name} in the simulation results folder (run `recpilot simulate` first)", path=str(root)
            )
        tables.append(pd.read_parquet(path))
    summary_path = root / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    return tables[0], tables[1], summary


def write_report(results_dir: str | Path, out_path: str | Path, *, title: str | None = None) -> Path:
    """Render the HTML report of the run in ``results_dir`` to ``out_path``.

    Args:
        results_dir: A run's output folder (``items.parquet``, ``sessions.parquet``, optionally
            ``summary.json`` and ``rounds.parquet``).
        out_path: The HTML file to write (its folder is created).
        title: The page title (default: the run id).

    Returns:
        The written path.
    """
    items, sessions, summary = load_results(results_dir)
    rounds_path = Path(results_dir) / ROUNDS_FILE
    rounds = pd.read_parquet(rounds_path) if rounds_path.is_file() else None
    html = render_report(items, sessions, summary, rounds=rounds, title=title)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, html)
    return out


def render_report(
    items: pd.DataFrame,
    sessions: pd.DataFrame,
    summary: dict[str, Any] | None = None,
    *,
    rounds: pd.DataFrame | None = None,
    title: str | None = None,
) -> str:
    """The report's HTML for result tables already in memory (see :func:`write_report`)."""
    run_ids = items[C.RUN].unique().tolist() if C.RUN in items and len(items) else []
    heading = title or f"Simulation report: {', '.join(map(str, run_ids)) or 'empty run'}"
    figures = [
        _figure(
            "ctr",
            "Click-through per session",
            ctr_by_session(items),
            "session",
            "click-through rate",
            "Clicks per shown item, by the users' session number.",
        ),
        _figure(
            "satisfaction",
            "Satisfaction over pages",
            satisfaction_by_page(items),
            "page",
            "mean satisfaction",
            "Mean satisfaction after each page, over the sessions that reached it.",
        ),
        _figure(
            "exit",
            "Exit curve",
            exit_curve(sessions),
            "page",
            "share of sessions still active",
            "Share of sessions that saw at least this many pages.",
        ),
        _figure(
            "coverage",
            "Coverage and diversity over time",
            coverage_over_time(items),
            "time step",
            "value",
            "Distinct items shown so far (share of items shown in the run) and the normalised "
            "entropy of item exposure so far (1 = even exposure).",
        ),
    ]
    if rounds is not None and len(rounds):
        frame = rounds.set_index("round")[["coverage", "entropy"]]
        figures.append(
            _figure(
                "rounds",
                "Coverage and entropy over retraining rounds",
                frame,
                "round",
                "value",
                "Coverage of the catalog and normalised entropy of recommended items after each refit.",
            )
        )
    rows = [
        (f"{name}.{part}", _fmt(inner)) if isinstance(value, dict) else (name, _fmt(value))
        for name, value in (summary or basic_summary(items, sessions)).items()
        for part, inner in (value.items() if isinstance(value, dict) else [("", value)])
    ]  # nested results (engine_stats, instructions) one row per field
    return report_page(_SUMMARY).render(title=heading, summary=rows, figures=figures)


def basic_summary(items: pd.DataFrame, sessions: pd.DataFrame) -> dict[str, Any]:
    """Headline metrics computed from the tables (used when ``summary.json`` is absent)."""
    return {
        "user_sessions": len(sessions),
        "ctr": float((items[C.ACTION] == "click").mean()) if len(items) else 0.0,
        "mean_session_length": float(sessions[C.PAGES_SEEN].mean()) if len(sessions) else 0.0,
        "exit_rate": float(sessions[C.EXIT_PAGE].notna().mean()) if len(sessions) else 0.0,
    }


def ctr_by_session(items: pd.DataFrame) -> pd.DataFrame:
    """Click-through rate by session number."""
    clicks = (items[C.ACTION] == "click").groupby(items[C.SESSION]).mean()
    return pd.DataFrame({"click-through": clicks})


def satisfaction_by_page(items: pd.DataFrame) -> pd.DataFrame:
    """Mean satisfaction after each page index (one value per user-session-page)."""
    pages = items.drop_duplicates([C.USER, C.SESSION, C.PAGE])
    return pd.DataFrame({"satisfaction": pages.groupby(C.PAGE)[C.SATISFACTION].mean()})


def exit_curve(sessions: pd.DataFrame) -> pd.DataFrame:
    """Share of sessions still active at each page (page p is reached by sessions with > p pages)."""
    seen = sessions[C.PAGES_SEEN].to_numpy()
    if not len(seen):
        return pd.DataFrame({"active": []})
    pages = np.arange(int(seen.max()))
    return pd.DataFrame({"active": [(seen > p).mean() for p in pages]}, index=pd.Index(pages, name="page"))


def coverage_over_time(items: pd.DataFrame) -> pd.DataFrame:
    """Cumulative coverage and exposure entropy by time step (``session * pages + page``)."""
    if not len(items):
        return pd.DataFrame({"coverage": [], "entropy": []})
    pages = int(items[C.PAGE].max()) + 1
    step = items[C.SESSION].to_numpy(dtype=np.int64) * pages + items[C.PAGE].to_numpy(dtype=np.int64)
    codes, uniques = pd.factorize(items[C.ITEM])
    order = np.argsort(step, kind="stable")
    counts = np.zeros(len(uniques))
    steps = np.unique(step)
    boundaries = np.searchsorted(step[order], steps, side="right")
    coverage, entropy, start = [], [], 0
    for end in boundaries:
        np.add.at(counts, codes[order[start:end]], 1.0)
        start = end
        coverage.append(float((counts > 0).sum() / len(uniques)))
        entropy.append(normalised_entropy(counts))
    return pd.DataFrame({"coverage": coverage, "entropy": entropy}, index=pd.Index(steps, name="step"))


def normalised_entropy(counts: np.ndarray[Any, Any]) -> float:
    """Shannon entropy of a count vector divided by its maximum (``log`` of the number of bins)."""
    total = float(counts.sum())
    if total <= 0 or len(counts) < 2:
        return 0.0
    share = counts[counts > 0] / total
    return float(-(share * np.log(share)).sum() / np.log(len(counts)))


def _figure(key: str, title: str, frame: pd.DataFrame, xlabel: str, ylabel: str, note: str) -> dict[str, str]:
    return {
        "id": key,
        "title": title,
        "png": plot_png(lambda ax: _lines(ax, frame), xlabel, ylabel),
        "note": note,
    }


def _lines(ax: Any, frame: pd.DataFrame) -> None:
    for column in frame.columns:
        ax.plot(
            frame.index.to_numpy(),
            frame[column].to_numpy(),
            marker="o" if len(frame) < 30 else None,
            label=str(column),
        )
    if len(frame.columns) > 1:
        ax.legend()


def plot_png(draw: Callable[[Any], None], xlabel: str, ylabel: str) -> str:
    """A matplotlib figure drawn by ``draw(ax)``, as a base64 PNG for an ``<img>`` tag."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, no display needed

    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    draw(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


__all__ = [
    "ROUNDS_FILE",
    "basic_summary",
    "coverage_over_time",
    "ctr_by_session",
    "exit_curve",
    "load_results",
    "normalised_entropy",
    "plot_png",
    "render_report",
    "satisfaction_by_page",
    "write_report",
]
