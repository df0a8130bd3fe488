"""Dataset pages: every dataset, one dataset's versions, a version's profile and lineage,
and the diff of two versions."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from modelward.data.entities import DatasetVersion
from modelward.data.repository import DatasetRepository
from modelward.errors import InvalidInput
from modelward.monitoring.ports import local_prediction_log
from modelward.registry.repository import ModelRepository
from modelward.server.dashboard.charts import bar_chart, number
from modelward.server.dashboard.graph import Node, lineage_svg
from modelward.server.dashboard.rendering import render
from modelward.tracking.repository import RunRepository

if TYPE_CHECKING:
    from modelward.data.catalog import DatasetCatalog


def _catalog(request: Request) -> DatasetCatalog:
    # pyarrow and numpy come with the catalog: imported on the first dataset page, not
    # on the server's start path
    from modelward.data.catalog import DatasetCatalog

    return DatasetCatalog(request.app.state.workspace)


def _href(version: DatasetVersion) -> str:
    return f"/datasets/{quote(version.name)}/{version.version}"


async def datasets_page(request: Request) -> Response:
    """/datasets: every dataset with its newest version."""
    return render(request, "datasets.html", summaries=_catalog(request).summaries())


async def dataset_page(request: Request) -> Response:
    """/datasets/{name}: its versions (size, rows, digest, who, when), a diff form."""
    name = request.path_params["name"]
    versions = _catalog(request).versions(name)
    return render(request, "dataset.html", name=name, versions=versions)


def column_chart(column: dict[str, Any]) -> Any:
    """A histogram for a numeric column, the top values for a categorical one."""
    numeric = column.get("numeric") or {}
    histogram = numeric.get("histogram") if isinstance(numeric, dict) else None
    if histogram and histogram.get("counts"):
        edges = histogram["edges"]
        labels = [f"{number(edges[i])} to {number(edges[i + 1])}" for i in range(len(edges) - 1)]
        return bar_chart(labels, histogram["counts"], title=f"{column['name']} (histogram)")
    categorical = column.get("categorical") or {}
    top = categorical.get("top") if isinstance(categorical, dict) else None
    if top:
        return bar_chart(
            [str(value) for value, _count in top],
            [count for _value, count in top],
            title=f"{column['name']} (top values)",
        )
    return None


def lineage_of(request: Request, version: DatasetVersion) -> Any:
    """The graph from the raw version through transforms to runs, model versions and the
    predictions each served version made."""
    workspace = request.app.state.workspace
    catalog = _catalog(request)
    runs = RunRepository(workspace.db)
    children = DatasetRepository(workspace.db)  # the server's own store
    models = ModelRepository(workspace.db)
    predictions = local_prediction_log(workspace)
    served_counts = lru_cache(maxsize=None)(predictions.requests_per_version)
    chain = list(reversed([version, *catalog.lineage(version)]))  # raw first
    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(node: Node) -> None:
        if node.key not in seen:
            seen.add(node.key)
            nodes.append(node)

    for depth, item in enumerate(chain):
        add(Node(f"d{item.id}", item.ref, "dataset", depth, _href(item), item.id == version.id))
        if depth:
            edges.append((f"d{chain[depth - 1].id}", f"d{item.id}"))
    frontier = [(version, len(chain) - 1)]
    data_versions = list(chain)
    while frontier:  # the versions made from this one, at any depth
        parent, depth = frontier.pop(0)
        for child in children.children(parent.id):
            add(Node(f"d{child.id}", child.ref, "dataset", depth + 1, _href(child)))
            edges.append((f"d{parent.id}", f"d{child.id}"))
            data_versions.append(child)
            frontier.append((child, depth + 1))
    data_layers = max((n.layer for n in nodes), default=0) + 1
    for item in data_versions:
        for run_id, run_name, role in runs.readers_of(item.id):
            add(Node(f"r{run_id}", f"{run_name} ({role})", "run", data_layers, f"/runs/{run_id}"))
            edges.append((f"d{item.id}", f"r{run_id}"))
        for model in models.versions_trained_on(item.id):
            source = f"r{model.run_id}" if model.run_id else f"d{item.id}"
            add(
                Node(
                    f"m{model.id}",
                    model.ref,
                    "model",
                    data_layers + 1,
                    f"/models/{quote(model.name)}",
                )
            )
            edges.append((source, f"m{model.id}"))
            served = served_counts(model.name).get(model.version)
            if served:
                add(
                    Node(
                        f"p{model.id}",
                        f"{served:,} predictions",
                        "predictions",
                        data_layers + 2,
                        f"/monitoring/{quote(model.name)}",
                    )
                )
                edges.append((f"m{model.id}", f"p{model.id}"))
    return lineage_svg(nodes, edges)


async def version_page(request: Request) -> Response:
    """/datasets/{name}/{version}: schema, profile with a chart per column, lineage."""
    name = request.path_params["name"]
    number_text = request.path_params["version"]
    if not number_text.isdigit():
        raise InvalidInput(f"dataset versions are numbers, not {number_text!r}")
    version = _catalog(request).get(f"{name}@{int(number_text)}")
    columns = version.profile.get("columns", [])
    charts = {column["name"]: column_chart(column) for column in columns}
    return render(
        request,
        "dataset_version.html",
        version=version,
        columns=columns,
        charts=charts,
        lineage=lineage_of(request, version),
        number=number,
    )


async def diff_page(request: Request) -> Response:
    """/datasets/diff?a=name@1&b=name@2: schema, rows and statistics that changed."""
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    if not a or not b:
        raise InvalidInput("choose two versions to compare: /datasets/diff?a=NAME@1&b=NAME@2")
    catalog = _catalog(request)
    first, second = catalog.get(a), catalog.get(b)
    diff = catalog.diff(first.ref, second.ref).to_dict()
    return render(request, "dataset_diff.html", first=first, second=second, diff=diff)
