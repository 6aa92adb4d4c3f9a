"""Bar charts drawn on the server as inline SVG: no chart library, no script, nothing to load.

One chart is a list of (label, requests, cost) bars, drawn horizontally (long labels such as
member or model names stay readable on a phone). Each bar carries its numbers as text beside it
and in ``data-*`` attributes, so a screen reader, a test and a person read the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vaultgate.console.html import Html, esc, join
from vaultgate.services.usage import usd_text

_ROW = 28
_LABEL_W = 170
_BAR_W = 330
_WIDTH = 640


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: what it counts (a day, a member...), its requests and their cost in USD."""

    label: str
    requests: int
    cost_usd: float


def money(value: float) -> str:
    """A cost as people read it: cents for sums, every digit that counts for the tiny costs of single requests."""
    return f"${value:,.2f}" if value >= 1 else f"${usd_text(value)}"


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar]) -> Html:
    """An SVG bar chart of requests per label, each bar annotated with its count and cost."""
    if not bars:
        return Html(
            f'<figure class="chart"><figcaption>{esc(title)}</figcaption>'
            '<p class="empty">No requests in this period.</p></figure>'
        )
    top = max(bar.requests for bar in bars) or 1
    height = _ROW * len(bars) + 8
    rows = []
    for index, bar in enumerate(bars):
        y = 4 + index * _ROW
        width = max(2, round(_BAR_W * bar.requests / top))
        label = bar.label if len(bar.label) <= 24 else bar.label[:23] + "…"
        rows.append(
            Html(
                f'<g class="bar" data-label="{esc(bar.label)}" data-requests="{bar.requests}" '
                f'data-cost="{bar.cost_usd:.9f}">'
                f"<title>{esc(bar.label)}: {bar.requests} requests, {esc(money(bar.cost_usd))}</title>"
                f'<text x="{_LABEL_W - 8}" y="{y + 18}" text-anchor="end">{esc(label)}</text>'
                f'<rect x="{_LABEL_W}" y="{y + 4}" width="{width}" height="{_ROW - 8}" rx="2"></rect>'
                f'<text x="{_LABEL_W + width + 6}" y="{y + 18}" class="value">'
                f"{bar.requests} · {esc(money(bar.cost_usd))}</text></g>"
            )
        )
    return Html(
        f'<figure class="chart"><figcaption id="{esc(chart_id)}-title">{esc(title)}</figcaption>'
        f'<svg id="{esc(chart_id)}" role="img" aria-labelledby="{esc(chart_id)}-title" '
        f'viewBox="0 0 {_WIDTH} {height}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"{join(rows)}</svg></figure>"
    )
