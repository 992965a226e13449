"""compare: exact changes between two tiny hand-made result folders, read back as the CLI reads them."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import cli
from recommender import report
from recommender.compare import BETTER_WHEN_HIGHER, compare_runs, roadmap_changes, stage_changes
from recommender.errors import UserError
from recommender.io import read_outputs

NA = np.nan
METRICS_HEADER = "stage,conversion_rate,drop_off_rate,median_days,p90_days,loop_back_rate,sentiment_mean\n"
ROADMAP_HEADER = "rank,id,title,stage,lever,target,expected_uplift\n"
OLD = {
    "stage_metrics.csv": METRICS_HEADER + "research,0.5,0.5,10,20,0.25,\nevaluation,0.4,0.6,30,60,0.1,-0.2\n",
    "roadmap.csv": ROADMAP_HEADER + (
        "1,poc,POC playbook,evaluation,drop_off,,10\n"
        "2,faster,Faster hand-off,research,time_in_stage,,4\n"
        "3,pains,Pricing page,research,pain_point,unclear_pricing,2\n"
        "4,guide,Buyer guide,research,time_in_stage,,1\n"),
    "candidates.csv": "id,effect\npoc,0.2\nfaster,0.5\npains,0.5\nguide,0.2\nunused,0.9\n",
    "run.json": json.dumps({"started_at": "2024-04-01T09:00:00Z", "diagnosis": {
        "accounts": 1200, "export_time": "2024-03-31T23:00:00+00:00", "objective": "conversions"}}),
}
NEW = {
    "stage_metrics.csv": METRICS_HEADER + (
        "research,0.6,0.4,12,20,0.2,0.1\nevaluation,0.3,0.7,24,60,,-0.1\ndecision,0.5,0.5,5,9,0,\n"),
    "roadmap.csv": ROADMAP_HEADER + (
        "1,deal_desk,Deal desk,decision,drop_off,,5\n"
        "2,poc,POC playbook v2,evaluation,drop_off,,8\n"
        "3,pains,Pricing page,research,pain_point,unclear_pricing,3\n"),
    "run.json": json.dumps({"started_at": "2024-07-01T09:00:00Z", "diagnosis": {"accounts": 1300}}),
}


def result_folder(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file_name, text in files.items():
        (folder / file_name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def comparison(tmp_path):
    return compare_runs(read_outputs(result_folder(tmp_path, "q1", OLD)),
                        read_outputs(result_folder(tmp_path, "q2", NEW)))


def frame(columns: str, *rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns.split())


def test_stage_changes_are_new_minus_old_with_better_or_worse_by_metric(comparison):
    expected = frame(
        "stage metric old new delta direction",
        ("research", "conversion_rate", 0.5, 0.6, 0.1, "better"),
        ("research", "drop_off_rate", 0.5, 0.4, -0.1, "better"),
        ("research", "median_days", 10.0, 12.0, 2.0, "worse"),
        ("research", "p90_days", 20.0, 20.0, 0.0, "same"),
        ("research", "loop_back_rate", 0.25, 0.2, -0.05, "better"),
        ("research", "sentiment_mean", NA, 0.1, NA, None),
        ("evaluation", "conversion_rate", 0.4, 0.3, -0.1, "worse"),
        ("evaluation", "drop_off_rate", 0.6, 0.7, 0.1, "worse"),
        ("evaluation", "median_days", 30.0, 24.0, -6.0, "better"),
        ("evaluation", "p90_days", 60.0, 60.0, 0.0, "same"),
        ("evaluation", "loop_back_rate", 0.1, NA, NA, None),
        ("evaluation", "sentiment_mean", -0.2, -0.1, 0.1, "better"),
        *(("decision", metric, NA, new, NA, None) for metric, new in zip(BETTER_WHEN_HIGHER, (0.5, 0.5, 5, 9, 0, NA))),
    ).astype({"direction": "str"})

    pd.testing.assert_frame_equal(comparison.stages, expected)


def test_roadmap_items_are_added_kept_or_dropped_by_id(comparison):
    expected = frame(
        "id title stage change old_rank new_rank",
        ("deal_desk", "Deal desk", "decision", "added", NA, 1.0),
        ("poc", "POC playbook v2", "evaluation", "kept", 1.0, 2.0),
        ("pains", "Pricing page", "research", "kept", 3.0, 3.0),
        ("faster", "Faster hand-off", "research", "dropped", 2.0, NA),
        ("guide", "Buyer guide", "research", "dropped", 4.0, NA),
    )

    pd.testing.assert_frame_equal(comparison.roadmap, expected)


def test_shipped_items_predict_by_lever_arithmetic_and_show_the_observed_change(comparison):
    # research's two time_in_stage items together cut its median by 1 - 0.5 * 0.8 = 60%: 10 days -> -6
    expected = frame(
        "id title stage lever target expected_uplift metric predicted_change old new observed_change direction",
        ("poc", "POC playbook", "evaluation", "drop_off", None, 10.0, "drop_off_rate", -0.12, 0.6, 0.7, 0.1, "worse"),
        ("faster", "Faster hand-off", "research", "time_in_stage", None, 4.0, "median_days", -6.0, 10.0, 12.0, 2.0,
         "worse"),
        ("pains", "Pricing page", "research", "pain_point", "unclear_pricing", 2.0, "conversion_rate", NA, 0.5, 0.6,
         0.1, "better"),
        ("guide", "Buyer guide", "research", "time_in_stage", None, 1.0, "median_days", -6.0, 10.0, 12.0, 2.0,
         "worse"),
    ).astype({"target": "str"})

    pd.testing.assert_frame_equal(comparison.shipped, expected)


def test_without_candidates_nothing_is_predicted_but_the_observed_change_stays(tmp_path):
    old = {name: text for name, text in OLD.items() if name != "candidates.csv"}
    shipped = compare_runs(read_outputs(result_folder(tmp_path, "q1", old)),
                           read_outputs(result_folder(tmp_path, "q2", NEW))).shipped

    assert shipped["predicted_change"].isna().all()
    assert shipped["observed_change"].tolist() == [0.1, 2.0, 0.1, 2.0]


rates = st.one_of(st.none(), st.integers(0, 10**6).map(lambda n: n / 10**6))  # 6 decimals, as the CSVs carry


@settings(max_examples=30, deadline=None)  # pandas work per example: keep the file fast
@given(old=st.lists(rates, min_size=6, max_size=6), new=st.lists(rates, min_size=6, max_size=6))
def test_swapping_the_runs_negates_every_change_and_swaps_better_and_worse(old, new):
    def metrics(values):
        return pd.DataFrame([["research", *values]], columns=["stage", *BETTER_WHEN_HIGHER]).astype(
            dict.fromkeys(BETTER_WHEN_HIGHER, "float64"))

    forward, backward = stage_changes(metrics(old), metrics(new)), stage_changes(metrics(new), metrics(old))

    pd.testing.assert_series_equal(forward["delta"], -backward["delta"] + 0.0)  # + 0.0: -0.0 is 0
    swapped = backward["direction"].map({"better": "worse", "worse": "better", "same": "same"})
    pd.testing.assert_series_equal(forward["direction"], swapped, check_dtype=False)


@settings(max_examples=30, deadline=None)
@given(old_ids=st.sets(st.sampled_from("abcdef")), new_ids=st.sets(st.sampled_from("abcdef")))
def test_swapping_the_roadmaps_swaps_added_and_dropped(old_ids, new_ids):
    def roadmap(ids):
        return pd.DataFrame({"id": sorted(ids), "title": "t", "stage": "research",
                             "rank": np.arange(1.0, len(ids) + 1)}).astype({"id": "str"})

    forward, backward = roadmap_changes(roadmap(old_ids), roadmap(new_ids)), roadmap_changes(roadmap(new_ids),
                                                                                            roadmap(old_ids))

    assert set(forward.loc[forward["change"] == "added", "id"]) == new_ids - old_ids
    assert set(forward.loc[forward["change"] == "kept", "id"]) == old_ids & new_ids
    assert dict(zip(forward["id"], forward["change"])) == {
        id_: {"added": "dropped", "dropped": "added", "kept": "kept"}[change]
        for id_, change in zip(backward["id"], backward["change"])}


STAGE_LIST = "awareness, research, evaluation, decision, onboarding, adoption, advocacy"
NOT_RESULTS = {
    "no_run_json": ({"run.json": None}, "{folder}: is not a journeyrec result (no run.json); "
                                        "give an --out folder of 'journeyrec roadmap'"),
    "a_diagnosis_only": ({"roadmap.csv": None}, "{folder}: is not a journeyrec roadmap result (no roadmap.csv); "
                                                "give an --out folder of 'journeyrec roadmap'"),
    "run_json_not_json": ({"run.json": "{oops"}, "{folder}/run.json: cannot read this file (Expecting property name "
                                                 "enclosed in double quotes: line 1 column 2 (char 1))"),
    "run_json_not_an_object": ({"run.json": "[1]"}, "{folder}/run.json: is not a journeyrec run record "
                                                    "(expected a JSON object)"),
    "metric_column_missing": ({"stage_metrics.csv": "stage,conversion_rate\nresearch,0.5\n"},
                              "{folder}/stage_metrics.csv: missing column(s) 'drop_off_rate', 'median_days', "
                              "'p90_days', 'loop_back_rate', 'sentiment_mean'; is it a journeyrec result?"),
    "metric_not_a_number": ({"stage_metrics.csv": METRICS_HEADER + "research,high,0.5,10,20,0.25,\n"},
                            "{folder}/stage_metrics.csv, row 2, column 'conversion_rate': 'high' is not a float "
                            "(expected a number, e.g. 2.5)"),
    "unknown_stage": ({"stage_metrics.csv": METRICS_HEADER + "research,0.5,0.5,10,20,0.25,\nclosing,1,0,1,1,0,\n"},
                      "{folder}/stage_metrics.csv, row 3, column 'stage': 'closing' is not one of " + STAGE_LIST),
    "stage_twice": ({"stage_metrics.csv": METRICS_HEADER + "research,0.5,0.5,10,20,0.25,\nresearch,1,0,1,1,0,\n"},
                    "{folder}/stage_metrics.csv, row 3, column 'stage': 'research' appears more than once"),
    "unknown_lever": ({"roadmap.csv": ROADMAP_HEADER + "1,poc,POC,evaluation,discount,,10\n"},
                      "{folder}/roadmap.csv, row 2, column 'lever': 'discount' is not one of "
                      "pain_point, drop_off, time_in_stage, loop_back"),
    "candidate_twice": ({"candidates.csv": "id,effect\npoc,0.2\npoc,0.3\n"},
                        "{folder}/candidates.csv, row 3, column 'id': 'poc' appears more than once"),
}


@pytest.mark.parametrize("changes, message", NOT_RESULTS.values(), ids=NOT_RESULTS.keys())
def test_a_folder_that_is_not_a_roadmap_result_is_named_with_what_is_wrong(tmp_path, changes, message):
    files = {name: text for name, text in {**OLD, **changes}.items() if text is not None}
    folder = result_folder(tmp_path, "q1", files)

    with pytest.raises(UserError, match=re.escape(message.format(folder=folder))):
        read_outputs(folder)


def run(*args: object):
    return CliRunner().invoke(cli, ["compare", *map(str, args)])


def test_compare_prints_each_change_and_the_shipped_items_with_a_caveat(tmp_path):
    result = run(result_folder(tmp_path, "q1", OLD), result_folder(tmp_path, "q2", NEW))

    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["research", "conversion", "50.0%", "60.0%", "+10.0", "pts", "better"] in rows
    assert ["evaluation", "median", "days", "30.0", "24.0", "-6.0", "better"] in rows
    assert ["research", "sentiment", "–", "+0.10", "–"] in rows
    assert ["deal_desk", "added", "–", "1", "decision", "Deal", "desk"] in rows
    assert ["guide", "dropped", "4", "–", "research", "Buyer", "guide"] in rows
    assert ["faster", "research", "time_in_stage", "4.00", "median", "days", "-6.0", "10.0", "12.0", "+2.0",
            "worse"] in rows
    assert "stage metrics, new - old: 5 better, 3 worse, 2 same" in result.stdout
    assert "roadmap: 1 added, 2 kept, 2 dropped" in result.stdout
    assert f"note: {report.OBSERVATIONAL}" in result.stdout
    assert not (tmp_path / "compare.csv").exists()


def test_compare_out_writes_the_long_table_and_a_page_and_may_replace_an_earlier_comparison(tmp_path):
    old, new, out = result_folder(tmp_path, "q1", OLD), result_folder(tmp_path, "q2", NEW), tmp_path / "q1-vs-q2"

    first, again = run(old, new, "--out", out), run(old, new, "--out", out)

    assert first.exit_code == again.exit_code == 0, first.stderr + again.stderr
    assert sorted(path.name for path in out.iterdir()) == ["compare.csv", "compare.html"]
    assert (out / "compare.csv").read_text().splitlines()[:8] == [
        "stage,metric,old,new,delta,direction",
        "research,conversion_rate,0.5,0.6,0.1,better",
        "research,drop_off_rate,0.5,0.4,-0.1,better",
        "research,median_days,10,12,2,worse",
        "research,p90_days,20,20,0,same",
        "research,loop_back_rate,0.25,0.2,-0.05,better",
        "research,sentiment_mean,,0.1,,",
        "evaluation,conversion_rate,0.4,0.3,-0.1,worse",
    ]
    assert len((out / "compare.csv").read_text().splitlines()) == 1 + 3 * 6
    assert f"wrote compare.csv, compare.html to {out}" in again.stdout


def test_compare_out_never_replaces_a_roadmap_result(tmp_path):
    old, new = result_folder(tmp_path, "q1", OLD), result_folder(tmp_path, "q2", NEW)
    before = {path.name: path.read_bytes() for path in new.iterdir()}

    result = run(old, new, "--out", new)

    assert result.exit_code == 1
    assert result.stderr == f"Error: {new}: is not empty and holds no earlier comparison; choose another folder\n"
    assert {path.name: path.read_bytes() for path in new.iterdir()} == before


def test_compare_of_a_folder_that_is_no_result_exits_1_with_one_line_and_writes_nothing(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "events.csv").write_text("account_id,timestamp,stage\n")

    result = run(result_folder(tmp_path, "q1", OLD), export, "--out", tmp_path / "out")

    assert result.exit_code == 1
    assert result.stderr == (f"Error: {export}: is not a journeyrec result (no run.json); "
                             "give an --out folder of 'journeyrec roadmap'\n")
    assert result.stdout == "" and not (tmp_path / "out").exists()


def test_compare_of_a_missing_folder_is_a_usage_error(tmp_path):
    result = run(result_folder(tmp_path, "q1", OLD), tmp_path / "nowhere")

    assert result.exit_code == 2 and "does not exist" in result.stderr


HOSTILE_ID = '<script>alert("id")</script>'
HOSTILE_TITLE = '"><img src=x onerror=alert(1)>'


def test_hostile_ids_and_titles_are_text_in_the_page_and_one_line_in_the_terminal(tmp_path):
    roadmap = ROADMAP_HEADER + f'1,"{HOSTILE_ID.replace(chr(34), 2 * chr(34))}",' \
        f'"{HOSTILE_TITLE.replace(chr(34), 2 * chr(34))}\nsecond line",research,pain_point,<b>tag</b>,1\n'
    old = result_folder(tmp_path, "q1", {**OLD, "roadmap.csv": roadmap, "candidates.csv": "id,effect\n"})
    comparison = compare_runs(read_outputs(old), read_outputs(result_folder(tmp_path, "q2", NEW)))

    page = report.render_compare(comparison)["compare.html"].decode()
    text = report.compare_table(comparison)

    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;b&gt;tag&lt;/b&gt;" in page
    assert any(line.startswith(f"{HOSTILE_ID}  dropped") for line in text.splitlines())
    assert "\nsecond line" not in text
