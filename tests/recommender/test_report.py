import csv
import html
import io
import json
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.contract import PAIN_POINTS_COLUMNS, ROADMAP_COLUMNS, STAGE_METRICS_COLUMNS, STAGES
from recommender.errors import UserError
from recommender.report import (
    NO_FRONTIER,
    NO_FLOWS,
    NO_SENTIMENT,
    diagnosis_table,
    render_csv,
    render_diagnosis,
    render_outputs,
    render_run_json,
    summary_table,
)
from recommender.results import Diagnosis, Finding, Plan

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
HOSTILE = (SCRIPT, BREAKOUT)
NA = pd.NA


def counts(*values: object) -> pd.Series:
    return pd.Series(values, dtype="Int64")


@pytest.fixture
def stage_metrics() -> pd.DataFrame:
    """awareness..onboarding covered (onboarding last: no progressed/dropped), adoption and advocacy not."""
    nan = np.nan
    return pd.DataFrame({
        "stage": list(STAGES),
        "entered": counts(1200, 950, 610, 400, 260, 0, 0),
        "progressed": counts(950, 610, 400, 260, NA, NA, NA),
        "dropped": counts(200, 300, 180, 120, NA, NA, NA),
        "open": counts(50, 40, 30, 20, 260, NA, NA),
        "conversion_rate": [0.826087, 0.670330, 0.689655, 0.684211, nan, nan, nan],
        "drop_off_rate": [0.173913, 0.329670, 0.310345, 0.315789, nan, nan, nan],
        "median_days": [3.25, 12.5, 20.0, 9.75, nan, nan, nan],
        "p90_days": [10.0, 40.5, 61.0, 30.0, nan, nan, nan],
        "loop_back_rate": [0.0, 0.12, 0.25, 0.08, 0.0, nan, nan],
        "stakeholders_mean": [1.2, 2.5, 3.8, 4.1, 2.0, nan, nan],
        "sentiment_mean": [0.3, -0.1, -0.45, 0.2, nan, nan, nan],
    })


@pytest.fixture
def pain_points() -> pd.DataFrame:
    return pd.DataFrame({
        "stage": ["evaluation", "research", "decision"],
        "pain_point": [SCRIPT, "pricing_unclear", BREAKOUT],
        "accounts": [240, 130, 60],
        "prevalence": [0.39, 0.14, 0.15],
        "conversion_exposed": [0.41, 0.55, 0.5],
        "conversion_unexposed": [0.62, 0.7, 0.72],
        "estimated_effect": [-0.21, -0.15, -0.22],
        "score": [50.4, 19.5, 13.2],
    })


@pytest.fixture
def diagnosis(stage_metrics, pain_points) -> Diagnosis:
    return Diagnosis(
        stage_metrics=stage_metrics,
        pain_points=pain_points,
        findings=(Finding("warning", "post_won_missing", f"the journey ends at onboarding {SCRIPT}"),),
        accounts=1200,
        events=48213,
        export_time=pd.Timestamp("2024-06-30T14:05:00Z"),
        covered=("awareness", "onboarding"),
        target_stage="onboarding",
        objective="conversions",
    )


ROADMAP_ROWS = [
    # rank, id, title, stage, team, effort, lever, target, expected, low, high, cumulative, rationale, period
    (1, "pricing-faq", "Pricing FAQ | calculator", "research", "marketing", 2.0, "pain_point", "pricing_unclear",
     14.2, 8.0, 21.5, 2.0, "fixes the top pain point\nin research", 1),
    (2, SCRIPT, BREAKOUT, "evaluation", SCRIPT, 4.0, "drop_off", NA, 9.1, -1.5, 17.0, 6.0, SCRIPT, 1),
    (3, "sec-review", "=1+2", "decision", "sales", 3.5, "time_in_stage", NA, 4.0, 1.0, 6.5, 9.5, "faster", 2),
]


@pytest.fixture
def roadmap() -> pd.DataFrame:
    columns = [*ROADMAP_COLUMNS, "period"]
    frame = pd.DataFrame([dict(zip(columns, row)) for row in ROADMAP_ROWS])
    return frame.assign(
        period=frame["period"].astype("Int64"),
        evidence=["strong", "weak", "assumption only"],
        evidence_accounts=counts(240, 35, NA),
    )


@pytest.fixture
def candidates(roadmap) -> pd.DataFrame:
    chosen = roadmap.drop(columns=["rank", "cumulative_effort", "rationale", "period"])
    spare = pd.DataFrame([{
        "id": "champion-kit", "title": "-cmd", "stage": "decision", "team": "sales", "effort": 6.0,
        "lever": "loop_back", "target": NA, "expected_uplift": -0.5, "uplift_low": -2.0, "uplift_high": 1.0,
        "evidence": "weak", "evidence_accounts": 12,
    }])
    both = pd.concat([chosen, spare], ignore_index=True)
    return both.assign(
        effect=[0.3, 0.2, 0.25, 0.1],
        depends_on=[(), ("pricing-faq",), ("pricing-faq", "sec-review"), ()],
        excludes=[(), (), (), ("sec-review",)],
        diagnosis=["pain point pricing_unclear", "drop-off 31%", "median 9.8 days", "loop-backs 8%"],
        selected=[True, True, True, False],
        evidence_accounts=both["evidence_accounts"].astype("Int64"),
    )


