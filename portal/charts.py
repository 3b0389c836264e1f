"""Server-rendered bar charts: geometry computed here, drawn by templates/_charts.html as SVG
with plain attributes (the CSP allows no inline script or style), each with a title, a
description and the same figures as a text table beside it."""

from __future__ import annotations

import math
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


# -------------------------------------------------------------------- which asks work
# A list's conversion rate beside the same rate for people of the same rung who were not on
# it: a narrower chart whose bars take the width (labels above each pair), so it stays
# readable when a phone shrinks it.
CONVERSION_PERIODS = {"90d": 90, "30d": 30}
PAIR_WIDTH = 360
PAIR_LABEL_WIDTH = 80  # "this list" / "same rung" left of each bar
PAIR_VALUE_WIDTH = 92  # room for "100% so far" after the longest bar
PAIR_BAR_HEIGHT = 18
PAIR_GROUP_HEIGHT = 74  # the list's name, two bars and the gap to the next list
PAIR_STEP = 0.25  # the scale ends at the next quarter above the highest rate: 25%, 50%...
FILLS.update({"ask": "#1f5f99", "baseline": "#6b7480"})


@dataclass(frozen=True)
class PairBar:
    label: str
    text: str  # the figure as shown, e.g. "32%" or "nobody joined"
    y: int
    width: int
    text_y: int
    kind: str
    fill: str


@dataclass(frozen=True)
class BarPair:
    heading: str
    heading_y: int
    bars: list[PairBar]


@dataclass(frozen=True)
class PairChart:
    id: str
    title: str
    description: str
    width: int
    height: int
    bar_x: int
    label_x: int
    bar_height: int
    groups: list[BarPair] = field(default_factory=list)
    empty: str = ""


def percent(rate: float | None) -> str:
    """A rate as a whole percentage ("32%"; "<1%" for a rate above 0 that rounds to 0)."""
    if rate is None:
        return ""
    if 0 < rate < 0.005:
        return "<1%"
    return f"{rate * 100:.0f}%"


def days_text(days: float | None) -> str:
    if days is None:
        return ""
    shown = f"{days:.1f}".removesuffix(".0")
    return f"{shown} day" if shown == "1" else f"{shown} days"


NOT_MEASURED = "not measured"


def _rate_texts(rate: float | None, people: int, nobody: str) -> tuple[str, str]:
    """A rate's (short, with its base) texts: `nobody` when no one was counted, "not
    measured" when people were but the list has no success rule (the rate is NULL)."""
    if people == 0:
        return nobody, nobody
    if rate is None:
        return NOT_MEASURED, NOT_MEASURED
    return percent(rate), f"{percent(rate)} of {people:,}"


def conversion_rows(rows: list[dict], period: str) -> list[dict]:
    """The ask_conversion rows with their figures as the table shows them."""
    days = CONVERSION_PERIODS.get(period, period)
    shown = []
    for row in rows:
        entered, in_window = int(row["entered"] or 0), int(row["in_window"] or 0)
        rate, _ = _rate_texts(row["conversion_rate"], entered, "nobody joined")
        baseline_short, baseline_text = _rate_texts(
            row["baseline_rate"], int(row["baseline_people"] or 0), "nobody to compare"
        )
        if entered == 0:
            note = f"Nobody joined this list in the last {days} days."
        elif row["conversion_rate"] is None:
            note = "Not measured: this list has no success rule yet (HQ sets it in ladder.yaml)."
        elif in_window:
            note = (
                f"{in_window:,} of them joined too recently for the list's window to have "
                "ended: the rate may still rise."
            )
        else:
            note = ""
        measured = entered > 0 and row["conversion_rate"] is not None
        shown.append(
            {
                **row,
                "rate_text": rate,
                # "so far": some entries' windows are still open (the note says so).
                "rate_short": rate + (" so far" if measured and in_window else ""),
                "median_text": days_text(row["median_days_to_success"])
                or ("nobody yet" if measured else ""),
                "baseline_text": baseline_text,
                "baseline_short": baseline_short,
                "note": note,
            }
        )
    return shown


def conversion_chart(chart_id: str, scope: str, rows: list[dict], period: str) -> PairChart:
    """Per list, its conversion rate and the same-rung rate, as bars on one scale from 0 to
    the next quarter above the highest rate (rows from `conversion_rows`)."""
    days = CONVERSION_PERIODS.get(period, period)
    span = PAIR_WIDTH - PAIR_LABEL_WIDTH - PAIR_VALUE_WIDTH
    highest = max(
        [r["conversion_rate"] or 0.0 for r in rows if r["entered"]]
        + [r["baseline_rate"] or 0.0 for r in rows if r["baseline_people"]]
        + [0.0]
    )
    scale = min(max(math.ceil(highest / PAIR_STEP - 1e-9), 1) * PAIR_STEP, 1.0)
    groups, parts = [], []
    for i, row in enumerate(rows):
        top = TOP + i * PAIR_GROUP_HEIGHT
        bars = []
        figures = [
            (
                "this list",
                row["conversion_rate"] if row["entered"] else None,
                row["rate_short"],
                "ask",
            ),
            (
                "same rung",
                row["baseline_rate"] if row["baseline_people"] else None,
                row["baseline_short"],
                "baseline",
            ),
        ]
        for j, (label, rate, text, kind) in enumerate(figures):
            y = top + 22 + j * (PAIR_BAR_HEIGHT + 5)
            width = round(span * min(max(rate or 0.0, 0.0), scale) / scale)
            bars.append(
                PairBar(
                    label,
                    text,
                    y,
                    max(width, 1 if rate else 0),
                    y + PAIR_BAR_HEIGHT - 4,
                    kind,
                    FILLS[kind],
                )
            )
        groups.append(BarPair(row["list_name"], top + 15, bars))
        if row["entered"] and row["conversion_rate"] is None:
            parts.append(f"{row['list_name']}: not measured (no success rule).")
        elif row["entered"]:
            parts.append(
                f"{row['list_name']}: {row['rate_text']} of the {int(row['entered']):,} who "
                f"joined did it; same rung, not on the list: {row['baseline_text']}."
            )
        else:
            parts.append(f"{row['list_name']}: nobody joined.")
    description = " ".join(parts)
    return PairChart(
        chart_id,
        f"Which asks work in {scope}, people who joined in the last {days} days",
        description,
        PAIR_WIDTH,
        TOP * 2 + max(len(rows), 1) * PAIR_GROUP_HEIGHT - 8,
        PAIR_LABEL_WIDTH,
        PAIR_LABEL_WIDTH - 6,
        PAIR_BAR_HEIGHT,
        groups,
        "No figures yet: they appear after a pipeline run has measured the lists.",
    )
