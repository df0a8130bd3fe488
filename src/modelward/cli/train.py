"""`mw train`: fit a model on a dataset version and record the run."""

from __future__ import annotations

import click

from modelward.cli.output import (
    console,
    fmt_number,
    json_option,
    print_json,
    progress,
    safe_markup,
)


@click.command()
@click.option("--data", required=True, help="Dataset version, e.g. churn@3 or churn.")
@click.option("--target", required=True, help="The column to predict.")
@click.option(
    "--model",
    required=True,
    help="linear, logistic or a scikit-learn class (sklearn.ensemble.RandomForestClassifier).",
)
@click.option(
    "--optimizer",
    type=click.Choice(["gd", "sgd", "minibatch", "adam"]),
    default=None,
    help="Optimizer of the built-in linear/logistic trainers.",
)
@click.option("--param", "params", multiple=True, help="Model parameter NAME=VALUE (repeatable).")
@click.option("--experiment", default="default", show_default=True)
@click.option("--name", "run_name", default=None, help="Run name (default: run-<id>).")
@click.option("--test-size", default=0.2, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int, help="Split and model seed.")
@click.option("--register", "register_as", default=None, help="Register the model as this name.")
@click.option(
    "--format",
    "model_format",
    type=click.Choice(["mw-native", "skops", "onnx", "pickle"]),
    default=None,
    help="How the model is stored (default: the safest that fits; pickle loads only with --trust).",
)
@json_option
def train(
    data: str,
    target: str,
    model: str,
    optimizer: str | None,
    params: tuple[str, ...],
    experiment: str,
    run_name: str | None,
    test_size: float,
    seed: int,
    register_as: str | None,
    model_format: str | None,
    as_json: bool,
) -> None:
    """Split, fit, evaluate on the hold-out and record params, metrics and the model."""
    from modelward.store.workspace import open_workspace
    from modelward.training.estimators import parse_params
    from modelward.training.trainer import train as run_training

    parsed = parse_params(params)
    if register_as is not None:
        from modelward.refs import validate_name

        validate_name(register_as, "model name")
    with progress(as_json) as stage:
        result = run_training(
            open_workspace(),
            data=data,
            target=target,
            model=model,
            params=parsed,
            optimizer=optimizer,
            experiment=experiment,
            run_name=run_name,
            test_size=test_size,
            seed=seed,
            model_format=model_format,
            progress=stage,
        )
    registered = None
    if register_as is not None:
        from modelward.registry.ports import model_registry

        registered = model_registry(open_workspace()).register_run(result.run_id, register_as)
    if as_json:
        print_json({**result.to_dict(), "registered": registered.ref if registered else None})
        return
    out = console()
    out.print(
        f"[bold]run {safe_markup(result.run_id)}[/bold]  {safe_markup(result.model)} "
        f"({safe_markup(result.task)}) on {safe_markup(data)}: "
        f"{result.n_train:,} train / {result.n_test:,} hold-out rows, {result.seconds:.2f} s"
    )
    shown = {k: v for k, v in result.metrics.items() if not k.startswith("n_")}
    out.print("  " + safe_markup("  ".join(f"{k} {fmt_number(v)}" for k, v in shown.items())))
    if registered is not None:
        out.print(f"  registered as {safe_markup(registered.ref)}")
    for warning in result.warnings:
        out.print(f"  [yellow]warning:[/yellow] {safe_markup(warning)}")
    short = safe_markup(result.run_id[:8])
    out.print(f"next: mw runs show {short}, mw evaluate {short} --data ...")
