"""An OpenAPI document as one readable page, with no script and no CDN.

`/docs` of `mw serve` and `/api/v1/docs` of `mw server`. Swagger UI's usual page
loads its script from a CDN, which fails offline and would run someone else's
script next to a token. This page is written on the server from the document:
every operation with its summary, parameters, body schema and answers; every text
from the document escaped; a stylesheet pinned by its hash in a
Content-Security-Policy that allows nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from typing import Any

from starlette.responses import HTMLResponse

_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_MAX_DEPTH = 6  # nested schemas deeper than this are named, not expanded
_CONSTRAINTS = (
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minItems", "at least {} items"),
    ("maxItems", "at most {} items"),
    ("pattern", "matches {}"),
    ("format", "format {}"),
    ("default", "default {}"),
)

CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 2rem}
h1{margin-bottom:0}h2{border-bottom:1px solid #ccd;margin-top:2.5rem}
section{border:1px solid #dde;border-radius:6px;margin:1rem 0;padding:.25rem 1rem .75rem}
h3{font-size:1.05rem;margin:.75rem 0 .25rem}code{font:13px/1.4 ui-monospace,monospace}
.method{display:inline-block;min-width:4.5rem;font:600 12px ui-monospace,monospace;
border-radius:4px;padding:.1rem .4rem;margin-right:.5rem;text-align:center;background:#e8eaf6}
.get{background:#e3f2fd}.post{background:#e8f5e9}.put{background:#fff8e1}
.delete{background:#ffebee}table{border-collapse:collapse;width:100%}
td,th{border-top:1px solid #eee;padding:.3rem .5rem;text-align:left;vertical-align:top}
.muted{color:#5f6b73}ul.schema{margin:.25rem 0;padding-left:1.25rem}
nav li{margin:.15rem 0}
""".strip()
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def docs_response(page: str) -> HTMLResponse:
    """A page of `render`, with headers that allow it nothing but its stylesheet."""
    return HTMLResponse(page, headers=HEADERS)


def render(document: dict[str, Any]) -> str:
    """The whole page (every text from `document` escaped)."""
    info = document.get("info", {})
    base = (document.get("servers") or [{}])[0].get("url", "")
    operations = list(_operations(document))
    tags = sorted({tag for _, _, op in operations for tag in op.get("tags") or ["other"]})
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_e(info.get('title', 'API'))} API</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(info.get('title', 'API'))} API</h1>",
        f'<p class="muted">version {_e(info.get("version", ""))} · '
        f'<a href="openapi.json">openapi.json</a></p>',
        f"<p>{_e(info.get('summary') or info.get('description') or '')}</p>",
        "<p>Every operation needs a token: <code>Authorization: Bearer &lt;token&gt;</code>. "
        "A <em>reader</em> may read, a <em>writer</em> also write, an <em>admin</em> also "
        "delete, move protected aliases and manage tokens. Errors are JSON: "
        '<code>{"error": {"type", "message", "field"}}</code>.</p>',
        "<nav><ul>",
    ]
    for method, path, operation in operations:
        parts.append(
            f'<li><a href="#{_anchor(method, path)}"><code>{_e(method.upper())} '
            f"{_e(base + path)}</code></a> {_e(operation.get('summary', ''))}</li>"
        )
    parts.append("</ul></nav>")
    for tag in tags:
        parts.append(f"<h2>{_e(tag)}</h2>")
        for method, path, operation in operations:
            if tag in (operation.get("tags") or ["other"]):
                parts.append(_operation(document, method, base, path, operation))
    parts.append("</body></html>")
    return "".join(parts)


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in sorted(document.get("paths", {}).items()):
        for method in _METHODS:
            if isinstance(item.get(method), dict):
                found.append((method, path, item[method]))
    return found


