"""MLflow's experiment endpoints over modelward's experiments: create, get, search.

An MLflow experiment is a modelward experiment (`default` is MLflow's Default, id
"0"). The server decides where artifacts go, so a client's `artifact_location` is
refused; experiment tags are not stored, so they are refused too, never dropped.
"""

from __future__ import annotations

from typing import Any

from modelward.errors import AlreadyExists, InvalidInput, NotFound
from modelward.refs import validate_name
from modelward.server.mlflow import convert, filters
from modelward.server.mlflow.calls import Call
from modelward.server.mlflow.fields import max_results, page_offset, page_token
from modelward.server.mlflow.tracking import experiment_of, repository, view_type

MAX_EXPERIMENTS_PER_PAGE = 50_000


def create_experiment(call: Call) -> dict[str, Any]:
    """POST experiments/create: a new experiment (the server chooses where artifacts go)."""
    fields = call.fields
    name = validate_name(fields.required_text("name"), "experiment name")
    if fields.text("artifact_location"):
        raise InvalidInput(
            "artifact_location cannot be chosen: this server keeps every artifact in its own "
            "store (leave it out)",
            field="artifact_location",
        )
    if fields.objects("tags"):
        raise InvalidInput("experiment tags are not stored by this server: leave them out")
    try:
        experiment = repository(call).create_experiment(name)
    except AlreadyExists:
        raise AlreadyExists(f"Experiment {name!r} already exists.") from None
    return {"experiment_id": convert.experiment_id(experiment)}


def get_experiment(call: Call) -> dict[str, Any]:
    """GET experiments/get."""
    identifier = call.fields.required_text("experiment_id")
    return {"experiment": convert.experiment_json(experiment_of(repository(call), identifier))}


def get_experiment_by_name(call: Call) -> dict[str, Any]:
    """GET experiments/get-by-name."""
    name = call.fields.required_text("experiment_name")
    try:
        experiment = repository(call).experiment(name)
    except NotFound:
        raise NotFound(f"Could not find experiment with name {name!r}") from None
    return {"experiment": convert.experiment_json(experiment)}


_EXPERIMENT_ATTRIBUTES = {
    "name": "text",
    "experiment_id": "text",
    "creation_time": "number",
    "last_update_time": "number",
    "lifecycle_stage": "text",
}


def search_experiments(call: Call) -> dict[str, Any]:
    """POST experiments/search (a read): filter on name and times, order, pages."""
    fields = call.fields
    limit = max_results(fields, default=1000, limit=MAX_EXPERIMENTS_PER_PAGE)
    offset = page_offset(fields.text("page_token"))
    source = fields.text("filter") or ""
    clauses = filters.checked(
        filters.parse_clauses(source), _EXPERIMENT_ATTRIBUTES, tags=True, source=source
    )
    view = view_type(fields)
    found = [] if view == "DELETED_ONLY" else repository(call).experiments()
    messages = [convert.experiment_json(experiment) for experiment in found]

    def value_of(message: dict[str, Any]) -> Any:
        return lambda clause: None if clause.kind == "tag" else message.get(clause.key)

    messages = [m for m in messages if filters.matches(clauses, value_of(m))]
    orders = fields.texts("order_by") or ["last_update_time DESC"]
    for order in reversed(orders):  # stable sorts, last key first
        key, descending = _order_key(
            order, ("name", "experiment_id", "creation_time", "last_update_time")
        )
        numeric = key == "experiment_id"
        messages.sort(key=lambda m: int(m[key]) if numeric else m[key], reverse=descending)
    page = messages[offset : offset + limit]
    answer: dict[str, Any] = {"experiments": page}
    if offset + limit < len(messages):
        answer["next_page_token"] = page_token(offset + limit)
    return answer


def _order_key(text: str, allowed: tuple[str, ...]) -> tuple[str, bool]:
    words = text.split()
    descending = len(words) == 2 and words[1].lower() == "desc"
    if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
        raise InvalidInput(f"Invalid order_by clause {text!r}: could not be parsed")
    key = words[0].removeprefix("attributes.").removeprefix("attribute.").strip("`")
    if key not in allowed:
        raise InvalidInput(f"Invalid order_by key {key!r}: use one of {', '.join(allowed)}")
    return key, descending
