"""The command line as a user meets it: exit status, one-line errors naming the place, nothing half-written."""

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli

EVENTS = (
    "account_id,timestamp,stage\n"
    "a1,2024-01-02T10:00:00Z,awareness\n"
    "a1,2024-01-09T10:00:00Z,research\n"
    "a2,2024-01-03T10:00:00Z,awareness\n"
)
CATALOG_HEADER = "id,title,stage,team,effort,lever,target,effect,depends_on\n"


def export(tmp_path: Path, *, events: str | None = EVENTS, improvements: str | None = None,
           accounts: str | None = None) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    for name, text in (("events.csv", events), ("improvements.csv", improvements), ("accounts.csv", accounts)):
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


def run(*args: str):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


BAD_INPUTS = {
    "missing_events_file": (
        dict(events=None), "{data}: no events.csv, events.parquet, deals.csv or OpportunityHistory.csv in this folder"),
    "missing_required_column": (
        dict(events="account_id,stage\na1,awareness\n"),
        "{data}/events.csv: missing column(s) 'timestamp'; it has 'account_id', 'stage'"),
    "unknown_stage": (
        dict(events=EVENTS + "a2,2024-01-04T10:00:00Z,Negotiation\n"),
        "{data}/events.csv, row 5, column 'stage': unknown stage 'Negotiation' (unknown here: 'Negotiation'); "
        "use one of awareness, research, evaluation, decision, onboarding, adoption, advocacy, "
        "or map it in the config's [stage_map]"),
    "unparseable_timestamp": (
        dict(events=EVENTS + "a2,next tuesday,research\n"),
        "{data}/events.csv, row 5, column 'timestamp': 'next tuesday' is not a datetime "
        "(expected ISO 8601, e.g. 2024-03-01T09:30:00Z)"),
    "empty_account_id": (
        dict(events=EVENTS + ",2024-01-04T10:00:00Z,research\n"),
        "{data}/events.csv, row 5, column 'account_id': empty cell (expected a value)"),
    "negative_value": (
        dict(accounts="account_id,value\na1,100\na2,-5\n"),
        "{data}/accounts.csv, row 3, column 'value': value -5 is negative (expected a deal value >= 0)"),
}


@pytest.mark.parametrize("command", ["validate", "diagnose", "roadmap"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS), ids=sorted(BAD_INPUTS))
def test_bad_input_is_one_line_naming_the_place_and_writes_nothing(tmp_path, command, case):
    files, message = BAD_INPUTS[case]
    data = export(tmp_path, **files)
    out = tmp_path / "out"
    extra = {"validate": [], "diagnose": ["--out", out], "roadmap": ["--budget", 10, "--out", out, "--no-tracking"]}

    result = run(command, data, *extra[command])

    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {message.format(data=data)}\n"
    assert result.stdout == ""
    assert not out.exists()


CATALOG_CASES = {
    "duplicate_id": (
        "x,Thing,research,marketing,2,drop_off,,0.2,\nx,Other,research,marketing,2,drop_off,,0.2,\n",
        "row 3, column 'id'"),
    "negative_effort": ("x,Thing,research,marketing,-2,drop_off,,0.2,\n", "row 2, column 'effort'"),
    "unknown_dependency": ("x,Thing,research,marketing,2,drop_off,,0.2,nope\n", "row 2, column 'depends_on'"),
    "cyclic_dependency": (
        "x,Thing,research,marketing,2,drop_off,,0.2,y\ny,Other,research,marketing,2,drop_off,,0.2,x\n",
        "row 2, column 'depends_on'"),
}


@pytest.mark.parametrize("case", sorted(CATALOG_CASES), ids=sorted(CATALOG_CASES))
def test_bad_catalog_names_file_row_and_column(tmp_path, case):
    rows, place = CATALOG_CASES[case]
    data = export(tmp_path, improvements=CATALOG_HEADER + rows)
    out = tmp_path / "out"

    result = run("roadmap", data, "--budget", 10, "--out", out, "--no-tracking")

    assert result.exit_code == 1
    line = result.stderr.removeprefix("Error: ")
    assert line.startswith(f"{data / 'improvements.csv'}, {place}: ") and line.count("\n") == 1
    assert not out.exists()


