"""`mw monitor ...`: data drift of a served model, and the alerts that fired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from modelward.cli.output import (
    console,
    fmt_number,
    json_option,
    print_json,
    progress,
    safe_markup,
)


@click.group()
def monitor() -> None:
    """Drift reports and alerts of deployed models."""


@monitor.command("drift")
@click.argument("model")
@click.option(
    "--reference", default=None, help="Dataset version to compare with (default: training data)."
)
@click.option(
    "--current",
    "current_path",
    type=click.Path(path_type=Path),
    default=None,
    help="A file of current rows (default: the prediction log window).",
)
@click.option(
    "--window", default="24h", show_default=True, help="Prediction-log window: 30m, 6h, 7d..."
)
@click.option("--rows", default=100_000, show_default=True, type=click.IntRange(1))
@click.option("--html", "html_path", type=click.Path(path_type=Path), default=None)
@click.option("--psi", "psi_threshold", type=float, default=None, help="PSI threshold.")
@click.option("--alpha", type=float, default=None, help="Significance level of KS/chi-square.")
@click.option("--fail-on-drift", is_flag=True, help="Exit 1 when the verdict is drifted.")
@click.option(
    "--histograms", is_flag=True, help="With --json: each feature's bucket shares, both sides."
)
@json_option
def drift(
    model: str,
    reference: str | None,
    current_path: Path | None,
    window: str,
    rows: int,
    html_path: Path | None,
    psi_threshold: float | None,
    alpha: float | None,
    fail_on_drift: bool,
    histograms: bool,
    as_json: bool,
) -> None:
    """Compare a model's inputs now with its reference data (PSI, KS, chi-square)."""
    from modelward.monitoring.drift.check import DriftRequest, run_drift_check
    from modelward.store.workspace import open_workspace

    with progress(as_json) as stage:
        result = run_drift_check(
            open_workspace(),
            DriftRequest(
                model=model,
                reference=reference,
                current_path=current_path,
                window=window,
                rows=rows,
                html_path=html_path,
                psi_threshold=psi_threshold,
                alpha=alpha,
                histograms=histograms,
            ),
            progress=stage,
        )
    if as_json:
        print_json(result)
    else:
        _print_drift(result)
    if fail_on_drift and result["dataset"]["drifted"]:
        raise click.exceptions.Exit(1)


def _print_drift(result: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    verdict = result["dataset"]
    colour = "red" if verdict["drifted"] else "green"
    out.print(
        f"[bold]{safe_markup(result['model'])}[/bold]: reference "
        f"{safe_markup(result['reference'])} ({result['n_reference']:,} rows) vs "
        f"{safe_markup(result['current'])} ({result['n_current']:,} rows)"
    )
    out.print(
        f"verdict: [{colour}]{'DRIFTED' if verdict['drifted'] else 'no drift'}[/{colour}] "
        f"({verdict['n_drifted']} of {verdict['n_features']} features drifted)"
    )
    table = Table("feature", "kind", "psi", "statistic", "p-value", "drifted", "why")
    ordered = sorted(result["features"], key=lambda f: (not f.get("drifted"), -(f.get("psi") or 0)))
    for feature in ordered:
        statistic = feature.get("ks_statistic", feature.get("chi2_statistic"))
        pvalue = feature.get("ks_pvalue", feature.get("chi2_pvalue"))
        table.add_row(
            safe_markup(feature["name"]),
            safe_markup(feature.get("kind", "")),
            fmt_number(feature.get("psi")),
            fmt_number(statistic),
            fmt_number(pvalue),
            "[red]yes[/red]" if feature.get("drifted") else "no",
            safe_markup(feature.get("reason") or ""),
        )
    out.print(table)
    if result.get("html"):
        out.print(f"report: {safe_markup(result['html'])}")


@monitor.command("alerts")
@click.option("--model", default=None, help="Only alerts of this model.")
@click.option("--state", type=click.Choice(["firing", "resolved"]), default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def alerts(model: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """List alerts that fired (and resolved), newest first."""
    from modelward.monitoring.ports import alert_store
    from modelward.store.workspace import open_workspace

    found = alert_store(open_workspace()).list(model=model, state=state, limit=limit)
    if as_json:
        print_json([alert.to_dict() for alert in found])
        return
    if not found:
        click.echo("no alerts: rules are given to `mw serve --alerts rules.yaml`")
        return
    from rich.table import Table

    table = Table("at", "model", "rule", "state", "metric", "value", "message", "webhook")
    for alert in found:
        colour = "red" if alert.state == "firing" else "green"
        table.add_row(
            f"{alert.at:%Y-%m-%d %H:%M:%S}",
            safe_markup(alert.model or ""),
            safe_markup(alert.rule),
            f"[{colour}]{safe_markup(alert.state)}[/{colour}]",
            safe_markup(alert.metric),
            fmt_number(alert.value),
            safe_markup(alert.message),
            safe_markup(alert.webhook or ""),
        )
    console().print(table)