@pytest.fixture
def frontier() -> pd.DataFrame:
    return pd.DataFrame({
        "share": [0.25, 0.5, 0.75, 1.0],
        "budget": [5.0, 10.0, 15.0, 20.0],
        "full_value": [14.2, 23.3, 27.3, 27.3],
        "objective": [14.2, 23.3, 27.3, 27.3],
        "items": [1, 2, 3, 3],
        "effort": [2.0, 6.0, 9.5, 9.5],
    })


@pytest.fixture
def plan(diagnosis, candidates, roadmap, frontier) -> Plan:
    return Plan(
        diagnosis=diagnosis,
        candidates=candidates,
        roadmap=roadmap,
        budget=20.0,
        capacity={"sales": 8.0, "marketing": 10.0},
        seed=0,
        catalog_source=f"improvements.csv {BREAKOUT}",
        total_uplift=(27.3, 12.0, 40.1),
        periods=2,
        frontier=frontier,
        solver={"name": "HiGHS", "status": "Optimal", "proven_optimal": np.True_, "gap": 0.0, "seconds": 0.0123},
        model_quality={"auc_research": np.float64(0.71)},
        inputs={"events.csv": "ab" * 32, f"{SCRIPT}.csv": "cd" * 32},
        notes=(f"thin evidence for {SCRIPT}", "| pipes\nand newlines"),
    )


def read_back(content: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)


