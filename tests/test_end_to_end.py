"""The roadmap job end to end: the contract's files and columns, and the same bytes for the same input."""

import json
import shutil

import pandas as pd
from click.testing import CliRunner

from cli import cli
from recommender.contract import PAIN_POINTS_COLUMNS, ROADMAP_COLUMNS, STAGE_METRICS_COLUMNS, STAGES


def roadmap(data, out, *options):
    result = CliRunner().invoke(cli, ["roadmap", str(data), "--budget", "20", "--out", str(out), "--no-tracking",
                                      *options])
    assert result.exit_code == 0, result.stderr
    return result


def test_roadmap_writes_every_contract_file_with_the_contract_columns(tmp_path, small_simulated_export):
    out = tmp_path / "out"
    result = roadmap(small_simulated_export, out, "--capacity", "sales=6")

    assert sorted(p.name for p in out.iterdir()) == sorted([
        "stage_metrics.csv", "pain_points.csv", "candidates.csv", "roadmap.csv", "roadmap.md", "report.html",
        "run.json", "frontier.csv", "calibration.csv"])
    metrics = pd.read_csv(out / "stage_metrics.csv")
    assert tuple(metrics.columns) == STAGE_METRICS_COLUMNS and metrics["stage"].tolist() == list(STAGES)
    assert tuple(pd.read_csv(out / "pain_points.csv").columns) == PAIN_POINTS_COLUMNS
    plan = pd.read_csv(out / "roadmap.csv")
    assert tuple(plan.columns[:len(ROADMAP_COLUMNS)]) == ROADMAP_COLUMNS
    assert plan["rank"].tolist() == list(range(1, len(plan) + 1))
    assert plan["effort"].sum() <= 20 and plan.loc[plan["team"] == "sales", "effort"].sum() <= 6
    assert (plan["uplift_low"] <= plan["expected_uplift"]).all() and (plan["expected_uplift"] <= plan["uplift_high"]).all()
    calibration = pd.read_csv(out / "calibration.csv")
    assert list(calibration.columns) == ["stage", "bin", "visits", "predicted", "observed"]
    assert calibration["predicted"].between(0, 1).all() and calibration["observed"].between(0, 1).all()
    candidates = pd.read_csv(out / "candidates.csv")
    assert {"expected_uplift", "uplift_low", "uplift_high", "selected", "evidence"} <= set(candidates.columns)
    assert set(candidates.loc[candidates["selected"], "id"]) == set(plan["id"])
    assert plan["id"].iat[0] in result.stdout


def without_run_identity(folder) -> dict[str, bytes]:
    files = {path.name: path.read_bytes() for path in folder.iterdir()}
    record = json.loads(files["run.json"])
    record.pop("started_at"), record.pop("mlflow_run_id"), record["solver"].pop("seconds")  # when, and how long
    record["parameters"].pop("data_dir")
    return {**files, "run.json": json.dumps(record, sort_keys=True).encode()}


def test_same_input_and_seed_give_the_same_bytes_also_with_rows_shuffled(tmp_path, small_simulated_export):
    shuffled = tmp_path / "shuffled"
    shutil.copytree(small_simulated_export, shuffled)
    events = pd.read_csv(shuffled / "events.csv", dtype=str, keep_default_na=False)
    events.sample(frac=1, random_state=3).to_csv(shuffled / "events.csv", index=False)
    accounts = pd.read_csv(shuffled / "accounts.csv", dtype=str, keep_default_na=False)
    accounts.sample(frac=1, random_state=4).to_csv(shuffled / "accounts.csv", index=False)

    roadmap(small_simulated_export, tmp_path / "first")
    roadmap(small_simulated_export, tmp_path / "again")
    roadmap(shuffled, tmp_path / "shuffled-out")

    first = without_run_identity(tmp_path / "first")
    assert without_run_identity(tmp_path / "again") == first
    reshuffled = without_run_identity(tmp_path / "shuffled-out")
    results = [name for name in first if name.endswith((".csv", ".md"))]  # report.html and run.json cite the input's hash
    assert {name: reshuffled[name] for name in results} == {name: first[name] for name in results}