def test_failed_run_leaves_the_previous_result_intact(tmp_path, crafted_export_dir):
    out = tmp_path / "out"
    assert run("diagnose", crafted_export_dir, "--out", out).exit_code == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    broken = tmp_path / "broken"
    shutil.copytree(crafted_export_dir, broken)
    (broken / "events.csv").write_text("account_id,timestamp,stage\na,yesterday,research\n")

    assert run("diagnose", broken, "--out", out).exit_code == 1
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "out"]  # no staging folder left behind


def test_an_out_folder_with_other_files_is_never_replaced(tmp_path, crafted_export_dir):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")

    result = run("diagnose", crafted_export_dir, "--out", out)

    assert result.exit_code == 1
    assert "holds no earlier journeyrec result" in result.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_usage_errors_exit_2(tmp_path, crafted_export_dir):
    assert run("roadmap", crafted_export_dir).exit_code == 2  # --budget is required
    assert run("roadmap", crafted_export_dir, "--budget", "-1").exit_code == 2
    assert run("roadmap", crafted_export_dir, "--budget", 5, "--capacity", "sales").exit_code == 2
    both = run("roadmap", crafted_export_dir, "--budget", 5, "--no-tracking", "--tracking-uri", "sqlite:///x.db")
    assert both.exit_code == 2 and "not both" in both.stderr


def test_unknown_config_key_suggests_the_right_one(tmp_path, crafted_export_dir):
    config = tmp_path / "settings.toml"
    config.write_text("stale_afer_days = 30\n")

    result = run("validate", crafted_export_dir, "--config", config)

    assert result.exit_code == 1
    assert result.stderr == f"Error: {config}: unknown setting 'stale_afer_days'; did you mean 'stale_after_days'?\n"


def test_validate_reports_map_warnings_and_passes(crafted_export_dir):
    result = run("validate", crafted_export_dir)

    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stdout and "no_post_won" not in result.stdout  # codes are for machines
    assert re.search(r"4 accounts, 17 events, covering awareness to onboarding; no errors, \d+ warning", result.stdout)


def test_diagnose_writes_the_contract_files(tmp_path, crafted_export_dir):
    out = tmp_path / "out"

    result = run("diagnose", crafted_export_dir, "--out", out)

    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["pain_points.csv", "report.html", "run.json", "stage_metrics.csv"]


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_explains_itself_with_an_example(name):
    help_text = run(name, "--help").stdout
    assert cli.commands[name].help and "Example:" in help_text


def test_an_impossible_request_names_the_conflicting_constraints(tmp_path, small_simulated_export):
    out = tmp_path / "out"

    both = run("roadmap", small_simulated_export, "--budget", 20, "--no-tracking", "--out", out,
               "--require", "poc_playbook", "--forbid", "poc_playbook")
    too_big = run("roadmap", small_simulated_export, "--budget", 1, "--no-tracking", "--out", out,
                  "--require", "poc_playbook")

    assert both.exit_code == 1 and both.stderr.count("\n") == 1
    assert both.stderr.startswith("Error: no roadmap fits: ") and "'poc_playbook'" in both.stderr
    assert too_big.exit_code == 1 and "budget" in too_big.stderr and too_big.stderr.count("\n") == 1
    assert not out.exists()


def test_config_constraints_and_periods_shape_the_plan(tmp_path, small_simulated_export):
    data = tmp_path / "export"
    shutil.copytree(small_simulated_export, data)
    (data / "journeyrec.toml").write_text(
        "bootstrap = 4\nperiods = 2\n[constraints]\nmax_items = { evaluation = 1 }\n[period_capacity]\nsales = [3, 3]\n")
    out = tmp_path / "out"

    result = run("roadmap", data, "--budget", 25, "--no-tracking", "--out", out)

    assert result.exit_code == 0, result.stderr
    import pandas as pd

    plan = pd.read_csv(out / "roadmap.csv")
    assert (plan["stage"] == "evaluation").sum() <= 1
    assert set(plan["period"]) <= {1, 2}
    assert plan[plan["team"] == "sales"].groupby("period")["effort"].sum().le(3).all()


def test_sentiment_outside_its_range_names_the_cell(tmp_path):
    data = export(tmp_path, events="account_id,timestamp,stage,sentiment\n"
                                   "a1,2024-01-02T10:00:00Z,awareness,0.5\na1,2024-01-03T10:00:00Z,research,4\n")

    result = run("validate", data)

    assert result.exit_code == 1
    assert result.stderr == (f"Error: {data / 'events.csv'}, row 3, column 'sentiment': 4 is outside [-1, 1] "
                             "(expected a sentiment from -1 to 1)\n")
