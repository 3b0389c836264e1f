"""Server-rendered bar charts: geometry computed here, drawn by templates/_charts.html as SVG
with plain attributes (the CSP allows no inline script or style), each with a title, a
description and the same figures as a text table beside it."""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 640
LABEL_WIDTH = 180  # room for the bar's label on the left
VALUE_WIDTH = 70  # room for the figure on the right
BAR_HEIGHT = 22
GAP = 8
TOP = 8
# Each kind's colour, as an SVG attribute (pages.css may restyle it; print uses grey).
FILLS = {"rung": "#1f5f99", "up": "#1e6b3a", "down": "#9b1c1c", "new": "#6b4fa0"}


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: int
    y: int
    width: int
    height: int
    text_y: int
    kind: str  # the CSS class suffix
    fill: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    width: int
    height: int
    label_x: int
    value_x: int
    bars: list[Bar] = field(default_factory=list)
    empty: str = ""  # said instead of the bars when there is nothing to draw


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    values: list[tuple[str, int, str]],
    empty: str = "",
) -> Chart:
    """A horizontal bar chart of (label, value, kind) rows, scaled to the largest."""
    top = max([v for _, v, _ in values] + [1])
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bars = []
    for i, (label, value, kind) in enumerate(values):
        y = TOP + i * (BAR_HEIGHT + GAP)
        width = round(span * value / top) if value > 0 else 0
        bars.append(
            Bar(
                label,
                value,
                LABEL_WIDTH,
                y,
                max(width, 1 if value else 0),
                BAR_HEIGHT,
                y + BAR_HEIGHT - 6,
                kind,
                FILLS.get(kind, FILLS["rung"]),
            )
        )
    height = TOP * 2 + max(len(values), 1) * (BAR_HEIGHT + GAP)
    return Chart(
        chart_id,
        title,
        description,
        WIDTH,
        height,
        LABEL_WIDTH - 8,
        LABEL_WIDTH + span + 6,
        bars,
        empty,
    )


PERIOD_NAMES = {"7d": "since last week", "30d": "over 30 days"}


def ladder_chart(team: str, rungs: list[dict]) -> Chart:
    """People per rung, from the top rung down."""
    total = sum(r["people"] for r in rungs)
    described = ", ".join(f"{r['rung']} {r['people']:,}" for r in rungs)
    return bar_chart(
        "ladder-chart",
        f"People per rung in {team}",
        f"{total:,} people on the ladder: {described}.",
        [(r["rung"], int(r["people"]), "rung") for r in rungs],
        "No one in this team yet.",
    )


def movement_chart(team: str, movement: list[dict]) -> Chart:
    """Moved up, moved down and arrived, since last week and over 30 days."""
    values = []
    parts = []
    compared = [m for m in movement if m["baseline_at"] is not None]
    for m in compared:
        period = PERIOD_NAMES.get(m["period"], m["period"])
        values += [
            (f"up {period}", int(m["moved_up"]), "up"),
            (f"down {period}", int(m["moved_down"]), "down"),
            (f"new {period}", int(m["arrived"]), "new"),
        ]
        parts.append(
            f"{period}: {m['moved_up']:,} moved up, {m['moved_down']:,} moved down, "
            f"{m['arrived']:,} new"
        )
    description = "; ".join(parts) + "." if parts else "No earlier run to compare with yet."
    return bar_chart(
        "movement-chart",
        f"Movement on the ladder in {team}",
        description,
        values,
        "No earlier run to compare with yet: movement shows once the pipeline has run "
        "a week ago (and 30 days ago).",
    )
