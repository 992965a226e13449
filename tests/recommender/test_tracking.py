"""Every roadmap run is an MLflow run: in a local store, on a real tracking server, and when the server is down."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli


def roadmap(data: Path, out: Path, *options: str):
    return CliRunner().invoke(cli, ["roadmap", str(data), "--budget", "20", "--out", str(out), *options])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_run_is_recorded_with_parameters_metrics_and_every_output(tmp_path, small_simulated_export):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = roadmap(small_simulated_export, tmp_path / "out", "--tracking-uri", uri, "--experiment", "q1")

    assert result.exit_code == 0, result.stderr
    run_id = json.loads((tmp_path / "out" / "run.json").read_text())["mlflow_run_id"]
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.data.params["budget"] == "20.0" and run.data.params["target_stage"] == "onboarding"
    assert run.data.metrics["items_chosen"] >= 1 and "total_expected_uplift" in run.data.metrics
    artifacts = {item.path for item in MlflowClient(tracking_uri=uri).list_artifacts(run_id)}
    assert {"roadmap.csv", "candidates.csv", "report.html", "stage_metrics.csv"} <= artifacts
    assert result.stderr == ""  # no wall of warnings


def test_each_stage_model_is_logged_with_a_signature_and_predicts_outcome_chances(tmp_path, small_simulated_export):
    import mlflow
    import pandas as pd

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = roadmap(small_simulated_export, tmp_path / "out", "--tracking-uri", uri, "--experiment", "q1")
    assert result.exit_code == 0, result.stderr
    run_id = json.loads((tmp_path / "out" / "run.json").read_text())["mlflow_run_id"]

    mlflow.set_tracking_uri(uri)
    logged = mlflow.search_logged_models(experiment_ids=[mlflow.get_experiment_by_name("q1").experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'", output_format="list")
    assert {model.name for model in logged} == {f"stage_model_{stage}" for stage in
                                                ("awareness", "research", "evaluation", "decision")}
    for model in logged:
        info = mlflow.models.get_model_info(f"models:/{model.model_id}")
        features = info.signature.inputs.input_names()
        assert "log_days" in features and any(name.startswith("pain:") for name in features)
        classes = info.metadata["classes"]  # awareness has no earlier stage to loop back to
        assert {"forward", "drop"} <= set(classes) <= {"forward", "back", "drop"}
        chances = mlflow.pyfunc.load_model(f"models:/{model.model_id}").predict(
            pd.DataFrame([[0.0] * len(features)] * 3, columns=features))
        assert chances.shape == (3, len(classes)) and chances.sum(axis=1) == pytest.approx([1.0] * 3)


def test_unreachable_server_still_writes_the_outputs_and_says_so_in_one_line(tmp_path, small_simulated_export):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    result = roadmap(small_simulated_export, tmp_path / "out", "--tracking-uri", uri)

    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: tracking failed at {uri} (") and result.stderr.count("\n") == 1
    assert json.loads((tmp_path / "out" / "run.json").read_text())["mlflow_run_id"] is None


def test_require_tracking_makes_an_unreachable_server_an_error(tmp_path, small_simulated_export):
    uri = f"http://127.0.0.1:{free_port()}"

    result = roadmap(small_simulated_export, tmp_path / "out", "--tracking-uri", uri, "--require-tracking")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: tracking failed at {uri}: ")
    assert not (tmp_path / "out").exists()


@pytest.fixture
def tracking_server(tmp_path):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, a free port), stopped after the test."""
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail("mlflow server exited at start-up")
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("mlflow server did not answer within 90 s")
    yield url
    server.terminate()
    server.wait(timeout=30)


def rest(url: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{url}{path}", data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.integration
def test_a_run_on_a_real_tracking_server_reads_back_through_the_rest_api(tmp_path, small_simulated_export,
                                                                         tracking_server):
    result = roadmap(small_simulated_export, tmp_path / "out", "--tracking-uri", tracking_server,
                     "--experiment", "growth-q1")
    assert result.exit_code == 0, result.stderr

    experiment = rest(tracking_server, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=growth-q1")
    runs = rest(tracking_server, "/api/2.0/mlflow/runs/search",
                {"experiment_ids": [experiment["experiment"]["experiment_id"]]})["runs"]
    assert len(runs) == 1
    run = runs[0]
    assert run["info"]["run_id"] == json.loads((tmp_path / "out" / "run.json").read_text())["mlflow_run_id"]
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert params["budget"] == "20.0" and metrics["effort_used"] <= 20
    listed = rest(tracking_server, f"/api/2.0/mlflow/artifacts/list?run_id={run['info']['run_id']}")
    assert {"roadmap.csv", "report.html", "candidates.csv"} <= {f["path"] for f in listed["files"]}
    models = rest(tracking_server, "/api/2.0/mlflow/logged-models/search",
                  {"experiment_ids": [experiment["experiment"]["experiment_id"]]})["models"]
    assert {m["info"]["name"] for m in models if m["info"]["source_run_id"] == run["info"]["run_id"]} >= {
        "stage_model_research", "stage_model_evaluation"}
