"""The HTML report of a simulator audit: both orderings of the recommenders and the calibration curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recpilot.simulation.files import atomic_write_text
from recpilot.simulation.report import plot_png, report_page

_BODY = """<p>Audit against <b>{{ audit }}</b> on {{ users }} test users. Unbiased metric: {{ metric }}.
Simulated outcome: {{ outcome }}.</p>
{% for w in warnings %}<p class="warn">{{ w }}</p>{% endfor %}
<section id="agreement"><h2>Rank agreement</h2><table>
{% for name, value in agreement %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>{% endfor %}
</table></section>
<section id="recommenders"><h2>Recommenders</h2><table>
<tr><th>recommender</th><th>unbiased</th><th>simulated</th><th>note</th></tr>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table></section>"""


def write_audit_report(result: dict[str, Any], out_path: str | Path) -> Path:
    """Write the report of a :func:`recpilot.simulation.audit.run_audit` result to ``out_path``."""
    path = Path(out_path)
    atomic_write_text(path, render_audit_report(result))
    return path


def render_audit_report(result: dict[str, Any]) -> str:
    """The report's HTML (one self-contained file, figures embedded)."""
    recs = result["recommenders"]
    ok = [name for name, row in recs.items() if row.get("unbiased") is not None]
    figures = []
    if ok:
        figures.append(
            {
                "id": "orderings",
                "title": "Both orderings",
                "png": plot_png(lambda ax: _orderings(ax, recs, ok), "recommender", "share of the best"),
                "note": "Each recommender's unbiased metric and simulated outcome, each divided by the "
                "best recommender's value, sorted by the unbiased metric.",
            }
        )
    calibration = result.get("calibration")
    if calibration:
        figures.append(
            {
                "id": "calibration",
                "title": "Calibration on random exposure",
                "png": plot_png(
                    lambda ax: _curve(ax, calibration["curve"]),
                    "predicted like probability",
                    "actual like rate",
                ),
                "note": "Test pairs in ten equal-count bins of the predicted like probability; the "
                "diagonal is perfect calibration.",
            }
        )
    ra = result["rank_agreement"]
    agreement = [
        ("Kendall tau", _fmt(ra["kendall"], ra.get("kendall_ci"))),
        ("Spearman rho", _fmt(ra["spearman"], ra.get("spearman_ci"))),
        ("significant pairs (paired bootstrap 95%)", _plain(ra["significant_pairs"])),
        ("of which ordered the same by the simulator", _plain(ra["concordant_significant_pairs"])),
    ]
    if calibration:
        agreement += [
            ("calibration AUC", _fmt(calibration["auc"])),
            (
                "predicted vs actual like rate",
                f"{calibration['predicted_like_rate']:.3f} vs {calibration['actual_like_rate']:.3f}",
            ),
            (
                "Brier / calibration error",
                f"{calibration['brier']:.3f} / {calibration['calibration_error']:.3f}",
            ),
        ]
    rows = [
        (
            name,
            _fmt(row.get("unbiased"), row.get("unbiased_ci")),
            _fmt(row.get("simulated"), row.get("simulated_ci")),
            row.get("error", ""),
        )
        for name, row in recs.items()
    ]
    return report_page(_BODY).render(
        title=f"Simulator audit: {result['dataset']}",
        audit=result["audit"],
        users=result["test_users"],
        metric=result["unbiased_metric"],
        outcome=result["simulated_outcome"],
        warnings=result["warnings"],
        agreement=agreement,
        rows=rows,
        figures=figures,
    )


def _orderings(ax: Any, recs: dict[str, Any], names: list[str]) -> None:
    names = sorted(names, key=lambda n: -recs[n]["unbiased"])
    unbiased = np.array([recs[n]["unbiased"] for n in names])
    simulated = np.array([recs[n]["simulated"] for n in names])
    x = np.arange(len(names))
    ax.bar(x - 0.2, unbiased / max(unbiased.max(), 1e-12), 0.4, label="unbiased (real users)")
    ax.bar(x + 0.2, simulated / max(simulated.max(), 1e-12), 0.4, label="simulated")
    ax.set_xticks(x, names)
    ax.legend()


def _curve(ax: Any, curve: list[dict[str, float]]) -> None:
    predicted = [c["predicted"] for c in curve]
    actual = [c["actual"] for c in curve]
    top = max([*predicted, *actual, 0.05]) * 1.1
    ax.plot([0, top], [0, top], color="#999", linestyle="--", label="perfect")
    ax.plot(predicted, actual, marker="o", label="simulator")
    ax.legend()


def _fmt(value: float | None, ci: list[float] | None = None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _plain(value: Any) -> str:
    return "n/a" if value is None else str(value)
