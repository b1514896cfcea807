"""``recpilot simulate --audit``: does the simulator rank recommenders as real users do?"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from recpilot.cli._common import err_console, out_console, print_json, status


def run_audit_command(
    dataset: str,
    recommenders: str,
    *,
    temporal: bool,
    seed: int,
    choice_weight: float | None = None,
    cross_fit: bool = True,
    taste: str = "consensus",
    repeats: int = 5,
    report: str | None,
    json_out: bool,
) -> dict[str, Any]:
    """Load ``dataset``, run the audit, write the HTML report if asked, print the result."""
    from recpilot.data.loaders import load_dataset
    from recpilot.simulation.audit import AuditConfig, run_audit

    def step(message: str) -> None:
        if not json_out:
            err_console.print(f"[dim]{message}...[/]")

    from recpilot.errors import ConfigError
    from recpilot.simulation.behaviour import BehaviourConfig

    if taste not in ("consensus", "svd"):
        raise ConfigError(f"--taste {taste!r} is not known; use 'consensus' or 'svd'")
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}")

    behaviour = BehaviourConfig() if choice_weight is None else BehaviourConfig(choice_weight=choice_weight)
    config = AuditConfig(
        recommenders=recommenders.split(","),
        temporal=temporal,
        seed=seed,
        behaviour=behaviour,
        cross_fit=cross_fit,
        taste=taste,  # type: ignore[arg-type]  # checked above
        repeats=repeats,
    )
    with status("Auditing the simulator...", quiet=json_out):
        result = run_audit(load_dataset(dataset), config, step=step)
    if report is not None:
        from recpilot.simulation.audit_report import write_audit_report

        result["report"] = str(write_audit_report(result, report))
    if json_out:
        print_json(result)
    else:
        print_audit(result)
    return result


def print_audit(result: dict[str, Any]) -> None:
    """The audit as two tables and a few lines."""
    console = out_console()
    table = Table(
        title=f"Simulator audit on {result['dataset']} ({result['audit']}, {result['test_users']} users)"
    )
    for column in ("recommender", "unbiased", "simulated", "note"):
        table.add_column(column, justify="left" if column in ("recommender", "note") else "right")
    for name, row in result["recommenders"].items():
        table.add_row(name, _num(row.get("unbiased")), _num(row.get("simulated")), row.get("error", ""))
    console.print(table)
    console.print(f"[dim]unbiased: {result['unbiased_metric']}; simulated: {result['simulated_outcome']}[/]")
    ra = result["rank_agreement"]
    console.print(
        f"Kendall {_num(ra['kendall'])} {_ci(ra.get('kendall_ci'))}, Spearman {_num(ra['spearman'])} "
        f"{_ci(ra.get('spearman_ci'))}; significant pairs {ra['significant_pairs']}, ordered the same "
        f"{ra['concordant_significant_pairs']} (tied in simulation {ra.get('ties_in_simulation')}); "
        f"{result.get('repeats', 1)} repetitions"
    )
    unsettled = _unsettled(ra.get("rank_distribution"))
    if unsettled:
        console.print(
            f"[dim]places the test data do not fix (share of resamples at the usual place): {unsettled}[/]"
        )
    family = result.get("own_family") or []
    if family:
        places = ", ".join(
            f"{f['recommender']} {f['unbiased_rank']} vs {f['simulated_rank']}" for f in family
        )
        console.print(
            f"[dim]simulator's taste term: {result.get('taste')}; its nearest families, place in truth vs "
            f"in simulation (of {family[0]['of']}): {places}[/]"
        )
    calibration = result.get("calibration")
    if calibration:
        console.print(
            f"calibration on {calibration['pairs']} random pairs: AUC {_num(calibration['auc'])}, Brier "
            f"{_num(calibration['brier'])}, calibration error {_num(calibration['calibration_error'])}, "
            f"like rate predicted {calibration['predicted_like_rate']:.3f} vs actual "
            f"{calibration['actual_like_rate']:.3f}"
        )
    for warning in result["warnings"]:
        console.print(f"[yellow]{warning}[/]")
    if result.get("report"):
        console.print(f"report written to {result['report']}")


def _unsettled(distribution: dict[str, dict[str, list[float]]] | None) -> str:
    """Recommenders whose place in the unbiased ordering changes in more than 10% of resamples."""
    if not distribution:
        return ""
    parts = []
    for name, shares in distribution["unbiased"].items():
        place = max(range(len(shares)), key=lambda r: shares[r])
        if shares[place] < 0.9:
            parts.append(f"{name} {place + 1} ({shares[place]:.0%})")
    return ", ".join(parts)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ci(bounds: list[float] | None) -> str:
    return "" if not bounds else f"[{bounds[0]:.2f}, {bounds[1]:.2f}]"