def _operation(
    document: dict[str, Any], method: str, base: str, path: str, op: dict[str, Any]
) -> str:
    parts = [
        f'<section id="{_anchor(method, path)}">',
        f'<h3><span class="method {_e(method)}">{_e(method.upper())}</span>'
        f"<code>{_e(base + path)}</code></h3>",
        f"<p>{_e(op.get('summary', ''))}</p>",
    ]
    if op.get("description"):
        parts.append(f'<p class="muted">{_e(op["description"])}</p>')
    parameters = op.get("parameters") or []
    if parameters:
        parts.append("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>schema</th></tr>")
        for parameter in parameters:
            parameter = _resolve(document, parameter)
            required = " <em>required</em>" if parameter.get("required") else ""
            about = parameter.get("description")
            parts.append(
                f"<tr><td><code>{_e(parameter.get('name', ''))}</code>{required}</td>"
                f"<td>{_e(parameter.get('in', ''))}</td>"
                f"<td>{_schema(document, parameter.get('schema', {}), 0, ())}"
                f"{f'<div class=muted>{_e(about)}</div>' if about else ''}</td></tr>"
            )
        parts.append("</table>")
    body = op.get("requestBody")
    if isinstance(body, dict):
        body = _resolve(document, body)
        required = " (required)" if body.get("required") else ""
        for media, content in (body.get("content") or {}).items():
            parts.append(f"<h4>Body{required}: <code>{_e(media)}</code></h4>")
            parts.append(_schema(document, content.get("schema", {}), 0, ()))
    responses = op.get("responses") or {}
    if responses:
        parts.append("<h4>Answers</h4><table>")
        for status, answer in sorted(responses.items()):
            answer = _resolve(document, answer)
            schemas = [c.get("schema") for c in (answer.get("content") or {}).values()]
            shown = (
                f' <em class="muted">{_e(_type(document, schemas[0]))}</em>'
                if schemas and isinstance(schemas[0], dict)
                else ""
            )
            parts.append(
                f"<tr><td><code>{_e(status)}</code></td>"
                f"<td>{_e(answer.get('description', ''))}{shown}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</section>")
    return "".join(parts)


def _schema(document: dict[str, Any], schema: Any, depth: int, seen: tuple[str, ...]) -> str:
    """A schema as nested lists: types, constraints, descriptions, fields."""
    if not isinstance(schema, dict):
        return ""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or depth >= _MAX_DEPTH:
            return f" <code>{_e(name)}</code>"
        return f" <code>{_e(name)}</code>" + _schema(
            document, _resolve(document, schema), depth, (*seen, name)
        )
    parts = [f" <em>{_e(_type(document, schema))}</em>"]
    notes = [text.format(_e(_value(schema[key]))) for key, text in _CONSTRAINTS if key in schema]
    if "enum" in schema:
        notes.append("one of " + ", ".join(_e(_value(v)) for v in schema["enum"]))
    if schema.get("additionalProperties") is False:
        notes.append("no other fields")
    if notes:
        parts.append(f' <span class="muted">({"; ".join(notes)})</span>')
    if schema.get("description"):
        parts.append(f" — {_e(schema['description'])}")
    children: list[str] = []
    required = set(schema.get("required") or [])
    for name, field in (schema.get("properties") or {}).items():
        mark = " <em>required</em>" if name in required else ""
        inner = _schema(document, field, depth + 1, seen) if depth < _MAX_DEPTH else ""
        children.append(f"<li><code>{_e(name)}</code>{mark}{inner}</li>")
    items = schema.get("items")
    if isinstance(items, dict) and depth < _MAX_DEPTH:
        children.append(f"<li>items:{_schema(document, items, depth + 1, seen)}</li>")
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key) or []:
            if isinstance(option, dict) and (option.get("properties") or "$ref" in option):
                children.append(f"<li>{_schema(document, option, depth + 1, seen)}</li>")
    if children:
        parts.append(f'<ul class="schema">{"".join(children)}</ul>')
    return "".join(parts)


def _type(document: dict[str, Any], schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {_type(document, schema['items'])}"
    if kind:
        return str(kind)
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return " | ".join(_type(document, o) for o in schema[key] if isinstance(o, dict))
    if "const" in schema:
        return f"= {_value(schema['const'])}"
    return "any"


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or what its local `$ref` points at (else an empty schema)."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: Any = document
    for part in ref.removeprefix("#/").split("/") if ref.startswith("#/") else [None]:
        target = target.get(part) if isinstance(target, dict) and part is not None else None
    return target if isinstance(target, dict) else {}


def _anchor(method: str, path: str) -> str:
    return f"{method}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", path).strip("-")


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
