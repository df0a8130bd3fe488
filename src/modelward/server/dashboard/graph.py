"""A lineage graph as inline SVG: columns of boxes (data -> runs -> models -> predictions),
arrows between.

Nodes are placed in their layer's column, top to bottom in the order given; each
box links to its page. Text is escaped like every chart's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _PAD = 190, 34, 70, 14, 10
_FILL = {
    "dataset": "#e8f1fd",
    "run": "#fdf3e3",
    "model": "#e9f7ec",
    "predictions": "#f3ecfb",
    "current": "#ffe9a8",
}


@dataclass(frozen=True)
class Node:
    """A box: a dataset version, a run, a model version or a served version's predictions."""

    key: str
    label: str
    kind: str  # dataset | run | model | predictions
    layer: int
    href: str
    current: bool = False


def lineage_svg(nodes: Sequence[Node], edges: Sequence[tuple[str, str]]) -> Markup:
    """The graph of `nodes` with an arrow for each (from key, to key) edge."""
    layers: dict[int, list[Node]] = {}
    for node in nodes:
        layers.setdefault(node.layer, []).append(node)
    order = sorted(layers)
    where: dict[str, tuple[float, float]] = {}
    for column, layer in enumerate(order):
        for row, node in enumerate(layers[layer]):
            where[node.key] = (_PAD + column * (_BOX_W + _GAP_X), _PAD + row * (_BOX_H + _GAP_Y))
    tallest = max((len(v) for v in layers.values()), default=1)
    width = int(2 * _PAD + len(order) * _BOX_W + max(len(order) - 1, 0) * _GAP_X)
    height = int(2 * _PAD + tallest * (_BOX_H + _GAP_Y))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart lineage" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'data-nodes="{len(nodes)}" data-edges="{len(edges)}">',
        "<title>lineage</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#888"/></marker></defs>',
    ]
    for start, end in edges:
        if start not in where or end not in where:
            continue
        (x1, y1), (x2, y2) = where[start], where[end]
        parts.append(
            f'<line x1="{x1 + _BOX_W:.0f}" y1="{y1 + _BOX_H / 2:.0f}" x2="{x2:.0f}" '
            f'y2="{y2 + _BOX_H / 2:.0f}" stroke="#888" marker-end="url(#arrow)"/>'
        )
    for node in nodes:
        x, y = where[node.key]
        fill = _FILL["current"] if node.current else _FILL.get(node.kind, "#eee")
        label = node.label if len(node.label) <= 26 else node.label[:25] + "…"
        parts.append(
            f'<a href="{escape(node.href)}"><rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" '
            f'height="{_BOX_H}" rx="5" fill="{fill}" stroke="#999"/>'
            f'<text x="{x + 8:.0f}" y="{y + 14:.0f}" font-size="10" fill="#666">'
            f"{escape(node.kind)}</text>"
            f'<text x="{x + 8:.0f}" y="{y + 27:.0f}" font-size="12">{escape(label)}'
            f"<title>{escape(node.label)}</title></text></a>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
