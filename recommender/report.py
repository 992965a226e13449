"""Render one run's results to bytes and text: the CSVs, roadmap.md, a self-contained report.html, run.json.

Pure: nothing here reads or writes a file, prints, or talks to MLflow. The same input gives the same
bytes (no clock, no random ids, fixed number formats). Text from the data is made safe for where it
lands: formula-neutralised in CSV cells, ``|``/newline-escaped in Markdown, HTML-escaped in the page
and its inline SVG (every element is built by :func:`_el`, which escapes whatever is not markup).
"""

import html
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd

from features.maps import CHANNEL_TEAMS
from recommender.contract import (
    ESTIMATE_COLUMNS,
    PAIN_POINTS_COLUMNS,
    ROADMAP_COLUMNS,
    STAGE_METRICS_COLUMNS,
    STAGES,
    require_columns,
)
from recommender.results import Diagnosis, Plan

ROADMAP_EXTRA_COLUMNS: tuple[str, ...] = ("period", "evidence", "evidence_accounts")
CANDIDATE_COLUMNS: tuple[str, ...] = (
    "id", "title", "stage", "team", "effort", *ESTIMATE_COLUMNS, "evidence", "evidence_accounts", "selected",
    "diagnosis",
)
FRONTIER_COLUMNS: tuple[str, ...] = ("budget", "full_value")
TOP_PAIN_POINTS = 10
NO_SENTIMENT = "no sentiment in this export"
NO_FRONTIER = "no budget on the frontier can fund the required items"
_CHART_WIDTH = 1180  # the page's content width (body max-width in _CSS): charts are drawn 1:1 there
_CHAR_WIDTH = 7.0  # px, a generous mean width of a 12px chart character: how much label fits a box
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula
_MISSING = "–"  # shown for an empty number


# --- CSV ------------------------------------------------------------------------------------------

def render_csv(frame: pd.DataFrame) -> bytes:
    """One table as CSV a spreadsheet can open safely and a diff can compare.

    UTF-8, a header, no index, ``\\n`` line ends. Floats are written with at most 6 decimals, integers
    (also nullable ``Int64``) plainly, booleans as ``true``/``false``, tuples of ids joined by ``;``
    and missing values as empty cells. A text cell (never a number) that a spreadsheet would run as a
    formula -- it starts with ``= + - @``, a tab or a carriage return -- gets a leading ``'``.

    Returns
    -------
    bytes
        One line per row of ``frame`` after the header of its column names, in the frame's order.
    """
    header = [_csv_text(str(name)) for name in frame.columns]
    rows = zip(*(frame[name].map(_csv_cell) for name in frame.columns))
    return "".join(",".join(map(_csv_field, row)) + "\n" for row in [header, *rows]).encode("utf-8")


def _csv_field(text: str) -> str:
    """RFC 4180 quoting, also of a lone carriage return (the csv module leaves it bare with ``\\n`` line ends)."""
    return '"' + text.replace('"', '""') + '"' if any(char in text for char in ',"\r\n') else text


def _csv_cell(value: object) -> str:
    if isinstance(value, tuple | list):
        return _csv_text(";".join(map(str, value)))
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, Real) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        text = f"{float(value):.6f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(float(value))
        return "0" if text == "-0" else text
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return _csv_text(str(value))