def cells(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


# --- CSV ------------------------------------------------------------------------------------------

def test_every_csv_has_exactly_the_contract_columns(plan):
    files = render_outputs(plan)

    assert tuple(read_back(files["stage_metrics.csv"]).columns) == STAGE_METRICS_COLUMNS
    assert tuple(read_back(files["pain_points.csv"]).columns) == PAIN_POINTS_COLUMNS
    assert tuple(read_back(files["roadmap.csv"]).columns) == (
        *ROADMAP_COLUMNS, "period", "evidence", "evidence_accounts")
    assert list(read_back(files["candidates.csv"]).columns) == list(plan.candidates.columns)
    assert list(read_back(files["frontier.csv"]).columns) == list(plan.frontier.columns)
    assert "run.json" not in files


def test_stage_metrics_csv_writes_counts_as_integers_and_missing_as_empty(plan):
    rows = cells(render_outputs(plan)["stage_metrics.csv"])

    assert rows[1] == ["awareness", "1200", "950", "200", "50", "0.826087", "0.173913", "3.25", "10", "0",
                       "1.2", "0.3"]
    assert rows[5] == ["onboarding", "260", "", "", "260", "", "", "", "", "0", "2", ""]
    assert rows[7] == ["advocacy", "0", "", "", "", "", "", "", "", "", "", ""]


def test_csv_is_utf8_with_newline_line_ends_and_no_index():
    content = render_csv(pd.DataFrame({"name": ["café", "a,b", 'say "hi"']}, index=[7, 8, 9]))

    assert content == 'name\ncafé\n"a,b"\n"say ""hi"""\n'.encode("utf-8")


def test_csv_joins_tuples_and_writes_booleans_and_rounds_floats():
    frame = pd.DataFrame({
        "depends_on": [("a", "b"), ()],
        "selected": [True, False],
        "flag": pd.array([True, NA], dtype="boolean"),
        "uplift": [1 / 3, -1e-9],
        "accounts": counts(3, NA),
    })

    assert cells(render_csv(frame)) == [
        ["depends_on", "selected", "flag", "uplift", "accounts"],
        ["a;b", "true", "true", "0.333333", "3"],
        ["", "false", "", "0", ""],
    ]


@pytest.mark.parametrize("text", ['=HYPERLINK("http://example.invalid","x")', "+1", "-cmd", "@SUM(A1)", "\tx",
                                  "\rx"], ids=["equals", "plus", "minus", "at", "tab", "carriage-return"])
def test_text_that_a_spreadsheet_would_run_gets_a_leading_quote(text):
    frame = pd.DataFrame({"title": [text], "depends_on": [(text,)], "uplift": [-0.5], "low": [-2]})

    assert cells(render_csv(frame))[1] == ["'" + text, "'" + text, "-0.5", "-2"]


def test_formula_titles_are_neutralised_in_the_written_tables(plan):
    files = render_outputs(plan)

    roadmap = read_back(files["roadmap.csv"])
    candidates = read_back(files["candidates.csv"])
    assert roadmap.loc[2, "title"] == "'=1+2"
    assert roadmap.loc[1, "uplift_low"] == "-1.5"
    assert candidates.loc[3, ["title", "expected_uplift"]].tolist() == ["'-cmd", "-0.5"]


@given(st.text(max_size=20))
def test_any_text_reads_back_as_itself_behind_at_most_one_quote(text):
    [header, [cell, number]] = cells(render_csv(pd.DataFrame({"t": [text], "n": [-1]})))

    assert (header, number) == (["t", "n"], "-1")
    assert cell == ("'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_floats_read_back_rounded_to_six_decimals(number):
    [_, [cell]] = cells(render_csv(pd.DataFrame({"x": [number]})))

    assert float(cell) == pytest.approx(round(number, 6), abs=1e-9)
    assert not cell.startswith("'") and cell != "-0"


# --- report.html ----------------------------------------------------------------------------------

class Tags(HTMLParser):
    """Every start tag and its attributes, and the text outside tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page: bytes) -> Tags:
    parser = Tags()
    parser.feed(page.decode("utf-8"))
    return parser


@pytest.fixture(params=["plan", "diagnosis"])
def page(request, plan) -> bytes:
    if request.param == "plan":
        return render_outputs(plan)["report.html"]
    return render_diagnosis(plan.diagnosis)["report.html"]


def test_hostile_text_never_appears_unescaped(page):
    text = page.decode("utf-8")
    tags = parse(page)

    for hostile in HOSTILE:
        assert hostile not in text
    assert {tag for tag, _ in tags.tags}.isdisjoint({"script", "img", "iframe", "object", "embed", "link"})
    assert not [name for _, attrs in tags.tags for name in attrs if name.startswith("on")]
    assert SCRIPT in "".join(tags.text)  # shown to the reader as text


def test_page_loads_nothing_from_anywhere(page):
    text = page.decode("utf-8")
    tags = parse(page)

    assert "http://" not in text and "https://" not in text
    assert not [attrs for _, attrs in tags.tags if {"src", "href", "xlink:href"} & set(attrs)]
    assert "url(" not in text and "@import" not in text
    assert text.startswith("<!DOCTYPE html>\n<html lang=\"en\">")


def test_every_svg_chart_is_well_formed_and_keeps_hostile_text_as_text(plan):
    page = render_outputs(plan)["report.html"].decode("utf-8")
    charts = re.findall(r"<svg .*?</svg>", page, flags=re.DOTALL)

    texts = ["".join(ElementTree.fromstring(chart).itertext()) for chart in charts]
    assert len(charts) == 8  # funnel, emotional curve, pain points, timeline, frontier, an error bar per item
    assert any(SCRIPT in text for text in texts)  # the timeline's item and the pain point tag
    assert any(BREAKOUT in text for text in texts)


def test_full_page_has_every_section_and_the_header_facts(plan):
    page = render_outputs(plan)["report.html"].decode("utf-8")
    headings = re.findall(r"<h2>(.*?)</h2>", page)

    assert headings == ["Roadmap", "Timeline by team", "Budget frontier", "Notes", "Journey map", "Funnel",
                        "Emotional curve", "Top 10 pain points", "Pain points by stage", "Findings",
                        "Candidates considered (4)", "Method"]
    for fact in ("onboarding", "conversions", "1,200", "48,213", "2024-06-30 14:05 UTC",
                 "improvements.csv &quot;&gt;&lt;img"):
        assert fact in page
    assert "0.0123" not in page  # solver run time varies between runs: not on the page


def test_diagnosis_page_has_only_the_diagnosis_sections(diagnosis):
    page = render_diagnosis(diagnosis)["report.html"].decode("utf-8")

    assert re.findall(r"<h2>(.*?)</h2>", page) == ["Journey map", "Funnel", "Emotional curve",
                                                   "Top 10 pain points", "Pain points by stage", "Findings"]


def test_funnel_labels_counts_and_conversion_percentages(plan):
    page = render_outputs(plan)["report.html"].decode("utf-8")

    assert ">1,200 entered · 82.6% progressed</text>" in page
    assert ">260 entered</text>" in page  # last covered stage: nobody progresses or drops


def test_no_sentiment_anywhere_says_so(diagnosis):
    silent = replace(diagnosis, stage_metrics=diagnosis.stage_metrics.assign(sentiment_mean=np.nan))

    page = render_diagnosis(silent)["report.html"].decode("utf-8")

    assert f'<p class="empty">{NO_SENTIMENT}</p>' in page
    assert NO_SENTIMENT not in render_diagnosis(diagnosis)["report.html"].decode("utf-8")


def test_emotional_curve_skips_stages_without_sentiment(diagnosis):
    page = render_diagnosis(diagnosis)["report.html"].decode("utf-8")

    [points] = re.findall(r'<polyline points="([^"]*)" class="line">', page)
    assert len(points.split()) == 4  # awareness..decision carry sentiment


def test_pain_point_chart_shows_at_most_ten(diagnosis):
    many = pd.DataFrame({column: diagnosis.pain_points[column].iloc[[1] * 15].to_numpy()
                         for column in PAIN_POINTS_COLUMNS}).assign(score=np.arange(15.0))
    page = render_diagnosis(replace(diagnosis, pain_points=many))["report.html"].decode("utf-8")

    chart = re.search(r'<svg [^>]*aria-label="pain points by score".*?</svg>', page, flags=re.DOTALL).group()
    assert chart.count("<rect") == 10
    assert ">14.0 · 130 accounts</text>" in chart and ">5.0 · 130 accounts</text>" in chart
    assert ">4.0 · " not in chart


# --- roadmap.md -----------------------------------------------------------------------------------

def test_roadmap_md_lists_items_in_rank_order_and_escapes_pipes_and_newlines(plan):
    markdown = render_outputs(plan)["roadmap.md"].decode("utf-8")
    lines = markdown.splitlines()

    rows = [line for line in lines if re.match(r"\| [123] \|", line)]
    assert rows[0] == ("| 1 | pricing-faq | Pricing FAQ \\| calculator | research | marketing | 1 | 2.0 | "
                       "14.2 [8.0, 21.5] | strong (240 accounts) | fixes the top pain point in research |")
    assert [row.split(" | ")[1] for row in rows] == ["pricing-faq", "\\<script>alert(1)\\</script>", "sec-review"]
    assert "- \\| pipes and newlines" in lines
    assert lines[0] == "# Journey roadmap: onboarding, objective conversions"
    assert all(line.count("|") - line.count("\\|") == 11 for line in rows)  # no extra cell from any text


def test_roadmap_md_has_summary_timeline_stages_and_pain_points(plan):
    markdown = render_outputs(plan)["roadmap.md"].decode("utf-8")

    assert ("3 improvements chosen, using 9.5 of 20 person-weeks (team limits: marketing 10, sales 8). "
            "Together they are expected to add 27.3 conversions (range 12.0 to 40.1) over the 1,200 accounts "
            "in the export.") in markdown
    assert "| team | period 1 | period 2 |" in markdown
    assert "| marketing | pricing-faq | – |" in markdown
    assert "| sales | – | sec-review |" in markdown
    assert "| advocacy | 0 | – | – | – | – | – | – | – | – | – | – |" in markdown
    assert [heading for heading in markdown.splitlines() if heading.startswith("## ")] == [
        "## Roadmap", "## Timeline by team", "## Stages", "## Notes", "## Top 10 pain points"]


# --- determinism, run.json, terminal, edge cases --------------------------------------------------

def test_rendering_twice_gives_identical_bytes(plan):
    assert render_outputs(plan) == render_outputs(plan)
    assert render_diagnosis(plan.diagnosis) == render_diagnosis(plan.diagnosis)


def test_bytes_do_not_depend_on_the_order_of_mappings(plan):
    reordered = replace(plan, capacity=dict(reversed(plan.capacity.items())),
                        inputs=dict(reversed(plan.inputs.items())), solver=dict(reversed(plan.solver.items())))

    assert render_outputs(reordered) == render_outputs(plan)


def test_run_json_is_sorted_json_with_the_run_id(plan):
    content = render_run_json(plan, parameters={"budget": 20.0, "seed": 0}, versions={"journeyrec": "0.1.0"},
                              run_id="abc123", started_at="2024-07-01T09:00:00+00:00")
    record = json.loads(content)

    assert content.endswith(b"}\n")
    assert content.decode("utf-8") == json.dumps(record, sort_keys=True, indent=2) + "\n"
    assert record["mlflow_run_id"] == "abc123"
    assert record["total_uplift"] == {"expected": 27.3, "low": 12.0, "high": 40.1}
    assert (record["items"], record["effort"]) == (3, 9.5)
    assert record["solver"]["proven_optimal"] is True
    assert record["model_quality"] == {"auc_research": 0.71}
    assert record["inputs"]["events.csv"] == "ab" * 32
    assert record["diagnosis"]["export_time"] == "2024-06-30T14:05:00+00:00"


def test_run_json_of_a_diagnosis_has_no_plan_parts(diagnosis):
    record = json.loads(render_run_json(diagnosis, parameters={}, versions={}, run_id=None,
                                        started_at="2024-07-01T09:00:00+00:00"))

    assert record["mlflow_run_id"] is None
    assert sorted(record) == ["diagnosis", "mlflow_run_id", "parameters", "started_at", "versions"]


def test_run_json_writes_nan_as_null(plan):
    unsure = replace(plan, total_uplift=(1.0, np.nan, np.inf))

    record = json.loads(render_run_json(unsure, parameters={}, versions={}, run_id=None, started_at=""))

    assert record["total_uplift"] == {"expected": 1.0, "low": None, "high": None}


def test_summary_table_is_fixed_width_with_a_total_line(plan):
    table = summary_table(plan).splitlines()

    assert table[0].split() == ["rank", "id", "stage", "team", "effort", "period", "uplift", "[low,", "high]",
                                "evidence"]
    assert {line.index(stage) for line, stage in zip(table[1:4], ["research", "evaluation", "decision"])} == {
        table[0].index("stage")}
    assert "14.2 [8.0, 21.5]" in table[1]
    assert table[-1] == ("total expected uplift 27.3 [12.0, 40.1] conversions; effort 9.5 of 20 person-weeks; "
                         "3 items")


def test_summary_table_shows_value_units(plan):
    valued = replace(plan, diagnosis=replace(plan.diagnosis, objective="value"),
                     total_uplift=(125000.0, 80000.0, 171234.5))

    assert summary_table(valued).splitlines()[-1].startswith(
        "total expected uplift 125,000 [80,000, 171,234] value;")


def test_diagnosis_table_lists_each_stage(diagnosis):
    table = diagnosis_table(diagnosis).splitlines()

    assert table[0].split() == ["stage", "entered", "conversion", "drop-off", "median", "days", "loop-back"]
    assert table[1].split() == ["awareness", "1,200", "82.6%", "17.4%", "3.2", "0.0%"]
    assert table[7].split() == ["advocacy", "0", "–", "–", "–", "–"]


def test_an_empty_roadmap_renders_and_says_nothing_was_chosen(plan):
    nothing = replace(plan, roadmap=plan.roadmap.iloc[0:0], total_uplift=(0.0, 0.0, 0.0), frontier=None,
                      candidates=plan.candidates.assign(selected=False))

    files = render_outputs(nothing)

    said = "No improvement was chosen within the budget of 20 person-weeks (team limits: marketing 10, sales 8)"
    assert said in files["roadmap.md"].decode("utf-8")
    assert said in files["report.html"].decode("utf-8")
    assert summary_table(nothing).startswith(said)
    assert cells(files["roadmap.csv"]) == [[*ROADMAP_COLUMNS, "period", "evidence", "evidence_accounts"]]
    assert "frontier.csv" not in files


def test_a_roadmap_missing_a_contract_column_is_refused(plan):
    broken = replace(plan, roadmap=plan.roadmap.drop(columns=["rationale"]))

    with pytest.raises(UserError, match=re.escape("roadmap table is missing column(s) 'rationale'; it has ")):
        render_outputs(broken)


def test_items_of_one_team_in_one_period_share_a_cell(plan):
    stacked = replace(plan, roadmap=plan.roadmap.assign(team=["sales"] * 3, period=counts(1, 1, 2)), periods=3)

    markdown = render_outputs(stacked)["roadmap.md"].decode("utf-8")
    page = render_outputs(stacked)["report.html"].decode("utf-8")

    assert "| team | month 1 | month 2 | month 3 |" in markdown  # a quarter in three periods: months
    assert "| sales | pricing-faq, \\<script>alert(1)\\</script> | sec-review | – |" in markdown
    assert page.count('class="item"') == 3 and ">month 3</text>" in page


def section(page: bytes, heading: str) -> str:
    """The HTML of the page's section under ``heading`` (which starts that heading's text)."""
    return re.search(rf"<section><h2>{re.escape(heading)}.*?</section>", page.decode("utf-8"), flags=re.DOTALL).group()


def timeline_columns(page: bytes) -> list[str]:
    chart = re.search(r'<svg [^>]*aria-label="timeline:.*?</svg>', page.decode("utf-8"), flags=re.DOTALL).group()
    return re.findall(r'class="note">([^<]*)</text>', chart)


@pytest.mark.parametrize("periods, columns", [
    (1, ["period 1"]),
    (3, ["month 1", "month 2", "month 3"]),
    (4, ["period 1", "period 2", "period 3", "period 4"]),
], ids=["one", "three-are-months", "four"])
def test_the_timeline_has_exactly_the_plans_periods_even_when_the_later_ones_are_empty(plan, periods, columns):
    early = replace(plan, roadmap=plan.roadmap.assign(period=counts(1, 1, 1)), periods=periods)

    files = render_outputs(early)

    assert timeline_columns(files["report.html"]) == columns
    assert f"| team | {' | '.join(columns)} |" in files["roadmap.md"].decode("utf-8")


def test_charts_take_the_page_width_without_growing_and_error_bars_keep_their_size(plan):
    page = render_outputs(plan)["report.html"].decode("utf-8")

    charts = re.findall(r'<svg viewBox="0 0 (\d+) \d+" width="100%" style="max-width:(\d+)px"[^>]* class="chart">',
                        page)
    sparks = re.findall(r'<svg viewBox="0 0 120 18" width="120" height="18"[^>]* class="spark">', page)
    assert charts == [("1180", "1180")] * 5 and len(sparks) == 3  # drawn 1:1 on the 1180 px page, shrunk on less


# --- report.html: layout of tables ---------------------------------------------------------------

def test_journey_map_tags_may_break_after_underscores_and_stay_escaped(diagnosis):
    tagged = replace(diagnosis, pain_points=diagnosis.pain_points.assign(
        pain_point=["low_feature_discovery", "<b>_x</b>", "plain"]))

    journey_map = section(render_diagnosis(tagged)["report.html"], "Journey map")

    assert "<td><div>low_<wbr>feature_<wbr>discovery</div></td>" in journey_map
    assert "<td><div>&lt;b&gt;_<wbr>x&lt;/b&gt;</div></td>" in journey_map
    assert "<td><div>plain</div></td>" in journey_map


class MapTags(HTMLParser):
    """The journey map's pain point cells: the text of each ``div`` and every tag met inside one."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.inner_tags: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.inner_tags.append(tag)
        if tag == "div":
            self.depth += 1
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag == "div":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.cells[-1] += data


@settings(deadline=None, max_examples=50,  # a whole page per example
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # the fixture is only read
@given(tag=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30))
def test_any_pain_point_tag_reads_back_as_itself_with_only_break_opportunities_added(diagnosis, tag):
    tagged = replace(diagnosis, pain_points=diagnosis.pain_points.assign(pain_point=[tag, "b", "c"]))
    row = re.search(r"<tr><th>top pain points</th>.*?</tr>", section(render_diagnosis(tagged)["report.html"],
                                                                       "Journey map")).group()
    parser = MapTags()
    parser.feed(row)

    assert tag in parser.cells
    assert parser.inner_tags == ["wbr"] * tag.count("_")


def test_text_cells_may_break_after_underscores_but_prose_wraps_at_spaces_only(plan):
    page = render_outputs(plan)["report.html"]

    assert "<td>pricing_<wbr>unclear</td>" in section(page, "Top 10 pain points")
    assert '<td class="wide">pain point pricing_unclear</td>' in section(page, "Candidates considered")


def candidate_ids(page: bytes) -> list[str]:
    rows = re.findall(r"<tr><td>(.*?)</td>", section(page, "Candidates considered"))
    return [html.unescape(row.replace("<wbr>", "")) for row in rows]


def test_candidates_show_the_chosen_first_then_the_largest_expected_uplift_then_the_id(plan):
    reordered = plan.candidates.assign(expected_uplift=[4.0, np.nan, 4.0, 50.0],
                                       selected=[True, False, True, False]).iloc[::-1]

    page = render_outputs(replace(plan, candidates=reordered))["report.html"]

    # chosen and tied at 4.0: by id; not chosen: 50.0, then the one without an estimate
    assert candidate_ids(page) == ["pricing-faq", "sec-review", "champion-kit", SCRIPT]


def test_candidate_uplift_shows_the_range_under_the_expected_value(plan):
    candidates = section(render_outputs(plan)["report.html"], "Candidates considered")

    assert '<td class="num"><div>14.2</div><div class="muted">[8.0, 21.5]</div></td>' in candidates
    assert '<td class="num"><div>-0.5</div><div class="muted">[-2.0, 1.0]</div></td>' in candidates


# --- report.html: method and frontier -------------------------------------------------------------

@pytest.mark.parametrize("gap, shown", [
    (1.95787e-16, "0%"), (-3e-12, "0%"), (0.0, "0%"), (1e-4, "0.01%"), (0.0123, "1.2%"), (5e-9, "0.0000005%"),
    (None, "not reported"),
], ids=["float-noise", "negative-noise", "zero", "default-highs-gap", "one-percent", "just-above-noise", "unknown"])
def test_method_shows_the_solver_gap_as_a_percentage_and_noise_as_zero(plan, gap, shown):
    page = render_outputs(replace(plan, solver={**plan.solver, "gap": gap}))["report.html"]

    assert f"<li>solver: gap {shown}, name HiGHS, proven optimal yes, status Optimal</li>" in section(page, "Method")


def test_frontier_skips_budgets_that_cannot_fund_the_required_items(plan):
    short = plan.frontier.assign(full_value=[np.nan, 23.3, 27.3, 27.3])

    chart = section(render_outputs(replace(plan, frontier=short))["report.html"], "Budget frontier")

    [points] = re.findall(r'<polyline points="([^"]*)"', chart)
    assert len(points.split()) == chart.count("<circle") == 3
    assert re.findall(r'text-anchor="middle" dominant-baseline="middle" class="note">(\d+)</text>', chart) == [
        "10", "15", "20"]  # the budget axis' ticks: not 5
    assert not re.search(r"\bnan\b", chart, flags=re.IGNORECASE)  # no coordinate or label of a missing value


def test_a_frontier_without_any_fundable_budget_says_so(plan):
    unfundable = plan.frontier.assign(full_value=np.nan)

    files = render_outputs(replace(plan, frontier=unfundable))

    assert section(files["report.html"], "Budget frontier") == (
        f'<section><h2>Budget frontier</h2><p class="empty">{NO_FRONTIER}</p></section>')
    assert read_back(files["frontier.csv"])["full_value"].tolist() == [""] * 4


def test_summary_says_what_the_next_step_of_budget_would_buy(plan):
    frontier = pd.DataFrame({"share": [0.5, 1.0, 1.25], "budget": [10.0, 20.0, 25.0],
                             "full_value": [5.0, 8.0, 9.5], "objective": [5.0, 8.0, 9.5],
                             "items": pd.array([1, 2, 3], dtype="Int64"), "effort": [10.0, 19.0, 24.0]})

    text = summary_table(replace(plan, frontier=frontier))

    assert text.splitlines()[-1].startswith("the next 5 person-weeks would add about 1.5")
    assert "the next" not in summary_table(replace(plan, frontier=None))


# --- report.html: the map's doing and feeling rows, the flow between stages, pain points by stage ----

@pytest.fixture
def mapped(diagnosis) -> Diagnosis:
    """The diagnosis with touchpoints (one hostile, one on an unknown channel, one without) and flows."""
    touchpoints = pd.DataFrame({
        "stage": ["awareness"] * 4 + ["research", "evaluation"],
        "channel": ["paid", "owned", "earned", "paid", "direct_sales", None],
        "touchpoint": ["search_ad", "blog", "review", "banner", "demo", SCRIPT],
        "events": [90, 40, 30, 10, 25, 5],
        "accounts": [60, 30, 20, 8, 20, 1],
    }).astype({"stage": "str", "channel": "str", "touchpoint": "str"})
    flows = pd.DataFrame({
        "from_stage": ["awareness", "research", "research", "evaluation", "decision"],
        "to_stage": ["research", "evaluation", "decision", "research", "awareness"],
        "moves": [950, 600, 10, 150, 3],
        "accounts": [950, 590, 10, 120, 3],
        "kind": ["forward", "forward", "forward", "back", "back"],
    })
    return replace(diagnosis, touchpoints=touchpoints, flows=flows)


def map_row(page: bytes, header: str) -> str:
    return re.search(rf"<tr><th>{re.escape(header)}</th>.*?</tr>", section(page, "Journey map")).group()


def test_doing_row_shows_each_stages_top_three_touchpoints_with_channel_and_team(mapped):
    page = render_diagnosis(mapped)["report.html"]

    row = map_row(page, "doing (top touchpoints)")
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells[0] == ('<div title="90 events, 60 accounts">search_<wbr>ad · paid (marketing)</div>'
                        '<div title="40 events, 30 accounts">blog · owned (marketing)</div>'
                        '<div title="30 events, 20 accounts">review · earned (marketing)</div>')  # not the 4th
    assert cells[1] == '<div title="25 events, 20 accounts">demo · direct_<wbr>sales (sales)</div>'
    assert cells[2] == f'<div title="5 events, 1 account">{html.escape(SCRIPT)}</div>'  # no channel: no team
    assert cells[3:] == [""] * 4


def test_map_rows_run_doing_thinking_feeling_then_the_metrics_without_a_second_sentiment_row(mapped):
    themes = pd.DataFrame({"stage": ["research"], "theme": ["pricing"], "mentions": [2]})
    page = render_diagnosis(replace(mapped, themes=themes))["report.html"]

    headers = re.findall(r"<tr><th>(.*?)</th>", section(page, "Journey map"))
    assert headers[1:5] == ["doing (top touchpoints)", "thinking (feedback themes)", "feeling (sentiment)", "entered"]
    assert "sentiment" not in headers and headers[-1] == "top pain points"


def test_no_doing_row_without_touchpoints(diagnosis):
    for touchpoints in (None, pd.DataFrame(columns=["stage", "channel", "touchpoint", "events", "accounts"])):
        page = render_diagnosis(replace(diagnosis, touchpoints=touchpoints))["report.html"]
        assert "doing (top touchpoints)" not in page.decode("utf-8")


def test_feeling_row_signs_each_stages_sentiment_and_names_and_colours_it(diagnosis):
    metrics = diagnosis.stage_metrics.assign(sentiment_mean=[0.3, -0.1, -0.45, 0.1000001, np.nan, np.nan, np.nan])

    row = map_row(render_diagnosis(replace(diagnosis, stage_metrics=metrics))["report.html"], "feeling (sentiment)")

    assert re.findall(r"<td( class=\"[^\"]*\")?>(.*?)</td>", row) == [
        (' class="num feel delight"', "+0.30 delight"), (' class="num feel neutral"', "-0.10 neutral"),
        (' class="num feel pain"', "-0.45 pain"), (' class="num feel delight"', "+0.10 delight"),
        *[(' class="num"', "–")] * 3]


def flow_chart(page: bytes) -> ElementTree.Element:
    chart = re.search(r"<svg .*?</svg>", section(page, "Flow between stages"), flags=re.DOTALL).group()
    return ElementTree.fromstring(chart)


def test_flow_chart_arcs_forward_moves_above_and_loop_backs_below_widths_by_moves(mapped):
    chart = flow_chart(render_diagnosis(mapped)["report.html"])

    [box_top] = {float(rect.get("y")) for rect in chart.iter("rect")}
    boxes = [text.text for text in chart.iter("text") if text.get("class") is None]
    assert boxes == ["awareness", "research", "evaluation", "decision", "onboarding"]  # entered, journey order
    arcs = [(group.find("title").text, group.find("path"), group.find("text").text) for group in chart.iter("g")]
    assert [(title, count) for title, _, count in arcs] == [
        ("awareness → research: 950 moves by 950 accounts", "950"),
        ("research → evaluation: 600 moves by 590 accounts", "600"),
        ("research → decision: 10 moves by 10 accounts", "10"),
        ("evaluation → research: 150 moves by 120 accounts", "150"),
        ("decision → awareness: 3 moves by 3 accounts", "3"),
    ]
    for (_, path, _), kind in zip(arcs, ["forward"] * 3 + ["back"] * 2):
        control_y = float(path.get("d").split()[1].split(",")[1])
        assert path.get("class") == ("flow" if kind == "forward" else "flow back")
        assert (control_y < box_top) if kind == "forward" else (control_y > box_top + 32)
    assert [path.get("stroke-width") for _, path, _ in arcs] == ["10.0", "6.9", "1.6", "2.8", "1.5"]  # 1.5 + 8.5 × share


def test_flow_section_only_with_flows_and_a_sentence_when_nobody_moved(mapped):
    assert "Flow between stages" not in render_diagnosis(replace(mapped, flows=None))["report.html"].decode("utf-8")

    still = replace(mapped, flows=mapped.flows.iloc[:0])
    assert section(render_diagnosis(still)["report.html"], "Flow between stages") == (
        f'<section><h2>Flow between stages</h2><p class="empty">{NO_FLOWS}</p></section>')


def test_flow_follows_the_curve_and_the_heatmap_the_pain_points_with_hostile_touchpoints_as_text(plan, mapped):
    page = render_outputs(replace(plan, diagnosis=mapped))["report.html"].decode("utf-8")

    assert SCRIPT not in page and html.escape(SCRIPT) in map_row(page.encode("utf-8"), "doing (top touchpoints)")
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings.index("Flow between stages") == headings.index("Emotional curve") + 1
    assert headings.index("Pain points by stage") == headings.index("Top 10 pain points") + 1


def test_pain_heatmap_has_present_stages_as_columns_tags_by_score_and_shaded_scored_cells(diagnosis):
    pains = pd.concat([diagnosis.pain_points, pd.DataFrame({
        "stage": ["research", "evaluation"], "pain_point": [SCRIPT, "slow_security_review"], "accounts": [12, 9],
        "prevalence": [0.01, 0.015], "conversion_exposed": [0.6, 0.5], "conversion_unexposed": [0.62, 0.6],
        "estimated_effect": [-0.02, 0.01], "score": [2.0, -1.0]})], ignore_index=True)

    heatmap = section(render_diagnosis(replace(diagnosis, pain_points=pains))["report.html"], "Pain points by stage")

    assert re.findall(r'<th class="num">(.*?)</th>', heatmap) == ["research", "evaluation", "decision"]
    rows = re.findall(r"<tr><th>(.*?)</th>(.*?)</tr>", heatmap.partition("<tbody>")[2])
    assert [tag for tag, _ in rows] == [html.escape(SCRIPT), "pricing_<wbr>unclear", html.escape(BREAKOUT),
                                        "slow_<wbr>security_<wbr>review"]
    shown = [re.findall(r'<td class="([^"]*)"(?: title="([^"]*)")?>([^<]*)</td>', cells) for _, cells in rows]
    assert shown == [
        [("num heat1", "12 accounts, prevalence 1.0%", "2.0"), ("num heat5", "240 accounts, prevalence 39.0%", "50.4"),
         ("num", "", "")],
        [("num heat2", "130 accounts, prevalence 14.0%", "19.5"), ("num", "", ""), ("num", "", "")],
        [("num", "", ""), ("num", "", ""), ("num heat2", "60 accounts, prevalence 15.0%", "13.2")],
        [("num", "", ""), ("num", "9 accounts, prevalence 1.5%", "-1.0"), ("num", "", "")],
    ]


def test_no_pain_heatmap_without_pain_points(diagnosis):
    page = render_diagnosis(replace(diagnosis, pain_points=diagnosis.pain_points.iloc[:0]))["report.html"]

    assert "Pain points by stage" not in page.decode("utf-8")


def test_summary_says_when_more_budget_would_buy_nothing(plan):
    frontier = pd.DataFrame({"share": [1.0, 1.25], "budget": [20.0, 25.0], "full_value": [8.0, 8.0],
                             "objective": [8.0, 8.0], "items": pd.array([2, 2], dtype="Int64"), "effort": [19.0, 19.0]})

    assert "would add nothing" in summary_table(replace(plan, frontier=frontier)).splitlines()[-1]
