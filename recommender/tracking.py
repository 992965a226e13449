"""Every MLflow call: one roadmap run becomes one MLflow run (parameters, metrics, tags, output files, and
the stage models with their signatures).

MLflow is imported here only, and only when a run is logged (it takes seconds to import).
"""

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from recommender.errors import UserError
from recommender.results import Plan

LOCAL_STORE = "mlflow.db"  # the default store, in the working directory: `mlflow ui` there opens it
LOCAL_ARTIFACTS = "mlruns"


@dataclass(frozen=True)
class Tracked:
    """Where the run went: its id and the store's URI, or why it could not be recorded."""

    run_id: str | None
    uri: str
    problem: str | None = None


def tracking_uri(configured: str | None, *, environ: Mapping[str, str], cwd: Path) -> str:
    """``--tracking-uri``/config, else ``MLFLOW_TRACKING_URI``, else a SQLite store in the working directory."""
    return configured or environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(cwd / LOCAL_STORE).resolve()}"


def log_run(plan: Plan, files: Mapping[str, bytes], *, uri: str, experiment: str,
            parameters: Mapping[str, object], tags: Mapping[str, str], cwd: Path) -> Tracked:
    """Record ``plan`` as one run of ``experiment`` at ``uri``; never raises for an unreachable store."""
    mlflow = _import_mlflow()
    from mlflow.exceptions import MlflowException

    try:
        mlflow.set_tracking_uri(uri)
        client = mlflow.MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            location = (cwd / LOCAL_ARTIFACTS).resolve().as_uri() if uri.startswith("sqlite:") else None
            experiment_id = client.create_experiment(experiment, artifact_location=location)
        else:
            experiment_id = found.experiment_id
        solver_tags = {f"solver.{key}": _param(value) for key, value in sorted(plan.solver.items())}
        with mlflow.start_run(experiment_id=experiment_id, run_name=_run_name(plan),
                              tags={**dict(tags), **solver_tags}) as run:
            mlflow.log_params({key: _param(value) for key, value in sorted(parameters.items())})
            mlflow.log_metrics(_metrics(plan))
            with tempfile.TemporaryDirectory(prefix="journeyrec-artifacts-") as folder:
                for name, content in sorted(files.items()):
                    (Path(folder) / name).write_bytes(content)
                mlflow.log_artifacts(folder)
            for stage_model in plan.stage_models:
                _log_stage_model(mlflow, stage_model)
            return Tracked(run.info.run_id, uri)
    except (MlflowException, OSError) as error:  # MLflow wraps transport failures in MlflowException
        return Tracked(None, uri, problem=_first_line(error))


def _import_mlflow():
    """Import mlflow quietly: no telemetry, no INFO lines, no git warnings, no retry storm on a dead server."""
    for name, value in (("MLFLOW_DISABLE_TELEMETRY", "true"), ("MLFLOW_LOGGING_LEVEL", "WARNING"),
                        ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"), ("GIT_PYTHON_REFRESH", "quiet"),
                        ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1"), ("MLFLOW_HTTP_REQUEST_TIMEOUT", "15"),
                        ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")):
        os.environ.setdefault(name, value)
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.sklearn
    for noisy in ("alembic", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return mlflow


def _log_stage_model(mlflow, stage_model) -> None:
    """Log one stage model (models.impact.StageModel) as ``stage_model_<stage>``: scikit-learn flavour,
    a signature (its feature columns in, the outcome probabilities out) and the outcome names.

    Its pip requirements are given, not inferred (inference takes seconds per model).
    """
    import numpy as np
    import sklearn
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    signature = ModelSignature(inputs=Schema([ColSpec("double", name) for name in stage_model.features]),
                               outputs=Schema([TensorSpec(np.dtype("float64"), (-1, len(stage_model.classes)))]))
    mlflow.sklearn.log_model(stage_model.estimator, name=f"stage_model_{stage_model.stage}", signature=signature,
                             pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                             pyfunc_predict_fn="predict_proba",
                             metadata={"stage": stage_model.stage, "classes": list(stage_model.classes),
                                       "visits": stage_model.visits})


def _run_name(plan: Plan) -> str:
    return f"roadmap {plan.budget:g}w -> {plan.diagnosis.target_stage} ({plan.diagnosis.objective})"


def _param(value: object) -> str:
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float | int) else str(value)
    return text[:6000]


def _metrics(plan: Plan) -> dict[str, float]:
    expected, low, high = plan.total_uplift
    metrics = {
        "total_expected_uplift": expected, "total_uplift_low": low, "total_uplift_high": high,
        "effort_used": float(plan.roadmap["effort"].sum()), "items_chosen": float(len(plan.roadmap)),
        "candidates": float(len(plan.candidates)), "accounts": float(plan.diagnosis.accounts),
        "events": float(plan.diagnosis.events),
    }
    if plan.solver.get("seconds") is not None:
        metrics["solve_seconds"] = float(plan.solver["seconds"])
    if isinstance(plan.solver.get("gap"), float):
        metrics["solver_gap"] = max(plan.solver["gap"], 0.0)
    if plan.frontier is not None:
        for row in plan.frontier.itertuples(index=False):
            metrics[f"frontier_{int(round(row.share * 100))}pct"] = float(row.full_value)
    metrics |= {name: value for name, value in plan.model_quality.items() if value == value}  # drop NaN
    return metrics


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def require_tracked(tracked: Tracked) -> None:
    """Raise UserError when the run could not be recorded (for --require-tracking)."""
    if tracked.problem is not None:
        raise UserError(f"tracking failed at {tracked.uri}: {tracked.problem}")