def _csv_text(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


# --- public renderers -----------------------------------------------------------------------------

def render_diagnosis(diagnosis: Diagnosis) -> dict[str, bytes]:
    """The ``diagnose`` command's files: the two stage CSVs and a diagnosis-only ``report.html``."""
    return {**_diagnosis_tables(diagnosis), "report.html": _html_page(diagnosis, None)}


def _diagnosis_tables(diagnosis: Diagnosis) -> dict[str, bytes]:
    require_columns(diagnosis.stage_metrics, STAGE_METRICS_COLUMNS, table="stage_metrics")
    require_columns(diagnosis.pain_points, PAIN_POINTS_COLUMNS, table="pain_points")
    return {
        "stage_metrics.csv": render_csv(diagnosis.stage_metrics[list(STAGE_METRICS_COLUMNS)]),
        "pain_points.csv": render_csv(diagnosis.pain_points[list(PAIN_POINTS_COLUMNS)]),
    }


def render_outputs(plan: Plan) -> dict[str, bytes]:
    """The ``roadmap`` command's files, all but ``run.json``.

    ``candidates.csv`` keeps every candidate column in the frame's order; ``roadmap.csv`` is the
    contract's ROADMAP_COLUMNS then ``period, evidence, evidence_accounts``; ``frontier.csv`` is
    there only when the plan has a budget frontier.
    """
    require_columns(plan.candidates, CANDIDATE_COLUMNS, table="candidates")
    require_columns(plan.roadmap, (*ROADMAP_COLUMNS, *ROADMAP_EXTRA_COLUMNS), table="roadmap")
    files = {
        **_diagnosis_tables(plan.diagnosis),
        "candidates.csv": render_csv(plan.candidates),
        "roadmap.csv": render_csv(plan.roadmap[[*ROADMAP_COLUMNS, *ROADMAP_EXTRA_COLUMNS]]),
        "roadmap.md": _markdown(plan).encode("utf-8"),
        "report.html": _html_page(plan.diagnosis, plan),
    }
    if plan.frontier is not None:
        require_columns(plan.frontier, FRONTIER_COLUMNS, table="frontier")
        files["frontier.csv"] = render_csv(plan.frontier)
    if plan.calibration is not None:
        files["calibration.csv"] = render_csv(plan.calibration)
    return files


def render_run_json(
    plan_or_diagnosis: Plan | Diagnosis,
    *,
    parameters: Mapping[str, object],
    versions: Mapping[str, str],
    run_id: str | None,
    started_at: str,
) -> bytes:
    """``run.json``: what the run read, was told and used, so a result can be traced and repeated.

    Sorted keys, indent 2, a trailing newline; NaN and infinities become ``null``. A diagnosis-only
    run has the ``diagnosis`` summary but no ``inputs``, ``solver``, ``model_quality``, totals.
    """
    diagnosis = plan_or_diagnosis.diagnosis if isinstance(plan_or_diagnosis, Plan) else plan_or_diagnosis
    record: dict[str, object] = {
        "parameters": parameters,
        "versions": versions,
        "mlflow_run_id": run_id,
        "started_at": started_at,
        "diagnosis": {
            "accounts": diagnosis.accounts, "events": diagnosis.events,
            "export_time": diagnosis.export_time, "covered": diagnosis.covered,
            "target_stage": diagnosis.target_stage, "objective": diagnosis.objective,
        },
    }
    if isinstance(plan_or_diagnosis, Plan):
        plan = plan_or_diagnosis
        expected, low, high = plan.total_uplift
        record |= {
            "inputs": plan.inputs,
            "solver": plan.solver,
            "model_quality": plan.model_quality,
            "total_uplift": {"expected": expected, "low": low, "high": high},
            "items": len(plan.roadmap),
            "effort": _effort(plan),
        }
    return (json.dumps(_jsonable(record), sort_keys=True, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _jsonable(value: object) -> object:
    """Plain JSON values: numpy scalars unwrapped, NaN/NA as None, timestamps as ISO 8601."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value if isinstance(value, str | int | float | bool) else str(value)


def summary_table(plan: Plan) -> str:
    """The roadmap for the terminal: one fixed-width row per item, then one line of totals."""
    columns = _pick(_roadmap_columns(plan.roadmap), "rank", "id", "stage", "team", "effort", "period", _UPLIFT,
                    "evidence")
    items = _text_grid(columns, _records(plan.roadmap)) if not plan.roadmap.empty else _summary_sentence(plan)
    total = (f"total expected uplift {_interval(*plan.total_uplift)} {_unit(plan.diagnosis.objective)}; "
             f"effort {_weeks(_effort(plan))} of {_weeks(plan.budget)} person-weeks; {_plural(len(plan.roadmap), 'item')}")
    more = _next_weeks(plan)
    return f"{items}\n{total}\n" + (f"{more}\n" if more else "")


def _next_weeks(plan: Plan) -> str | None:
    """What the next step of budget on the frontier would buy, in one line (None without a frontier)."""
    if plan.frontier is None:
        return None
    funded = plan.frontier.dropna(subset=["full_value"])
    now, above = funded[funded["share"] == 1.0], funded[funded["share"] > 1.0]
    if now.empty or above.empty:
        return None
    step = above.iloc[0]
    extra_weeks, extra_value = step["budget"] - now.iloc[0]["budget"], step["full_value"] - now.iloc[0]["full_value"]
    if extra_value <= 1e-9 * max(abs(now.iloc[0]["full_value"]), 1.0):
        return (f"the next {_weeks(extra_weeks)} person-weeks would add nothing: team capacity, dependencies or "
                "the catalog bind before the budget does (budget frontier in frontier.csv)")
    return (f"the next {_weeks(extra_weeks)} person-weeks would add about {_amount(extra_value)} "
            f"{_unit(plan.diagnosis.objective)} (budget frontier in frontier.csv)")


def diagnosis_table(diagnosis: Diagnosis) -> str:
    """The stage metrics for the terminal: entered, conversion, drop-off, median days, loop-back."""
    columns = _pick(_STAGE_TABLE, "stage", "entered", "conversion", "drop-off", "median days", "loop-back")
    return _text_grid(columns, _records(diagnosis.stage_metrics)) + "\n"


# --- numbers for people ---------------------------------------------------------------------------

def _fixed(value: float, decimals: int, *, sign: bool = False) -> str:
    """Thousands separators, a fixed number of decimals, no "-0.0"."""
    text = f"{value:{'+' if sign else ''},.{decimals}f}"
    return text.replace("-", "", 1).replace("+", "", 1) if float(text.replace(",", "")) == 0 else text


def _count(value: object) -> str:
    return _MISSING if pd.isna(value) else f"{int(value):,}"


def _percent(value: object) -> str:
    return _MISSING if pd.isna(value) else _fixed(100 * float(value), 1) + "%"


def _tenths(value: object) -> str:
    return _MISSING if pd.isna(value) else _fixed(float(value), 1)


def _signed(value: object, decimals: int = 2) -> str:
    return _MISSING if pd.isna(value) else _fixed(float(value), decimals, sign=True)


def _weeks(value: object) -> str:
    return _MISSING if pd.isna(value) else _fixed(float(value), 1).removesuffix(".0")


def _amount(value: object, *, scale: float | None = None) -> str:
    """An amount in objective units: fewer decimals the larger it (or ``scale``) is."""
    if pd.isna(value):
        return _MISSING
    size = abs(float(value)) if scale is None else scale
    return _fixed(float(value), 0 if size >= 100 else 1 if size >= 10 else 2)


def _compact(value: float) -> str:
    """A short axis label: 15.0M, 4.4k, 27.3."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return _fixed(value / size, 1) + suffix
    return _fixed(value, 1).removesuffix(".0")


def _interval(expected: object, low: object, high: object, *, scale: float | None = None) -> str:
    """``3.21 [1.10, 5.04]``: all three with the decimals that suit ``scale`` (default: the largest of them)."""
    return " ".join(_interval_parts(expected, low, high, scale=scale))


def _interval_parts(expected: object, low: object, high: object, *, scale: float | None = None) -> tuple[str, str]:
    scale = _largest((expected, low, high)) if scale is None else scale
    return _amount(expected, scale=scale), f"[{_amount(low, scale=scale)}, {_amount(high, scale=scale)}]"


def _largest(values: Iterable[object]) -> float:
    return max((abs(float(value)) for value in values if not pd.isna(value)), default=0.0)


def _unit(objective: str) -> str:
    return "conversions" if objective == "conversions" else "value"


def _moment(timestamp: pd.Timestamp) -> str:
    stamp = timestamp.tz_convert("UTC") if timestamp.tzinfo is not None else timestamp
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _effort(plan: Plan) -> float:
    return float(plan.roadmap["effort"].sum())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: object) -> str:
    """One line of printable text (control characters, newlines and tabs become spaces)."""
    return "".join(char if char.isprintable() else " " for char in str(value))


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return frame.to_dict("records")


# --- tables: one column spec, three renderings (terminal, Markdown, HTML) -------------------------

@dataclass(frozen=True)
class _Column:
    """A column of a table for people: its header and how to show one record's cell."""

    header: str
    cell: Callable[[Mapping[str, object]], object]  # str, or _Markup in HTML-only columns
    numeric: bool = False
    room: str | None = None  # HTML class giving a text column a minimum width: "wide" (prose) or "title"


def _text(name: str, header: str | None = None, *, room: str | None = None) -> _Column:
    return _Column(header or name.replace("_", " "), lambda record: "" if pd.isna(record[name]) else record[name],
                   room=room)


def _number(header: str, name: str, show: Callable[[object], str]) -> _Column:
    return _Column(header, lambda record: show(record[name]), numeric=True)


def _pick(columns: Sequence[_Column], *headers: str) -> list[_Column]:
    by_header = {column.header: column for column in columns}
    return [by_header[header] for header in headers]


def _evidence(record: Mapping[str, object]) -> str:
    accounts = record["evidence_accounts"]
    kind = "" if pd.isna(record["evidence"]) else str(record["evidence"])
    return kind if pd.isna(accounts) else f"{kind} ({_plural(int(accounts), 'account')})"


_STAGE_TABLE: tuple[_Column, ...] = (
    _text("stage"),
    _number("entered", "entered", _count),
    _number("progressed", "progressed", _count),
    _number("dropped", "dropped", _count),
    _number("open", "open", _count),
    _number("conversion", "conversion_rate", _percent),
    _number("drop-off", "drop_off_rate", _percent),
    _number("median days", "median_days", _tenths),
    _number("p90 days", "p90_days", _tenths),
    _number("loop-back", "loop_back_rate", _percent),
    _number("stakeholders", "stakeholders_mean", _tenths),
    _number("sentiment", "sentiment_mean", _signed),
)
_PAIN_TABLE: tuple[_Column, ...] = (
    _text("stage"),
    _text("pain_point"),
    _number("accounts", "accounts", _count),
    _number("prevalence", "prevalence", _percent),
    _number("conversion exposed", "conversion_exposed", _percent),
    _number("conversion unexposed", "conversion_unexposed", _percent),
    _number("estimated effect", "estimated_effect", lambda value: _signed(value, 3)),
    _number("score", "score", _amount),
)
_UPLIFT = "uplift [low, high]"


def _uplift_column(frame: pd.DataFrame) -> _Column:
    """Expected uplift and its range, with one number of decimals down the whole column."""
    scale = _estimates_scale(frame)
    return _Column(_UPLIFT, lambda r: _interval(r["expected_uplift"], r["uplift_low"], r["uplift_high"], scale=scale),
                   numeric=True)


def _estimates_scale(frame: pd.DataFrame) -> float:
    return _largest(frame[list(ESTIMATE_COLUMNS)].to_numpy().ravel())


def _estimates_domain(frame: pd.DataFrame) -> tuple[float, float]:
    """From the lowest estimate (or 0) to the highest (or 0): one axis for a whole column's error bars."""
    known = frame[list(ESTIMATE_COLUMNS)].to_numpy(dtype=float, na_value=np.nan)
    return float(np.nanmin(known, initial=0.0)), float(np.nanmax(known, initial=0.0))


def _roadmap_columns(roadmap: pd.DataFrame, *, uplift: _Column | None = None) -> list[_Column]:
    return [
        _number("rank", "rank", _count), _text("id"), _text("title", room="title"), _text("stage"), _text("team"),
        _number("period", "period", _count), _number("effort", "effort", _tenths), uplift or _uplift_column(roadmap),
        _Column("evidence", _evidence), _text("rationale", room="wide"),
    ]


def _candidate_columns(candidates: pd.DataFrame) -> list[_Column]:
    """The HTML candidates table: the uplift on two lines like the roadmap's, so the table fits the page."""
    return [
        _text("id"), _text("title", room="title"), _text("stage"), _text("team"), _number("effort", "effort", _tenths),
        _uplift_lines(candidates), _Column("evidence", _evidence),
        _Column("chosen", lambda record: "yes" if record["selected"] else "no"),
        _text("diagnosis", "called for by", room="wide"),
    ]


def _candidates_first_chosen(candidates: pd.DataFrame) -> pd.DataFrame:
    """Chosen candidates first, then by expected uplift, largest first (unknown last), then by id."""
    return candidates.sort_values(["selected", "expected_uplift", "id"], ascending=[False, False, True],
                                  na_position="last")


def _text_grid(columns: Sequence[_Column], records: Sequence[Mapping[str, object]], *, limit: int = 28) -> str:
    """A fixed-width table: numbers right-aligned and whole, long text clipped."""
    cells = [[column.header for column in columns]]
    cells += [[_plain(column.cell(record)) if column.numeric else _clip(_plain(column.cell(record)), limit)
               for column in columns] for record in records]
    widths = [max(len(row[n]) for row in cells) for n in range(len(columns))]
    return "\n".join(
        "  ".join(cell.rjust(width) if column.numeric else cell.ljust(width)
                  for cell, width, column in zip(row, widths, columns)).rstrip()
        for row in cells
    )


def _md(value: object) -> str:
    """A Markdown table cell: one line, ``\\`` ``|`` and ``<`` escaped so the text stays text."""
    return _plain(value).replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<")


def _markdown_table(columns: Sequence[_Column], records: Sequence[Mapping[str, object]]) -> str:
    lines = [
        "| " + " | ".join(_md(column.header) for column in columns) + " |",
        "|" + "|".join("---:" if column.numeric else "---" for column in columns) + "|",
    ]
    lines += ["| " + " | ".join(_md(column.cell(record)) for column in columns) + " |" for record in records]
    return "\n".join(lines)


# --- HTML and SVG elements, escaped by construction -----------------------------------------------

class _Markup(str):
    """Text that is already HTML or SVG markup; any other ``str`` given to :func:`_el` is escaped."""


def _escape(part: object) -> str:
    return part if isinstance(part, _Markup) else html.escape(str(part), quote=True)


def _el(tag: str, *children: object, **attributes: object) -> _Markup:
    """``<tag attributes>children</tag>``; ``class_`` is ``class``, ``text_anchor`` is ``text-anchor``.

    Attribute values and non-markup children are HTML-escaped; floats are written with one decimal
    (SVG coordinates), and an attribute set to None is left out.
    """
    rendered = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{_escape(f"{value:.1f}" if isinstance(value, float) else value)}"'
        for name, value in attributes.items() if value is not None
    )
    return _Markup(f"<{tag}{rendered}>{''.join(_escape(child) for child in children)}</{tag}>")


def _fragment(*parts: object) -> _Markup:
    return _Markup("".join(_escape(part) for part in parts))


def _breakable(text: str) -> _Markup:
    """``text`` HTML-escaped, then a line-break opportunity after each ``_``, so a long tag wraps between its words.

    Escaping first makes the inserted ``<wbr>`` the only markup; escaping adds no ``_``.
    """
    return _Markup(html.escape(text, quote=True).replace("_", "_<wbr>"))


def _html_table(columns: Sequence[_Column], records: Sequence[Mapping[str, object]]) -> _Markup:
    """A table in a box that scrolls sideways when it must; text cells but prose may also wrap after an ``_``."""
    def cell(tag: str, content: object, column: _Column) -> _Markup:
        if column.numeric:
            return _el(tag, content, class_="num")
        if column.room != "wide" and not isinstance(content, _Markup):
            content = _breakable(str(content))
        return _el(tag, content, class_=column.room)

    head = _el("thead", _el("tr", *(cell("th", column.header, column) for column in columns)))
    body = _el("tbody", *(_el("tr", *(cell("td", column.cell(record), column) for column in columns))
                          for record in records))
    return _el("div", _el("table", head, body), class_="scroll")


def _svg(width: int, height: int, label: str, *children: object, css: str = "chart", fluid: bool = True) -> _Markup:
    """An SVG drawn on a ``width`` by ``height`` canvas.

    ``fluid``: as wide as its box up to ``width`` pixels (narrower boxes shrink it, none enlarges it, so its
    text keeps the page's size); else exactly ``width`` by ``height`` pixels.
    """
    size = {"width": "100%", "style": f"max-width:{width}px"} if fluid else {"width": width, "height": height}
    return _el("svg", *children, viewBox=f"0 0 {width} {height}", **size, role="img", aria_label=label,
               class_=css)


def _label(x: float, y: float, text: object, *, anchor: str = "start", css: str | None = None) -> _Markup:
    return _el("text", text, x=float(x), y=float(y), text_anchor=anchor, dominant_baseline="middle", class_=css)


def _linear(domain: tuple[float, float], extent: tuple[float, float]) -> Callable[[float], float]:
    """Map ``domain`` onto ``extent`` linearly; a domain of one point maps to the extent's start."""
    (low, high), (start, end) = domain, extent
    span = high - low
    return lambda value: start + (end - start) * ((value - low) / span if span else 0.0)


# --- charts ---------------------------------------------------------------------------------------

def _funnel_svg(stage_metrics: pd.DataFrame) -> _Markup:
    """A bar per stage of ``entered``, labelled with the count and the stage's conversion rate."""
    records = _records(stage_metrics)
    row, left, note = 30, 110, 220
    room = _CHART_WIDTH - left - note
    top = max((int(r["entered"]) for r in records if not pd.isna(r["entered"])), default=0)
    x = _linear((0.0, float(top or 1)), (float(left), float(left + room)))
    parts = []
    for n, record in enumerate(records):
        middle = n * row + row / 2
        entered = 0 if pd.isna(record["entered"]) else int(record["entered"])
        note = f"{_count(entered)} entered"
        if not pd.isna(record["conversion_rate"]):
            note += f" · {_percent(record['conversion_rate'])} progressed"
        parts += [
            _label(left - 8, middle, record["stage"], anchor="end"),
            _el("rect", x=float(left), y=float(n * row + 5), width=x(entered) - left, height=float(row - 10),
                class_="bar"),
            _label(x(entered) + 6, middle, note, css="note"),
        ]
    return _svg(_CHART_WIDTH, len(records) * row, "funnel: accounts entering each stage", *parts)


def _emotion_svg(stage_metrics: pd.DataFrame) -> _Markup:
    """``sentiment_mean`` across the stages on a -1..1 scale with a zero line; a sentence when there is none."""
    records = _records(stage_metrics)
    points = [(n, float(r["sentiment_mean"])) for n, r in enumerate(records) if not pd.isna(r["sentiment_mean"])]
    if not points:
        return _el("p", NO_SENTIMENT, class_="empty")
    left, top, height = 76, 20, 160
    step = (_CHART_WIDTH - left - 10) / len(records)

    def x(n: int) -> float:  # the middle of stage n's column
        return float(left + step / 2 + n * step)

    y = _linear((1.0, -1.0), (float(top), float(top + height)))
    parts = [_el("line", x1=float(left), x2=float(left + step * len(records)), y1=y(level), y2=y(level),
                 class_="zero" if level == 0 else "grid") for level in (-1.0, 0.0, 1.0)]
    parts += [_label(left - 6, y(level), text, anchor="end", css="note")
              for level, text in ((1.0, "+1 delight"), (0.0, "0"), (-1.0, "-1 pain"))]
    parts += [_label(x(n), top + height + 16, r["stage"], anchor="middle") for n, r in enumerate(records)]
    parts.append(_el("polyline", points=" ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in points), class_="line"))
    for n, value in points:
        parts += [_el("circle", cx=x(n), cy=y(value), r=4.0, class_="dot"),
                  _label(x(n), y(value) - 12, _signed(value), anchor="middle", css="note")]
    return _svg(_CHART_WIDTH, top + height + 30, "emotional curve: mean sentiment by stage", *parts)


def _pain_points_svg(pain_points: pd.DataFrame, *, top: int = TOP_PAIN_POINTS) -> _Markup:
    """Horizontal bars of ``score`` for the ``top`` highest-scoring pain points."""
    records = _records(_top_pain_points(pain_points, top))
    if not records:
        return _el("p", "no pain point tags in this export", class_="empty")
    row, left, note = 26, 230, 200
    room = _CHART_WIDTH - left - note
    scores = [0.0 if pd.isna(r["score"]) else float(r["score"]) for r in records]
    x = _linear((min(0.0, *scores), max(0.0, *scores) or 1.0), (float(left), float(left + room)))
    parts = []
    for n, (record, score) in enumerate(zip(records, scores)):
        middle = n * row + row / 2
        name = f"{record['pain_point']} ({record['stage']})"
        parts += [
            _el("text", _el("title", name), _clip(name, 34), x=float(left - 8), y=middle, text_anchor="end",
                dominant_baseline="middle"),
            _el("rect", x=min(x(0.0), x(score)), y=float(n * row + 4), width=abs(x(score) - x(0.0)),
                height=float(row - 8), class_="bar warm"),
            _label(max(x(0.0), x(score)) + 6, middle,
                   f"{_amount(score, scale=max(map(abs, scores)))} · {_count(record['accounts'])} accounts",
                   css="note"),
        ]
    return _svg(_CHART_WIDTH, len(records) * row, "pain points by score", *parts)


def _top_pain_points(pain_points: pd.DataFrame, top: int) -> pd.DataFrame:
    return pain_points.sort_values("score", ascending=False, kind="stable", na_position="last").head(top)


def _interval_svg(expected: float, low: float, high: float, *, domain: tuple[float, float]) -> _Markup:
    """A small error bar: ``low``..``high`` as a line with whiskers, ``expected`` as a dot, on a shared ``domain``."""
    width, height = 120, 18
    x = _linear(domain, (6.0, float(width - 6)))
    middle = height / 2
    parts = []
    if domain[0] <= 0 <= domain[1]:
        parts.append(_el("line", x1=x(0.0), x2=x(0.0), y1=2.0, y2=float(height - 2), class_="grid"))
    if not (pd.isna(low) or pd.isna(high)):
        parts += [_el("line", x1=x(low), x2=x(high), y1=middle, y2=middle, class_="whisker")]
        parts += [_el("line", x1=x(end), x2=x(end), y1=middle - 4, y2=middle + 4, class_="whisker")
                  for end in (low, high)]
    if not pd.isna(expected):
        parts.append(_el("circle", cx=x(expected), cy=middle, r=3.5, class_="dot"))
    return _svg(width, height, f"expected {_interval(expected, low, high)}", *parts, css="spark", fluid=False)


def _timeline_svg(roadmap: pd.DataFrame, *, periods: int) -> _Markup:
    """Team rows by the plan's period columns, a box per roadmap item in its start period.

    The box shows the id and as much of the title as fits its width; the whole title is on hover.
    """
    cells = _schedule(roadmap, periods)
    teams = sorted({team for team, _ in cells})
    left, box, gap, head = 130, 22, 4, 24
    column = (_CHART_WIDTH - left) / periods
    fits = int((column - 20) / _CHAR_WIDTH)
    heights = {team: max(len(cells[team, p]) for p in range(1, periods + 1)) * (box + gap) + gap for team in teams}
    parts = [_label(left + (p - 0.5) * column, head / 2, _period_name(p, periods), anchor="middle", css="note")
             for p in range(1, periods + 1)]
    top = head
    for team in teams:
        parts += [_el("rect", x=0.0, y=float(top), width=float(_CHART_WIDTH), height=float(heights[team]),
                      class_="lane"),
                  _label(8, top + heights[team] / 2, _clip(team, 18))]
        for period in range(1, periods + 1):
            for n, record in enumerate(cells[team, period]):
                y = top + gap + n * (box + gap)
                tip = f"{record['id']}: {record['title']} ({_weeks(record['effort'])} person-weeks)"
                parts.append(_el(
                    "g", _el("title", tip),
                    _el("rect", x=left + (period - 1) * column + 4, y=float(y), width=column - 8,
                        height=float(box), rx=3.0, class_="item"),
                    _label(left + (period - 1) * column + 10, y + box / 2,
                           _clip(_plain(f"{record['id']}: {record['title']}"), fits), css="on-item"),
                ))
        top += heights[team]
    return _svg(_CHART_WIDTH, top, "timeline: roadmap items per team and period", *parts)


def _period_name(period: int, periods: int) -> str:
    """``month 2`` when the quarter is split into three periods, else ``period 2``."""
    return f"{'month' if periods == 3 else 'period'} {period}"


def _schedule(roadmap: pd.DataFrame, periods: int) -> dict[tuple[str, int], list[dict[str, object]]]:
    """Roadmap records by (team, start period): every team, each of the plan's periods 1..``periods``."""
    cells = {(team, period): [] for team in roadmap["team"].unique() for period in range(1, periods + 1)}
    for record in _records(roadmap):
        cells[record["team"], int(record["period"])].append(record)
    return cells


def _frontier_svg(frontier: pd.DataFrame, *, budget: float) -> _Markup:
    """The best ``full_value`` reachable at each ``budget``, with the chosen budget marked.

    A row without a ``full_value`` (its budget cannot fund the required items) is left out; a sentence
    says so when no row has one.
    """
    points = frontier.sort_values("budget", kind="stable")[["budget", "full_value"]].dropna()
    if points.empty:
        return _el("p", NO_FRONTIER, class_="empty")
    left, right, top, height = 64, 90, 30, 200
    width = _CHART_WIDTH - left - right
    budgets = [*points["budget"].astype(float), float(budget)]
    values = [0.0, *points["full_value"].astype(float)]
    x = _linear((min(budgets), max(budgets)), (float(left), float(left + width)))
    y = _linear((min(values), max(values) or 1.0), (float(top + height), float(top)))
    parts = [
        _el("line", x1=float(left), x2=float(left + width), y1=y(min(values)), y2=y(min(values)), class_="grid"),
        _el("line", x1=float(left), x2=float(left), y1=float(top), y2=float(top + height), class_="grid"),
        _label(left - 6, y(max(values)), _compact(max(values)), anchor="end", css="note"),
        _label(left - 6, y(min(values)), _compact(min(values)), anchor="end", css="note"),
        *(_label(x(tick), top + height + 14, _weeks(tick), anchor="middle", css="note")
          for tick in sorted(set(budgets))),
        _label(left + width / 2, top + height + 30, "budget (person-weeks)", anchor="middle", css="note"),
        _el("polyline", points=" ".join(f"{x(b):.1f},{y(v):.1f}" for b, v in points.itertuples(index=False)),
            class_="line"),
        *(_el("circle", cx=x(b), cy=y(v), r=3.0, class_="dot") for b, v in points.itertuples(index=False)),
        _el("line", x1=x(budget), x2=x(budget), y1=float(top), y2=float(top + height), class_="chosen"),
        _label(min(max(x(budget), left + 80.0), left + width - 80.0), top - 16,  # above the plot, inside the chart
               f"chosen: {_weeks(budget)} person-weeks", anchor="middle", css="note"),
    ]
    return _svg(_CHART_WIDTH, top + height + 40, "budget frontier: expected uplift by budget", *parts)


# --- report.html ----------------------------------------------------------------------------------

_CSS = """
:root{color-scheme:light}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2933;
max-width:1180px;margin:2rem auto;padding:0 1.2rem}
h1{font-size:1.6rem;margin:0 0 .4rem}h2{font-size:1.2rem;margin:2.2rem 0 .6rem;padding-bottom:.2rem;
border-bottom:1px solid #d9e2ec}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1.2rem;margin:0}
dt{color:#52606d}dd{margin:0}
.summary{font-size:1.05rem;background:#f0f4f8;border-radius:6px;padding:.8rem 1rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{padding:.3rem .5rem;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:top}
th{background:#f5f7fa;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.empty,.muted{color:#7b8794}
svg.chart{display:block;height:auto;margin:.4rem 0}svg.spark{display:block;margin:.2rem 0 0 auto}
.wide{min-width:14em}.title{min-width:12em}
table.map{table-layout:fixed}table.map th:first-child{width:9rem}
table.map td div{font-size:.85em;overflow-wrap:break-word}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:#1f2933}
svg .note{fill:#52606d}svg .on-item{fill:#fff}
.bar{fill:#4c78a8}.bar.warm{fill:#e45756}.item{fill:#4c78a8}.lane{fill:#f5f7fa;stroke:#fff;stroke-width:2}
.line{fill:none;stroke:#4c78a8;stroke-width:2}.dot{fill:#1f4e79}
.grid{stroke:#cbd2d9;stroke-width:1}.zero{stroke:#7b8794;stroke-width:1.5;stroke-dasharray:4 3}
.whisker{stroke:#1f4e79;stroke-width:1.5}.chosen{stroke:#e45756;stroke-width:1.5;stroke-dasharray:5 3}
ul.findings li{margin:.2rem 0}
td.feel.pain{background:#fdecea;color:#b71c1c}td.feel.delight{background:#e8f5e9;color:#1b5e20}
td.feel.neutral{color:#52606d}
.heat1{background:#fde0dd}.heat2{background:#fcb5ac}.heat3{background:#f7877a}
.heat4{background:#e45756;color:#fff}.heat5{background:#b71c1c;color:#fff}
svg .stage-box{fill:#f0f4f8;stroke:#9aa5b1}.flow{fill:none;stroke:#4c78a8;stroke-opacity:.7}
.flow.back{stroke:#e45756}svg .flow-count{paint-order:stroke;stroke:#fff;stroke-width:3px}
@page{size:landscape;margin:1cm}
@media print{body{margin:0;max-width:none;padding:0}.scroll{overflow:visible}table{font-size:.7rem}
thead{display:table-header-group}h2{break-after:avoid}svg,tr,.summary{break-inside:avoid}}
"""
_HEAD = _Markup(
    '<meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    # Nothing may load from anywhere: no script, no network; only the inline style below.
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
)


def _html_page(diagnosis: Diagnosis, plan: Plan | None) -> bytes:
    """The whole page: the roadmap sections when there is a plan, then the diagnosis sections."""
    title = (f"Journey roadmap: {diagnosis.target_stage}, objective {diagnosis.objective}" if plan is not None
             else f"Journey diagnosis: {diagnosis.target_stage}, objective {diagnosis.objective}")
    sections = [*(_plan_sections(plan) if plan is not None else ()), *_diagnosis_sections(diagnosis)]
    if plan is not None:
        sections += [_candidates_section(plan), _method_section(plan)]
    head = _el("head", _HEAD, _el("title", title), _el("style", _Markup(_CSS)))
    body = _el("body", _el("header", _el("h1", title), _facts(diagnosis, plan)), _el("main", *sections))
    return ("<!DOCTYPE html>\n" + _el("html", head, body, lang="en") + "\n").encode("utf-8")


def _facts(diagnosis: Diagnosis, plan: Plan | None) -> _Markup:
    facts = [
        ("target stage", diagnosis.target_stage),
        ("objective", diagnosis.objective),
        ("accounts", _count(diagnosis.accounts)),
        ("events", _count(diagnosis.events)),
        ("export time", _moment(diagnosis.export_time)),
        ("stages covered", f"{diagnosis.covered[0]} to {diagnosis.covered[1]}"),
    ]
    if plan is not None:
        facts += [("catalog", plan.catalog_source), ("budget", _budget_text(plan))]
    return _el("dl", *(_fragment(_el("dt", name), _el("dd", value)) for name, value in facts), class_="facts")


def _section(heading: str, *content: object) -> _Markup:
    return _el("section", _el("h2", heading), *content)


def _plan_sections(plan: Plan) -> list[_Markup]:
    sections = [_el("p", _summary_sentence(plan), class_="summary")]
    if plan.roadmap.empty:
        sections.append(_section("Roadmap", _el("p", "Nothing to schedule: every candidate is listed under "
                                                     "Candidates considered.", class_="empty")))
    else:
        columns = _roadmap_columns(plan.roadmap, uplift=_uplift_lines(plan.roadmap, error_bars=True))
        sections += [
            _section("Roadmap", _html_table(columns, _records(plan.roadmap))),
            _section("Timeline by team", _timeline_svg(plan.roadmap, periods=plan.periods)),
        ]
    if plan.frontier is not None and not plan.frontier.empty:
        sections.append(_section("Budget frontier", _frontier_svg(plan.frontier, budget=plan.budget)))
    if plan.notes:
        sections.append(_section("Notes", _el("ul", *(_el("li", note) for note in plan.notes))))
    return sections


def _uplift_lines(frame: pd.DataFrame, *, error_bars: bool = False) -> _Column:
    """Expected uplift over its range (muted), with one number of decimals down the column.

    With ``error_bars``, each cell also gets an error bar, all on one axis: 0 and the column's extremes.
    """
    scale = _estimates_scale(frame)
    domain = _estimates_domain(frame) if error_bars else None

    def cell(record: Mapping[str, object]) -> _Markup:
        estimates = [record[name] for name in ESTIMATE_COLUMNS]
        expected, interval = _interval_parts(*estimates, scale=scale)
        bar = [_interval_svg(*estimates, domain=domain)] if domain else []
        return _fragment(_el("div", expected), _el("div", interval, class_="muted"), *bar)

    return _Column(_UPLIFT, cell, numeric=True)


def _diagnosis_sections(diagnosis: Diagnosis) -> list[_Markup]:
    sections = [
        _section("Journey map", _journey_map(diagnosis)),
        _section("Funnel", _funnel_svg(diagnosis.stage_metrics)),
        _section("Emotional curve", _emotion_svg(diagnosis.stage_metrics)),
        *_flow_sections(diagnosis),
        _section(f"Top {TOP_PAIN_POINTS} pain points", _pain_points_svg(diagnosis.pain_points),
                 *([_html_table(_PAIN_TABLE, _records(_top_pain_points(diagnosis.pain_points, TOP_PAIN_POINTS)))]
                   if not diagnosis.pain_points.empty else [])),
        *_pain_heatmap_sections(diagnosis),
        *_stage_metrics_by_sections(diagnosis),
    ]
    if diagnosis.findings:
        sections.append(_section("Findings", _el("ul", *(_el("li", str(f)) for f in diagnosis.findings),
                                                  class_="findings")))
    return sections


def _journey_map(diagnosis: Diagnosis) -> _Markup:
    """The classic map, stages as columns: doing, thinking and feeling rows, every other contract metric as a row,
    and each stage's top three pain points."""
    stages = _records(diagnosis.stage_metrics)
    ranked = _top_pain_points(diagnosis.pain_points, len(diagnosis.pain_points))
    tags = {stage["stage"]: ranked.loc[ranked["stage"] == stage["stage"], "pain_point"].head(3).tolist()
            for stage in stages}
    head = _el("thead", _el("tr", _el("th", "stage →"), *(_el("th", s["stage"], class_="num") for s in stages)))
    rows = [*_doing_rows(diagnosis, stages), *_thinking_rows(diagnosis, stages), _feeling_row(stages)]
    rows += [_el("tr", _el("th", column.header), *(_el("td", column.cell(s), class_="num") for s in stages))
             for column in _STAGE_TABLE[1:] if column.header != "sentiment"]  # sentiment: the feeling row
    rows.append(_el("tr", _el("th", "top pain points"),
                    *(_el("td", *(_el("div", _breakable(tag)) for tag in tags[s["stage"]])) for s in stages)))
    return _el("div", _el("table", head, _el("tbody", *rows), class_="map"), class_="scroll")


def _candidates_section(plan: Plan) -> _Markup:
    candidates = _candidates_first_chosen(plan.candidates)
    return _section(f"Candidates considered ({len(candidates):,})",
                    _el("p", "Chosen first, then by expected uplift, largest first.", class_="muted"),
                    _html_table(_candidate_columns(candidates), _records(candidates)))


def _gap(value: object) -> str:
    """The solver's relative gap as a percentage; below 1e-9 it is rounding noise of a proven optimum: 0%."""
    if value is None or pd.isna(value):
        return "not reported"
    gap = float(value)
    if abs(gap) < 1e-9:
        return "0%"
    return np.format_float_positional(100 * gap, precision=2, unique=False, fractional=False, trim="-") + "%"


def _setting(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


def _method_section(plan: Plan) -> _Markup:
    """How the plan was reached: solver (not its run time, so the page stays the same), model quality, inputs."""
    solver = ", ".join(f"{key.replace('_', ' ')} {(_gap if key == 'gap' else _setting)(plan.solver[key])}"
                       for key in sorted(plan.solver) if key != "seconds")
    quality = ", ".join(f"{key} {plan.model_quality[key]:.3f}" for key in sorted(plan.model_quality))
    lines = [f"solver: {solver or 'not recorded'}", f"model quality: {quality or 'not recorded'}",
             f"seed: {plan.seed}"]
    inputs = [f"{name} (sha256 {digest[:12]})" for name, digest in sorted(plan.inputs.items())]
    return _section("Method", _el("ul", *(_el("li", line) for line in lines),
                                  *(_el("li", "input: ", name, class_="muted") for name in inputs)))


# --- roadmap.md -----------------------------------------------------------------------------------

def _budget_text(plan: Plan) -> str:
    limits = ", ".join(f"{_plain(team)} {_weeks(weeks)}" for team, weeks in sorted(plan.capacity.items()))
    return f"{_weeks(plan.budget)} person-weeks" + (f" (team limits: {limits})" if limits else "")


def _summary_sentence(plan: Plan) -> str:
    if plan.roadmap.empty:
        return (f"No improvement was chosen within the budget of {_budget_text(plan)}: none fits, or none is "
                "expected to help.")
    expected, low, high = plan.total_uplift
    scale = _largest(plan.total_uplift)
    return (
        f"{_plural(len(plan.roadmap), 'improvement')} chosen, using {_weeks(_effort(plan))} of "
        f"{_budget_text(plan)}. Together they are expected to add {_amount(expected, scale=scale)} "
        f"{_unit(plan.diagnosis.objective)} (range {_amount(low, scale=scale)} to {_amount(high, scale=scale)}) "
        f"over the {_count(plan.diagnosis.accounts)} accounts in the export."
    )


def _timeline_grid(plan: Plan) -> str:
    """Team rows by period columns, each cell listing the ids that start there."""
    cells = _schedule(plan.roadmap, plan.periods)
    names = {p: _period_name(p, plan.periods) for p in range(1, plan.periods + 1)}
    grid = [{"team": team, **{name: ", ".join(str(r["id"]) for r in cells[team, p]) or _MISSING
                              for p, name in names.items()}}
            for team in sorted({team for team, _ in cells})]
    return _markdown_table([_text("team"), *(_text(name) for name in names.values())], grid)


def _markdown(plan: Plan) -> str:
    diagnosis = plan.diagnosis
    parts = [f"# Journey roadmap: {_md(diagnosis.target_stage)}, objective {_md(diagnosis.objective)}",
             _md(_summary_sentence(plan)), "## Roadmap"]
    if plan.roadmap.empty:
        parts.append("Nothing to schedule: candidates.csv lists every candidate considered.")
    else:
        parts += [_markdown_table(_roadmap_columns(plan.roadmap), _records(plan.roadmap)), "## Timeline by team",
                  _timeline_grid(plan)]
    parts += ["## Stages", _markdown_table(_STAGE_TABLE, _records(diagnosis.stage_metrics))]
    if plan.notes:
        parts += ["## Notes", "\n".join(f"- {_md(note)}" for note in plan.notes)]
    parts.append(f"## Top {TOP_PAIN_POINTS} pain points")
    parts.append(_markdown_table(_PAIN_TABLE, _records(_top_pain_points(diagnosis.pain_points, TOP_PAIN_POINTS)))
                 if not diagnosis.pain_points.empty else "No pain point tags in this export.")
    return "\n\n".join(parts) + "\n"


# --- compare: the terminal summary, compare.csv and compare.html ---------------------------------
# The import sits here so that this section is one appended block; it can join the others at the top.
from recommender.compare import STAGE_CHANGE_COLUMNS, Comparison, RunOutputs  # noqa: E402

COMPARE_CSV = "compare.csv"  # also what marks a folder as a comparison's --out
OBSERVATIONAL = ("the observed change is observational: a stage's metric moves between two exports for many "
                 "reasons (other accounts, the season, other work), so it does not measure an improvement's effect")
_COMPARE_CSS = """
.change.better,.dot.better{color:#2f7d32;fill:#2f7d32}.change.worse,.dot.worse{color:#c62828;fill:#c62828}
.change.same{color:#7b8794}.dot.old{fill:#9aa5b1}
"""


def _points(value: object) -> str:
    """A change of a rate, in percentage points."""
    return _MISSING if pd.isna(value) else _fixed(100 * float(value), 1, sign=True) + " pts"


_METRIC_VIEWS: dict[str, tuple[str, Callable[[object], str], Callable[[object], str]]] = {
    # metric -> (header, how to show a value, how to show a change), for each of compare.BETTER_WHEN_HIGHER
    "conversion_rate": ("conversion", _percent, _points),
    "drop_off_rate": ("drop-off", _percent, _points),
    "median_days": ("median days", _tenths, lambda value: _signed(value, 1)),
    "p90_days": ("p90 days", _tenths, lambda value: _signed(value, 1)),
    "loop_back_rate": ("loop-back", _percent, _points),
    "sentiment_mean": ("sentiment", _signed, _signed),
}


def _metric_cell(name: str, *, change: bool = False) -> Callable[[Mapping[str, object]], str]:
    """Show field ``name`` of a record as its ``metric`` is shown: a value, or with ``change`` a change."""
    return lambda record: _METRIC_VIEWS[record["metric"]][2 if change else 1](record[name])


_METRIC_COLUMN = _Column("metric", lambda record: _METRIC_VIEWS[record["metric"]][0])
_STAGE_CHANGE_TABLE: tuple[_Column, ...] = (
    _text("stage"),
    _METRIC_COLUMN,
    _Column("old", _metric_cell("old"), numeric=True),
    _Column("new", _metric_cell("new"), numeric=True),
    _Column("change", _metric_cell("delta", change=True), numeric=True),
    _text("direction"),
)
_ROADMAP_CHANGE_TABLE: tuple[_Column, ...] = (
    _text("id"), _text("change"), _number("old rank", "old_rank", _count), _number("new rank", "new_rank", _count),
    _text("stage"), _text("title", room="wide"),
)


def _shipped_columns(comparison: Comparison, *, html: bool = False) -> list[_Column]:
    """The shipped items' table; in HTML narrower: target under lever, old → new in one cell, change coloured."""
    uplift = f"expected uplift ({_unit(_run_fact(comparison.old, 'objective'))})"
    head = [_text("id"), _text("stage")]
    middle = [_number(uplift, "expected_uplift", _amount), _METRIC_COLUMN,
              _Column("predicted change", _metric_cell("predicted_change", change=True), numeric=True)]
    if not html:
        return [*head, _text("lever"), _text("target"), *middle, _Column("old", _metric_cell("old"), numeric=True),
                _Column("new", _metric_cell("new"), numeric=True),
                _Column("observed change", _metric_cell("observed_change", change=True), numeric=True),
                _text("direction")]
    lever = _Column("lever", lambda record: _fragment(
        _el("div", record["lever"]), *([] if pd.isna(record["target"]) else [_el("div", record["target"], class_="muted")])))
    old_new = _Column("old → new", lambda record: f"{_metric_cell('old')(record)} → {_metric_cell('new')(record)}",
                      numeric=True)
    return [*head, lever, *middle, old_new,
            _Column("observed change", lambda record: _change(_metric_cell("observed_change", change=True)(record),
                                                              record["direction"]), numeric=True)]


def _change(shown: str, direction: object) -> _Markup:
    """A shown change and its direction word, coloured by it."""
    word = "" if pd.isna(direction) else str(direction)
    return _el("div", f"{shown} {word}".rstrip(), class_=f"change {word}".rstrip())


def _run_fact(outputs: RunOutputs, key: str) -> object:
    """One fact of run.json's ``diagnosis`` record (missing in a run.json that lacks it)."""
    diagnosis = outputs.run.get("diagnosis")
    return diagnosis.get(key) if isinstance(diagnosis, Mapping) else None


def _run_line(outputs: RunOutputs) -> str:
    accounts = _run_fact(outputs, "accounts")
    return _plain(f"{outputs.folder} (export of {_count(accounts) if isinstance(accounts, int) else _MISSING} "
                  f"accounts taken {_run_fact(outputs, 'export_time') or _MISSING}, "
                  f"run started {outputs.run.get('started_at') or _MISSING})")


def _tally(words: pd.Series, order: Sequence[str]) -> str:
    counts = words.value_counts()
    return ", ".join(f"{int(counts.get(word, 0))} {word}" for word in order)


def compare_table(comparison: Comparison) -> str:
    """The comparison for the terminal: both runs, the stage metric changes, the roadmap changes, the shipped items."""
    stages = comparison.stages[comparison.stages[["old", "new"]].notna().any(axis=1)]
    parts = [
        f"old: {_run_line(comparison.old)}", f"new: {_run_line(comparison.new)}", "",
        f"stage metrics, new - old: {_tally(comparison.stages['direction'], ('better', 'worse', 'same'))}",
        _text_grid(_STAGE_CHANGE_TABLE, _records(stages)) if not stages.empty else "no stage metrics in either run", "",
        f"roadmap: {_tally(comparison.roadmap['change'], ('added', 'kept', 'dropped'))}",
        _text_grid(_ROADMAP_CHANGE_TABLE, _records(comparison.roadmap)) if not comparison.roadmap.empty
        else "both roadmaps are empty", "",
        "improvements shipped last quarter (the old roadmap): the change predicted in their stage, and the change seen",
        _text_grid(_shipped_columns(comparison), _records(comparison.shipped)) if not comparison.shipped.empty
        else "the old roadmap is empty",
        f"note: {OBSERVATIONAL}",
    ]
    return "\n".join(parts) + "\n"


def render_compare(comparison: Comparison) -> dict[str, bytes]:
    """``compare --out``'s files: compare.csv (STAGE_CHANGE_COLUMNS, one row per stage and metric) and compare.html."""
    require_columns(comparison.stages, STAGE_CHANGE_COLUMNS, table="stage changes")
    return {COMPARE_CSV: render_csv(comparison.stages[list(STAGE_CHANGE_COLUMNS)]),
            "compare.html": _compare_page(comparison)}


def _compare_page(comparison: Comparison) -> bytes:
    """The whole comparison page, in report.html's style and under its no-script, no-network policy."""
    title = f"Journey comparison: {_plain(comparison.old.name)} to {_plain(comparison.new.name)}"
    facts = _el("dl", *(_fragment(_el("dt", name), _el("dd", _run_line(outputs)))
                        for name, outputs in (("old", comparison.old), ("new", comparison.new))), class_="facts")
    summary = (f"Stage metrics, new against old: {_tally(comparison.stages['direction'], ('better', 'worse', 'same'))}. "
               f"Roadmap: {_tally(comparison.roadmap['change'], ('added', 'kept', 'dropped'))}.")
    shipped = (_html_table(_shipped_columns(comparison, html=True), _records(comparison.shipped)) if not comparison.shipped.empty
               else _el("p", "The old roadmap is empty: nothing was shipped.", class_="empty"))
    roadmap = (_html_table(_ROADMAP_CHANGE_TABLE, _records(comparison.roadmap)) if not comparison.roadmap.empty
               else _el("p", "Both roadmaps are empty.", class_="empty"))
    sections = [
        _el("p", summary, class_="summary"),
        _section("Stage metrics (new − old)", _stage_change_grid(comparison.stages),
                 _conversion_change_svg(comparison.stages)),
        _section("Roadmap changes", roadmap),
        _section("Improvements shipped last quarter: predicted and observed", _el("p", f"Note: {OBSERVATIONAL}.", class_="muted"),
                 shipped),
    ]
    head = _el("head", _HEAD, _el("title", title), _el("style", _Markup(_CSS + _COMPARE_CSS)))
    body = _el("body", _el("header", _el("h1", title), facts), _el("main", *sections))
    return ("<!DOCTYPE html>\n" + _el("html", head, body, lang="en") + "\n").encode("utf-8")


def _stage_change_grid(stages: pd.DataFrame) -> _Markup:
    """One row per stage, one column per metric: old → new, and the change coloured by its direction."""
    by_stage = {stage: {record["metric"]: record for record in _records(group)}
                for stage, group in stages.groupby("stage", sort=False)}

    def change(metric: str) -> Callable[[Mapping[str, object]], object]:
        _, value, delta = _METRIC_VIEWS[metric]

        def cell(row: Mapping[str, object]) -> object:
            record = row[metric]
            if pd.isna(record["old"]) and pd.isna(record["new"]):
                return _MISSING
            return _fragment(_el("div", f"{value(record['old'])} → {value(record['new'])}"),
                             _change(delta(record["delta"]), record["direction"]))
        return cell

    columns = [_text("stage"), *(_Column(view[0], change(metric), numeric=True) for metric, view in _METRIC_VIEWS.items())]
    return _html_table(columns, [{"stage": stage, **metrics} for stage, metrics in by_stage.items()])


def _conversion_change_svg(stages: pd.DataFrame) -> _Markup:
    """Each stage's conversion rate in both runs: a grey dot for old, a dot coloured by direction for new."""
    rows = stages[(stages["metric"] == "conversion_rate") & stages[["old", "new"]].notna().all(axis=1)]
    if rows.empty:
        return _el("p", "No stage has a conversion rate in both runs.", class_="empty")
    row, left, room, head = 30, 110, 400, 48
    x = _linear((0.0, 1.0), (float(left), float(left + room)))
    bottom = head + len(rows) * row
    parts = [_label(0, 10, "conversion by stage: grey dot old run, coloured dot new run "
                           "(green better, red worse, blue same)", css="note")]
    for level in (0.0, 0.5, 1.0):
        parts += [_el("line", x1=x(level), x2=x(level), y1=float(head - 6), y2=float(bottom), class_="grid"),
                  _label(x(level), head - 16, _percent(level), anchor="middle", css="note")]
    for n, record in enumerate(_records(rows)):
        middle = head + n * row + row / 2
        parts += [
            _label(left - 8, middle, record["stage"], anchor="end"),
            _el("line", x1=x(record["old"]), x2=x(record["new"]), y1=middle, y2=middle, class_="whisker"),
            _el("circle", cx=x(record["old"]), cy=middle, r=4.5, class_="dot old"),
            _el("circle", cx=x(record["new"]), cy=middle, r=4.5, class_=f"dot {record['direction']}"),
            _label(left + room + 12, middle, f"{_percent(record['old'])} → {_percent(record['new'])} "
                                             f"({_points(record['delta'])})", css="note"),
        ]
    return _svg(left + room + 230, bottom + 6, "conversion by stage: old and new run", *parts)


# --- feedback themes and stage metrics by group (diagnose --by) ------------------------------------
TOP_THEMES = 3


def _thinking_rows(diagnosis: Diagnosis, stages: Sequence[Mapping[str, object]]) -> list[_Markup]:
    """The journey map's "thinking" row: each stage's most mentioned feedback themes; no row without feedback."""
    if diagnosis.themes is None:
        return []
    themes = diagnosis.themes
    cells = (_el("td", *(_el("div", _breakable(str(theme["theme"])), f" ({_plural(int(theme['mentions']), 'mention')})")
                         for theme in _records(themes[themes["stage"] == stage["stage"]].head(TOP_THEMES))))
             for stage in stages)
    return [_el("tr", _el("th", "thinking (feedback themes)"), *cells)]


def _stage_metrics_by_sections(diagnosis: Diagnosis) -> list[_Markup]:
    """``diagnose --by``: each group's stage metrics, over the stages its accounts entered; none without ``--by``."""
    if diagnosis.stage_metrics_by is None:
        return []
    grouped = diagnosis.stage_metrics_by
    entered = grouped[grouped["entered"].fillna(0) > 0]
    return [_section(f"Stage metrics by {diagnosis.by}", _html_table([_text("group"), *_STAGE_TABLE], _records(entered)))]


# --- the journey map's doing and feeling rows, the flow between stages, pain points by stage -------
TOP_TOUCHPOINTS = 3
NEUTRAL_FEELING = 0.1  # a stage's mean sentiment within this of 0 reads as neutral
HEAT_LEVELS = 5  # the pain point heatmap's shades, CSS classes heat1..heat5
NO_FLOWS = "no account moved between stages in this export"


def _doing_rows(diagnosis: Diagnosis, stages: Sequence[Mapping[str, object]]) -> list[_Markup]:
    """The journey map's "doing" row: each stage's most frequent touchpoints, with channel and owning team;
    no row when the export has no touchpoints."""
    touchpoints = diagnosis.touchpoints
    if touchpoints is None or touchpoints.empty:
        return []
    cells = (_el("td", *(_el("div", _breakable(_touchpoint_name(touchpoint)),
                             title=f"{_plural(int(touchpoint['events']), 'event')}, "
                                   f"{_plural(int(touchpoint['accounts']), 'account')}")
                         for touchpoint in _records(touchpoints[touchpoints["stage"] == stage["stage"]]
                                                    .head(TOP_TOUCHPOINTS))))
             for stage in stages)
    return [_el("tr", _el("th", "doing (top touchpoints)"), *cells)]


def _touchpoint_name(touchpoint: Mapping[str, object]) -> str:
    """``demo · direct_sales (sales)``: the touchpoint, its channel if known, the channel's team if it has one."""
    channel = touchpoint["channel"]
    if pd.isna(channel):
        return str(touchpoint["touchpoint"])
    team = CHANNEL_TEAMS.get(str(channel))
    return f"{touchpoint['touchpoint']} · {channel}" + (f" ({team})" if team else "")


def _feeling(sentiment: float) -> str:
    """``pain``, ``neutral`` or ``delight``: how a stage's mean sentiment reads."""
    if sentiment < -NEUTRAL_FEELING:
        return "pain"
    return "delight" if sentiment > NEUTRAL_FEELING else "neutral"


def _feeling_row(stages: Sequence[Mapping[str, object]]) -> _Markup:
    """The journey map's "feeling" row: each stage's mean sentiment, signed, with its word and colour."""
    def cell(sentiment: object) -> _Markup:
        if pd.isna(sentiment):
            return _el("td", _MISSING, class_="num")
        word = _feeling(float(sentiment))
        return _el("td", f"{_signed(sentiment)} {word}", class_=f"num feel {word}")

    return _el("tr", _el("th", "feeling (sentiment)"), *(cell(stage["sentiment_mean"]) for stage in stages))


def _flow_sections(diagnosis: Diagnosis) -> list[_Markup]:
    """The flow between stages, when the diagnosis has one."""
    if diagnosis.flows is None:
        return []
    return [_section("Flow between stages", _flow_svg(diagnosis.flows, diagnosis.stage_metrics))]


def _flow_svg(flows: pd.DataFrame, stage_metrics: pd.DataFrame) -> _Markup:
    """The stages any account entered as boxes in journey order; moves to a later stage arc above, left to
    right, loop-backs arc below, right to left; line width by moves, each arc labelled with its count."""
    if flows.empty:
        return _el("p", NO_FLOWS, class_="empty")
    present = {*flows["from_stage"], *flows["to_stage"],
               *stage_metrics.loc[stage_metrics["entered"].fillna(0) > 0, "stage"]}
    stages = [stage for stage in STAGES if stage in present]
    column = {stage: n for n, stage in enumerate(stages)}
    step = (_CHART_WIDTH - 20) / len(stages)
    box_width, box_height, end_gap = min(120.0, step - 16), 32, 8

    def middle(stage: str) -> float:
        return 10 + step / 2 + column[stage] * step

    def lift(record: Mapping[str, object]) -> float:  # how far an arc's peak is from the boxes
        return 30.0 + 26.0 * (abs(column[record["to_stage"]] - column[record["from_stage"]]) - 1)

    records = _records(flows)
    forward = [record for record in records if record["kind"] == "forward"]
    back = [record for record in records if record["kind"] == "back"]
    box_top = 24 + max(map(lift, forward), default=0.0) + 20
    box_bottom = box_top + box_height
    most = max(int(record["moves"]) for record in records)
    parts = [_label(0, 8, "above: moves to a later stage (left to right); below: loop-backs to an earlier stage "
                          "(right to left); line width by number of moves", css="note")]
    for record in records:
        ahead = record["kind"] == "forward"
        start = middle(record["from_stage"]) + (end_gap if ahead else -end_gap)
        end = middle(record["to_stage"]) - (end_gap if ahead else -end_gap)
        edge, sign = (box_top, -1) if ahead else (box_bottom, 1)
        rise = sign * lift(record)
        parts.append(_el(
            "g", _el("title", f"{record['from_stage']} → {record['to_stage']}: {_plural(int(record['moves']), 'move')} "
                              f"by {_plural(int(record['accounts']), 'account')}"),
            _el("path", d=f"M{start:.1f},{edge:.1f} Q{(start + end) / 2:.1f},{edge + 2 * rise:.1f} {end:.1f},{edge:.1f}",
                stroke_width=1.5 + 8.5 * int(record["moves"]) / most, class_="flow" if ahead else "flow back"),
            _label((start + end) / 2, edge + rise + sign * 9, _count(record["moves"]), anchor="middle",
                   css="note flow-count"),
        ))
    for stage in stages:
        parts += [_el("rect", x=middle(stage) - box_width / 2, y=float(box_top), width=box_width,
                      height=float(box_height), rx=4.0, class_="stage-box"),
                  _label(middle(stage), box_top + box_height / 2, _clip(stage, int(box_width / _CHAR_WIDTH)),
                         anchor="middle")]
    height = box_bottom + max(map(lift, back), default=0.0) + 24
    return _svg(_CHART_WIDTH, int(math.ceil(height)), "flow between stages: moves and loop-backs", *parts)


def _pain_heatmap_sections(diagnosis: Diagnosis) -> list[_Markup]:
    """Pain points by stage, when the export tags any."""
    if diagnosis.pain_points.empty:
        return []
    return [_section("Pain points by stage", _pain_heatmap(diagnosis.pain_points))]


def _pain_heatmap(pain_points: pd.DataFrame) -> _Markup:
    """Pain points (rows, highest score first) by the stages they are tagged in (columns, journey order):
    each cell shows the score, shaded by it (a score of 0 or less, or none, is not shaded)."""
    stages = [stage for stage in STAGES if stage in set(pain_points["stage"])]
    best = pain_points.groupby("pain_point")["score"].max().reset_index()
    tags = best.sort_values(["score", "pain_point"], ascending=[False, True], na_position="last")["pain_point"]
    cells = {(record["pain_point"], record["stage"]): record for record in _records(pain_points)}
    scale = max(_largest(pain_points["score"]), 1e-12)

    def cell(tag: str, stage: str) -> _Markup:
        record = cells.get((tag, stage))
        if record is None:
            return _el("td", "", class_="num")
        score = record["score"]
        level = 0 if pd.isna(score) or score <= 0 else min(HEAT_LEVELS, math.ceil(HEAT_LEVELS * float(score) / scale))
        return _el("td", _amount(score, scale=scale), class_=f"num heat{level}" if level else "num",
                   title=f"{_count(record['accounts'])} accounts, prevalence {_percent(record['prevalence'])}")

    head = _el("thead", _el("tr", _el("th", "pain point"), *(_el("th", stage, class_="num") for stage in stages)))
    body = _el("tbody", *(_el("tr", _el("th", _breakable(str(tag))), *(cell(tag, stage) for stage in stages))
                          for tag in tags))
    return _el("div", _el("table", head, body, class_="heatmap"), class_="scroll")
