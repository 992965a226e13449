"""The value objects one run hands from step to step: findings, the diagnosis, the plan.

Frozen dataclasses of DataFrames and plain values, nothing else (no solver, model or open file).
"""

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd


@dataclass(frozen=True)
class Finding:
    """One thing ``validate`` reports: an error that stops a run, or a warning about the map itself."""

    severity: Literal["error", "warning"]
    code: str  # short stable name, e.g. "linear_journey"
    message: str  # one line: what is wrong and what to add to the export
    path: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = ", ".join(part for part in (
            self.path or "", f"row {self.row}" if self.row is not None else "",
            f"column {self.column!r}" if self.column is not None else "") if part)
        return f"{self.severity}: {where + ': ' if where else ''}{self.message}"


@dataclass(frozen=True)
class Diagnosis:
    """What the export says about the journey.

    ``stage_metrics`` has the contract's STAGE_METRICS_COLUMNS (one row per stage, journey order);
    ``pain_points`` the contract's PAIN_POINTS_COLUMNS (one row per stage and pain point, best score first).
    """

    stage_metrics: pd.DataFrame
    pain_points: pd.DataFrame
    findings: tuple[Finding, ...]
    accounts: int
    events: int
    export_time: pd.Timestamp
    covered: tuple[str, str]  # first and last stage the export covers
    target_stage: str
    objective: Literal["conversions", "value"]
    themes: pd.DataFrame | None = None  # feedback themes: features.feedback.THEMES_COLUMNS, when there is feedback
    by: Literal["segment", "cohort"] | None = None  # what stage_metrics_by groups by
    stage_metrics_by: pd.DataFrame | None = None  # one row per (group, stage): 'group', then STAGE_METRICS_COLUMNS
    touchpoints: pd.DataFrame | None = None  # one row per (stage, channel, touchpoint): features.maps.TOUCHPOINTS_COLUMNS
    flows: pd.DataFrame | None = None  # one row per observed move between stages: features.maps.FLOWS_COLUMNS


@dataclass(frozen=True)
class Plan:
    """A roadmap and everything it rests on.

    ``candidates``: one row per candidate improvement — the catalog's columns, ``diagnosis`` (what in
    the data called for it), ``expected_uplift, uplift_low, uplift_high`` (objective units over the
    export's cohort), ``evidence_accounts``, ``evidence`` (strong / weak / assumption only) and
    ``selected``. ``roadmap``: the contract's ROADMAP_COLUMNS in rank order, then ``period`` (1-based
    start period), ``evidence`` and ``evidence_accounts``.
    """

    diagnosis: Diagnosis
    candidates: pd.DataFrame
    roadmap: pd.DataFrame
    budget: float
    capacity: dict[str, float]
    seed: int
    catalog_source: str
    total_uplift: tuple[float, float, float]  # expected, low, high of the whole roadmap
    periods: int = 1
    frontier: pd.DataFrame | None = None  # share, budget, full_value, objective, items, effort
    solver: dict[str, object] = field(default_factory=dict)  # name, status, gap, seconds, proven_optimal
    model_quality: dict[str, float] = field(default_factory=dict)  # e.g. {"auc_research": 0.71}
    calibration: pd.DataFrame | None = None  # stage, bin, visits, predicted, observed (out of time)
    inputs: dict[str, str] = field(default_factory=dict)  # input file -> sha256
    notes: tuple[str, ...] = ()  # caveats to show beside the roadmap (fallbacks, thin evidence)
    stage_models: tuple = ()  # models.impact.StageModel of each modelled stage, for MLflow
