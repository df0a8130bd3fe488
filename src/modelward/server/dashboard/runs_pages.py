"""Run pages: every experiment's runs in a searchable table, one run, runs compared."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from modelward.errors import InvalidInput, NotFound
from modelward.server.dashboard.charts import MAX_POINTS, Series, line_chart, number
from modelward.server.dashboard.rendering import render
from modelward.tracking.entities import Run
from modelward.tracking.repository import RunRepository
from modelward.tracking.search import parse_filter, parse_order_by

PAGE_SIZES = (25, 50, 100, 200)
MAX_COLUMNS = 12  # chosen metric and param columns shown at once
MAX_COMPARED = 10


def _runs(request: Request) -> RunRepository:
    return RunRepository(request.app.state.workspace.db)


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number_ = int(value) if value is not None else default
    except ValueError:
        return default
    return min(max(number_, low), high)


def _columns(text: str, runs: list[Run]) -> list[str]:
    """The chosen columns (`metrics.f1,params.C`), else the keys the shown runs have."""
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    if chosen:
        return [c for c in chosen if c.startswith(("metrics.", "params.", "tags."))][:MAX_COLUMNS]
    metrics = sorted({key for run in runs for key in run.metrics})
    params = sorted({key for run in runs for key in run.params})
    found = [f"metrics.{k}" for k in metrics[:8]] + [f"params.{k}" for k in params[:4]]
    return found[:MAX_COLUMNS]


def cell(run: Run, column: str) -> str:
    """The text of one chosen column of a run ('' when the run has no such key)."""
    kind, _, key = column.partition(".")
    if kind == "metrics":
        value = run.metrics.get(key)
        return "" if value is None else number(value)
    source = run.params if kind == "params" else run.tags
    return source.get(key, "")


async def runs_page(request: Request) -> Response:
    """/runs: the runs of one experiment (or all), filtered, sorted and paged."""
    query = request.query_params
    experiment = query.get("experiment") or None
    filter_text = query.get("filter", "")
    order_text = query.get("order", "")
    size = _int(query.get("size"), 50, 1, max(PAGE_SIZES))
    page = _int(query.get("page"), 1, 1, 1_000_000)
    repository = _runs(request)
    error = None
    try:
        where = parse_filter(filter_text) if filter_text.strip() else None
        order_by = parse_order_by(order_text) if order_text.strip() else []
    except InvalidInput as exc:
        # the table stays what it was without the filter; the message says where it failed
        error, where, order_by = exc.message, None, []
    try:
        found = repository.search(
            where=where,
            order_by=order_by,
            experiment=experiment,
            limit=size + 1,
            offset=(page - 1) * size,
        )
    except NotFound as exc:
        error, experiment = exc.message, None
        found = repository.search(order_by=order_by, limit=size + 1, offset=(page - 1) * size)
    has_next = len(found) > size
    shown = found[:size]
    columns = _columns(query.get("columns", ""), shown)

    def link(**changes: Any) -> str:
        params = {
            "experiment": experiment or "",
            "filter": filter_text,
            "order": order_text,
            "columns": query.get("columns", ""),
            "size": str(size),
            "page": str(page),
        }
        params.update({key: str(value) for key, value in changes.items()})
        return "/runs?" + urlencode({k: v for k, v in params.items() if v})

    def sort_link(column: str) -> str:
        descending = order_text.strip() != f"-{column}"
        return link(order=f"-{column}" if descending else column, page=1)

    return render(
        request,
        "runs.html",
        experiments=repository.experiments(),
        experiment=experiment,
        filter_text=filter_text,
        order_text=order_text,
        columns_text=query.get("columns", ""),
        error=error,
        runs=shown,
        columns=columns,
        cell=cell,
        page=page,
        size=size,
        sizes=PAGE_SIZES,
        previous_link=link(page=page - 1) if page > 1 else None,
        next_link=link(page=page + 1) if has_next else None,
        sort_link=sort_link,
    )


def _history_series(repository: RunRepository, run: Run, key: str) -> Series:
    steps, values = repository.metric_series(run.id, key, max_points=MAX_POINTS)
    return Series(name=key, xs=steps, ys=values)


async def run_page(request: Request) -> Response:
    """/runs/{id}: params, tags, environment, metric charts, artifacts, inputs, models."""
    repository = _runs(request)
    run = repository.get(request.path_params["run_id"])
    charts = [
        line_chart([_history_series(repository, run, key)], title=key)
        for key in sorted(run.metrics)
    ]
    models = request.app.state.models_of_run(run.id)
    return render(request, "run.html", run=run, charts=charts, models=models)


async def compare_page(request: Request) -> Response:
    """/compare?ids=A&ids=B: 2-10 runs side by side, charts overlaid, differences marked."""
    ids = [value for value in request.query_params.getlist("ids") if value.strip()]
    ids = list(dict.fromkeys(ids))
    if not 2 <= len(ids) <= MAX_COMPARED:
        raise InvalidInput(f"compare 2 to {MAX_COMPARED} runs (got {len(ids)}): tick them on /runs")
    repository = _runs(request)
    runs = [repository.get(run_id) for run_id in ids]
    param_keys = sorted({key for run in runs for key in run.params})
    metric_keys = sorted({key for run in runs for key in run.metrics})
    differs = {key for key in param_keys if len({run.params.get(key) for run in runs}) > 1}
    charts = []
    for key in metric_keys:
        series = []
        for run in runs:
            if key in run.metrics:
                steps, values = repository.metric_series(run.id, key, max_points=MAX_POINTS)
                series.append(Series(name=f"{run.name} ({run.id[:8]})", xs=steps, ys=values))
        charts.append(line_chart(series, title=key))
    return render(
        request,
        "compare.html",
        runs=runs,
        param_keys=param_keys,
        metric_keys=metric_keys,
        differs=differs,
        charts=charts,
        number=number,
    )
