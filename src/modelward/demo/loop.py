"""The demo loop, shared by `mw demo` and the tests: real data, every stage in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelward.data.catalog import DatasetCatalog
from modelward.demo.closing import RETRAIN_NAME
from modelward.demo.dashboard import start_dashboard
from modelward.demo.traffic import serve_and_watch
from modelward.errors import GateFailed, NotFound
from modelward.evaluation.evaluate import evaluate_run_model
from modelward.registry.ports import model_registry
from modelward.store.workspace import open_workspace
from modelward.training.trainer import TrainingResult, train

RAW_NAME = "breast-cancer"
PREP_NAME = "breast-cancer-prep"
TARGET = "target"

PREP_SPEC = """\
# Replayable preprocessing for the breast-cancer demo data.
steps:
  - fill_missing: {columns: [mean radius, mean texture, mean area], strategy: median}
  - filter: "`mean area` > 0"
  - normalize: {columns: [%s], method: zscore}
"""


EXPERIMENT = "demo"
MODEL_NAME = "breast-cancer-clf"
GATE = "f1 >= production.f1"
SEED = 42
CANDIDATES: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("logistic-gd", "logistic", "gd", {"max_epochs": 300}),
    ("logistic-sgd", "logistic", "sgd", {"max_epochs": 30}),
    ("logistic-adam", "logistic", "adam", {"max_epochs": 200}),
    (
        "random-forest",
        "sklearn.ensemble.RandomForestClassifier",
        None,
        {"n_estimators": 100, "random_state": 0},
    ),
]


def _noop(_text: str) -> None:
    return None


def run_demo(
    *,
    progress: Callable[[str], None] = _noop,
    echo: Callable[[str], None] | None = None,
    dashboard: bool = True,
) -> dict[str, Any]:
    """The whole loop on the bundled dataset; returns what was done.

    With `dashboard`, a team server over the demo's home is left running at the end
    (see `modelward.demo.dashboard`), and the report says where and how to stop it.
    """
    from sklearn.datasets import load_breast_cancer

    say = echo or _noop
    workspace = open_workspace()
    catalog = DatasetCatalog(workspace)
    demo_dir = workspace.settings.home / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)

    progress("loading scikit-learn's breast-cancer data")
    bundle = load_breast_cancer(as_frame=True)
    frame = bundle.frame
    csv_path = demo_dir / "breast_cancer.csv"
    frame.to_csv(csv_path, index=False)

    say("1. data: collect, version and profile")
    raw, created = catalog.add_file(csv_path, RAW_NAME, progress=progress)
    say(
        f"   {raw.ref} {'added' if created else 'already stored (same content)'}: "
        f"{raw.n_rows} rows x {len(raw.schema)} columns, sha256 {raw.digest[:12]}"
    )
    radius = next(c for c in raw.profile["columns"] if c["name"] == "mean radius")["numeric"]
    say(
        f"   profile: 'mean radius' mean {radius['mean']:.3f}, std {radius['std']:.3f}, "
        f"p50 {radius['quantiles']['p50']:.3f}; missing values: "
        f"{sum(c['missing'] for c in raw.profile['columns'])}"
    )

    features = [c for c in frame.columns if c != TARGET]
    spec_path = demo_dir / "prep.yaml"
    spec_path.write_text(PREP_SPEC % ", ".join(features), encoding="utf-8")
    say("2. data: preprocess with a fitted, replayable transform")
    prep, created = catalog.transform(raw.ref, spec_path, PREP_NAME, progress=progress)
    fitted_means = prep.transform["steps"][-1] if prep.transform else {}
    say(
        f"   {prep.ref} {'written' if created else 'already stored (same output)'} from "
        f"{prep.parent_ref} with spec {spec_path.name} (sha256 {(prep.spec_digest or '')[:12]})"
    )
    prep_radius = next(c for c in prep.profile["columns"] if c["name"] == "mean radius")
    say(
        f"   after z-score: 'mean radius' mean {prep_radius['numeric']['mean']:+.2e}, "
        f"std {prep_radius['numeric']['std']:.3f}; fitted parameters stored for replay"
    )

    say("3. train: built-in logistic regression (GD, SGD, Adam) and a scikit-learn forest")
    results = [
        train(
            workspace,
            data=prep.ref,
            target=TARGET,
            model=model,
            optimizer=optimizer,
            params=params,
            experiment=EXPERIMENT,
            run_name=label,
            seed=SEED,
            progress=progress,
        )
        for label, model, optimizer, params in CANDIDATES
    ]
    for result in results:
        metrics = result.metrics
        say(
            f"   {result.run_id[:8]}  {_label(result):<16} f1 {metrics['f1']:.4f}  "
            f"accuracy {metrics['accuracy']:.4f}  "
            f"roc_auc {metrics.get('roc_auc', float('nan')):.4f}  ({result.seconds:.2f} s)"
        )
    best = max(results, key=lambda r: (r.metrics["f1"], r.metrics.get("roc_auc", 0.0)))
    say(f"   best by hold-out f1: {_label(best)} (run {best.run_id[:8]})")

    say("4. evaluate: the best model on the whole prepared dataset, with plots")
    plots_dir = demo_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    evaluation = evaluate_run_model(
        workspace, best.run_id, prep.ref, plots_dir=plots_dir, progress=progress
    )
    say(
        f"   evaluation {evaluation.id} on {evaluation.data}: f1 {evaluation.metrics['f1']:.4f}, "
        f"accuracy {evaluation.metrics['accuracy']:.4f}; "
        f"plots: {', '.join(sorted(evaluation.plots))}"
    )

    say("5. register the best model and promote it to production through a gate")
    registry = model_registry(workspace)
    version = registry.register_run(best.run_id, MODEL_NAME, description="mw demo")
    holder = _production(registry)
    if holder is not None and holder.tags.get("pipeline") == RETRAIN_NAME:
        # The last demo's loop retrained production on its drifted traffic: this demo
        # tells the story again from its own model (an audited move, gate not asked).
        registry.set_alias(
            MODEL_NAME, version.version, "production",
            reason="mw demo: the story starts again from the demo's model",
        )  # fmt: skip
        say(
            f"   production held {holder.ref}, which the last demo's loop retrained; the "
            "story starts again from the demo's model:"
        )
        say(f"   {MODEL_NAME}@production -> {version.ref} (from version {holder.version})")
        production = version
    else:
        production = _promote_through_gate(registry, version, say)

    say("6. serve it, send good and bad requests, then normal and drifted traffic")
    raw_frame = catalog.load_frame(raw)
    served = serve_and_watch(
        workspace.settings.home,
        f"{MODEL_NAME}@production",
        raw_frame.drop(columns=[TARGET]),
        raw_frame[TARGET],
        demo_dir,
        say=say,
    )
    exchanges = served["requests"]

    report = {
        "home": str(workspace.settings.home),
        "raw": raw.ref,
        "prepared": prep.ref,
        "lineage": [prep.ref, raw.ref],
        "spec": str(spec_path),
        "fitted_normalize": bool(fitted_means),
        "runs": [{"run_id": r.run_id, "model": _label(r), "metrics": r.metrics} for r in results],
        "best_run": best.run_id,
        "evaluation": evaluation.to_dict(),
        "plots": str(plots_dir),
        "registered": version.ref,
        "production": production.ref,
        "requests": exchanges,
        "monitoring": served["monitoring"],
        "loop": served["monitoring"].get("loop"),
        "dashboard": None,
    }
    if dashboard and workspace.remote is None:
        progress("starting the dashboard")
        started = start_dashboard(workspace, demo_dir)
        report["dashboard"] = started.to_dict()
    say("")
    say("where to look next:")
    say(f"   mw data show {prep.ref}                  profile and lineage")
    say(f"   mw data diff {raw.ref} {prep.ref}  what the transform changed")
    say(f"   mw runs list --experiment {EXPERIMENT} --order-by -metrics.f1")
    say(f"   mw runs compare {' '.join(r.run_id[:8] for r in results)}")
    say(f"   mw runs show {best.run_id[:8]}")
    say(f"   mw models show {MODEL_NAME}                   versions, aliases, audit log")
    say(f"   mw serve {MODEL_NAME}@production          the REST server (docs at /docs)")
    say(f"   mw monitor drift {MODEL_NAME}@production --window 1h --html drift.html")
    say("   mw monitor alerts")
    say(f"   mw pipeline show {demo_dir / 'retrain.yaml'}   the retraining the alert started")
    say(f"   {plots_dir}/  (confusion matrix, ROC curve, learning curve)")
    if report["dashboard"] is not None:
        shown = report["dashboard"]
        say("")
        say(f"the dashboard of this home is running at {shown['url']}")
        say(f"   sign in once (link valid {shown['login_minutes']} minutes): {shown['login_url']}")
        say(f"   stop it with: kill {shown['pid']}   (the next mw demo stops it too)")
    return report


def _production(registry: Any) -> Any:
    try:
        return registry.get(f"{MODEL_NAME}@production")
    except NotFound:
        return None


def _promote_through_gate(registry: Any, version: Any, say: Callable[[str], None]) -> Any:
    try:
        previous, production, checks = registry.set_alias(
            MODEL_NAME, version.version, "production", require=GATE, reason="mw demo"
        )
        for check in checks:
            say(f"   gate {check.describe()}")
        moved = f"from version {previous.version}" if previous else "first production version"
        say(f"   {MODEL_NAME}@production -> {production.ref} ({moved})")
    except GateFailed as refused:
        production = registry.get(f"{MODEL_NAME}@production")
        say(f"   {refused}; production stays {production.ref}")
    return production


def _label(result: TrainingResult) -> str:
    return result.run_name
