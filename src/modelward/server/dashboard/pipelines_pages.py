"""Pipeline pages: the history of pipeline runs, and one run's steps with what each made."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelward.errors import InvalidInput
from modelward.pipelines.history import SqlPipelineHistory
from modelward.pipelines.run_records import MAX_RUNS_LISTED, PipelineRun
from modelward.server.dashboard.rendering import render

PAGE_SIZE = 100


@dataclass(frozen=True)
class Output:
    """One thing a step produced, as the run page shows it: a label, text, maybe a link."""

    label: str
    text: str
    href: str | None = None


def _history(request: Request) -> SqlPipelineHistory:
    return SqlPipelineHistory(request.app.state.workspace.db)


async def pipelines_page(request: Request) -> Response:
    """/pipelines: the newest pipeline runs (of one pipeline with ?pipeline=NAME)."""
    pipeline = request.query_params.get("pipeline") or None
    limit_text = request.query_params.get("limit", str(PAGE_SIZE))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_RUNS_LISTED:
        raise InvalidInput(f"limit must be a number from 1 to {MAX_RUNS_LISTED}", field="limit")
    runs = _history(request).runs(pipeline, limit=int(limit_text))
    return render(
        request, "pipelines.html", runs=runs, pipeline=pipeline, duration=duration, href=href
    )


async def pipeline_run_page(request: Request) -> Response:
    """/pipelines/{run_id}: every step with its key, status, outputs and error."""
    run = _history(request).get(request.path_params["run_id"])
    steps = [(step, outputs_of(step.outputs)) for step in run.steps]
    return render(request, "pipeline_run.html", run=run, steps=steps, duration=duration, href=href)


def href(*parts: str | int) -> str:
    """A dashboard path from its parts, each quoted whole (a '/' in a name stays in it)."""
    return "/" + "/".join(quote(str(part), safe="") for part in parts)


def duration(run: PipelineRun) -> str:
    """How long a run took, short ("", "0.4 s", "2 min 5 s", "1 h 3 min")."""
    seconds = run.seconds
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def outputs_of(outputs: Mapping[str, Any]) -> list[Output]:
    """A step's outputs as rows, linked to the dataset, run and model pages they name."""
    rows: list[Output] = []
    for label, value in outputs.items():
        if label == "dataset" and isinstance(value, str):
            rows.append(Output(label, value, _versioned(value, "datasets", number_too=True)))
        elif label == "model" and isinstance(value, str):
            rows.append(Output(label, value, _versioned(value, "models", number_too=False)))
        elif label in ("best", "run") and isinstance(value, str):
            rows.append(Output(label, value, href("runs", value)))
        elif label == "runs" and isinstance(value, list):
            for index, run_id in enumerate(value):
                shown = f"{label} {index + 1} of {len(value)}"
                if isinstance(run_id, str):
                    rows.append(Output(shown, run_id, href("runs", run_id)))
                else:
                    rows.append(Output(shown, _json(run_id)))
        else:
            rows.append(Output(label, value if isinstance(value, str) else _json(value)))
    return rows


def _versioned(ref: str, section: str, *, number_too: bool) -> str | None:
    """The page of `name@N`: the version's own page where there is one, else the name's."""
    name, at, version = ref.rpartition("@")
    if not at or not name:
        return href(section, ref)
    if number_too and version.isdigit():
        return href(section, name, version)
    return href(section, name)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
