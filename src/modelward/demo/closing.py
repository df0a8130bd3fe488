"""The demo's last stage: the loop closes itself. The drift alert's rule starts the
retraining pipeline (`then: {pipeline: retrain.yaml}`); it trains on the served rows
and their labels, the gate compares it with production on held-out rows, and the
server swaps to what was promoted. The demo prints each step as it is recorded."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RETRAIN_NAME = "breast-cancer-retrain"
RETRAIN_PIPELINE = """\
# Started by the demo server's input-drift alert (see alerts.yaml): retrain on what was
# served and labeled lately, and promote only if it beats production on held-out rows.
name: %(name)s
data: {feedback: %(model)s, window: 1h, name: breast-cancer-served}
holdout: 0.25
transform: {spec: prep.yaml, name: breast-cancer-served-prep}
train:
  target: target
  experiment: demo-retrain
  candidates:
    - {model: logistic, optimizer: adam, param: {max_epochs: 200}}
    - {model: sklearn.ensemble.RandomForestClassifier, param: {n_estimators: 100, random_state: 0}}
  select: -metrics.f1
register: %(model)s
promote: {alias: production, require: "f1 >= production.f1"}
"""


def write_retrain_pipeline(demo_dir: Path, model: str) -> Path:
    """The pipeline the drift rule starts, next to the demo's transform spec."""
    path = demo_dir / "retrain.yaml"
    path.write_text(RETRAIN_PIPELINE % {"name": RETRAIN_NAME, "model": model}, encoding="utf-8")
    return path


def watch_the_loop(
    client: Any,
    model: str,
    started: float,
    say: Callable[[str], None],
    *,
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Follow the pipeline run the alert started, step by step, then the server's swap."""
    from modelward.pipelines.ports import pipeline_history
    from modelward.store.workspace import open_workspace

    history = pipeline_history(open_workspace())
    deadline = time.time() + timeout
    run = None
    while time.time() < deadline:
        found = [
            r
            for r in history.runs(RETRAIN_NAME, limit=5)
            if r.trigger.startswith(f"alert:{model}/") and r.started_at.timestamp() >= started
        ]
        if found:
            run = found[0]
            break
        time.sleep(0.5)
    if run is None:
        say("   the alert started no pipeline within the time allowed")
        return {"pipeline_run": None}
    say(f"   the alert started pipeline {RETRAIN_NAME} (run {run.id[:8]}, {run.trigger})")
    shown = 0
    while time.time() < deadline:
        run = history.get(run.id)
        for step in run.steps[shown:]:
            say(f"   pipeline {step.name:<9} {step.status:<7} {_outputs(step.name, step.outputs)}")
            if step.error:
                say(f"      {step.error}")
        shown = len(run.steps)
        if run.status != "running":
            break
        time.sleep(0.5)
    report: dict[str, Any] = {
        "pipeline_run": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "steps": [{"step": s.name, "status": s.status} for s in run.steps],
        "served_version": None,
    }
    promoted = next((s.outputs for s in run.steps if s.name == "promote"), None)
    if run.status != "succeeded" or not promoted or not promoted.get("promoted"):
        say(f"   pipeline {run.status}: production stays where it was")
        return report
    target = int(promoted["to"])
    report["promoted"] = f"{model}@{target}"
    version = _served_version(client, target, deadline)
    report["served_version"] = version
    if version == target:
        say(f"   the server now answers with {model}@{target}: it followed the alias")
    else:
        say(f"   the server still answers with version {version}")
    return report


def _served_version(client: Any, wanted: int, deadline: float) -> int | None:
    version = None
    while time.time() < deadline:
        answer = client.get("/ready")
        if answer.status_code == 200:
            version = answer.json().get("model", {}).get("version")
            if version == wanted:
                return int(version)
        time.sleep(0.3)
    return int(version) if version is not None else None


def _outputs(step: str, outputs: Any) -> str:
    if step in ("data", "transform"):
        return f"{outputs.get('dataset')} ({outputs.get('rows')} rows)"
    if step == "holdout":
        return f"{outputs.get('fit')} to train on, {outputs.get('holdout')} held out"
    if step == "train":
        runs = outputs.get("runs", [])
        return (
            f"{len(runs)} candidates; best {outputs.get('best_candidate')}: "
            f"{outputs.get('select')} {float(outputs.get('value', 0.0)):.4f}"
        )
    if step == "register":
        return str(outputs.get("model"))
    if step == "promote":
        checks = "; ".join(
            f"{c['check']}: {c['left']:.4f} vs {c['right']:.4f}"
            for c in outputs.get("checks", [])
            if c.get("left") is not None and c.get("right") is not None
        )
        where = f" on {outputs['evaluated_on']}" if outputs.get("evaluated_on") else ""
        if outputs.get("promoted"):
            return f"production -> version {outputs.get('to')} (gate{where}: {checks})"
        return f"not promoted{where}"
    return ""
