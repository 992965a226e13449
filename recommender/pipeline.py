"""The fixed sequence of steps: read -> diagnose -> candidates -> estimate -> select -> rank.

Nothing else lives here: each step is a call into features/, rules/, models/ or recommender/.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.feedback import feedback_events, feedback_themes, feedback_without_journey
from features.groups import stage_metrics_by
from features.journeys import (account_outcomes, account_status, canonical_events, coverage, stage_visits,
                               validate_accounts)
from features.maps import stage_flows, stage_touchpoints
from features.pain_points import pain_points
from features.stages import stage_metrics
from features.visits import visit_features
from models.impact import (INTERVAL, JourneyModel, candidate_effects, estimate_pain_points, estimate_uplift,
                           fit_journey_model, stage_model_quality)
from recommender.config import Settings
from recommender.contract import STAGE_ORDER, STAGES, Export
from recommender.errors import UserError, file_row
from recommender.optimize import Limits, budget_frontier
from recommender.results import Diagnosis, Finding, Plan
from recommender.roadmap import rank_roadmap
from recommender.selection import Valuation, choose_roadmap
from rules import candidates_for, lint_export, validate_catalog

Progress = Callable[[str], None]
FRONTIER_SHARES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5)


def _quiet(step: str) -> None:
    """The default progress reporter: says nothing."""


@dataclass(frozen=True)
class Journey:
    """The export turned into the contract's journey: canonical events, visits, outcomes, the model matrix."""

    events: pd.DataFrame
    visits: pd.DataFrame
    outcomes: pd.DataFrame
    visits_x: pd.DataFrame
    objective: str
    feedback: pd.DataFrame | None = None  # the feedback events among ``events`` (features.feedback), if any


def build_journey(export: Export, settings: Settings) -> Journey:
    """Canonical events (feedback rows among them), visits and outcomes; checks the accounts table and the target."""
    accounts = None if export.accounts is None else validate_accounts(export.accounts, source=export.accounts_path)
    feedback = None if export.feedback is None else feedback_events(
        export.feedback, export.events, patterns=settings.feedback_patterns, score_scale=settings.score_scale,
        stage_map=settings.stage_map, source=export.feedback_path)
    all_events = export.events if feedback is None else pd.concat([export.events, feedback], ignore_index=True)
    events = canonical_events(all_events, stage_map=settings.stage_map, source=export.events_path)
    if events.empty:
        raise UserError("no events left once lost-deal markers are placed; the export has no journey", path=export.events_path)
    export_time = events["timestamp"].max()
    status = account_status(events, accounts, export_time=export_time, stale_after_days=settings.stale_after_days,
                            source=export.accounts_path)
    visits = stage_visits(events, export_time=export_time, status=status)
    outcomes = account_outcomes(visits, status, target_stage=settings.target_stage)
    return Journey(events, visits, outcomes, visit_features(events, visits, accounts),
                   resolve_objective(settings.objective, accounts, source=export.accounts_path), feedback)


def resolve_objective(objective: str | None, accounts: pd.DataFrame | None, *, source: str | None) -> str:
    """``value`` when accounts carry a value (or when asked and possible), else ``conversions``."""
    has_value = accounts is not None and "value" in accounts.columns and accounts["value"].notna().any()
    if objective == "value" and not has_value:
        raise UserError("objective 'value' needs an accounts table with a 'value' column; "
                        "add one or use --objective conversions", path=source)
    return objective or ("value" if has_value else "conversions")


def diagnose(export: Export, settings: Settings, *, now: pd.Timestamp, progress: Progress = _quiet,
             bootstrap: int = 0, time_levers: bool = False,
             by: str | None = None) -> tuple[Diagnosis, Journey, JourneyModel | None]:
    """Stage metrics, scored pain points and map lint, and with ``by`` the stage metrics per segment or
    cohort; also the journey and model, for the roadmap (which asks for ``bootstrap`` refits and the
    ``time_levers`` what-ifs)."""
    progress("reading the journey")
    journey = build_journey(export, settings)
    metrics = stage_metrics(journey.visits, journey.events, journey.outcomes)
    first, last = coverage(journey.visits)
    target_order = STAGE_ORDER[settings.target_stage]
    model = None
    raw_pains = pain_points(journey.events, journey.outcomes, metrics)
    if target_order <= last:
        progress(f"fitting stage models ({bootstrap} bootstrap refits)" if bootstrap else "fitting stage models")
        model = fit_journey_model(journey.visits_x, target_stage=settings.target_stage, objective=journey.objective,
                                  seed=settings.seed, bootstrap=bootstrap, time_levers=time_levers)
        raw_pains = estimate_pain_points(model, raw_pains)
    findings = lint_export(journey.events, journey.visits, metrics, export_time=journey.events["timestamp"].max(),
                           now=now, has_feedback=export.feedback is not None,
                           events_path=export.events_path) + _feedback_findings(export)
    diagnosis = Diagnosis(
        stage_metrics=metrics, pain_points=raw_pains, findings=findings,
        accounts=len(journey.outcomes), events=len(journey.events),
        export_time=journey.events["timestamp"].max(), covered=(STAGES[first], STAGES[last]),
        target_stage=settings.target_stage, objective=journey.objective,
        themes=None if journey.feedback is None else feedback_themes(journey.feedback),
        by=by, stage_metrics_by=None if by is None else stage_metrics_by(
            journey.visits, journey.events, journey.outcomes, export.accounts, by=by),
        touchpoints=stage_touchpoints(journey.events), flows=stage_flows(journey.visits),
    )
    return diagnosis, journey, model


def _feedback_findings(export: Export) -> tuple[Finding, ...]:
    """A warning that counts the feedback rows left out because their account has no events."""
    if export.feedback is None:
        return ()
    orphans = feedback_without_journey(export.feedback, export.events)
    if not orphans.any():
        return ()
    first = int(orphans.to_numpy().argmax())
    return (Finding("warning", "feedback_without_journey",
                    f"{int(orphans.sum()):,} of {len(orphans):,} feedback rows name an account with no events "
                    f"(first {export.feedback['account_id'].iat[first]!r}); they are left out of the journey",
                    path=export.feedback_path, row=file_row(first, export.feedback_path), column="account_id"),)


def plan_roadmap(export: Export, settings: Settings, *, catalog: pd.DataFrame, catalog_source: str,
                 limits: Limits, now: pd.Timestamp, risk: float | None = None,
                 progress: Progress = _quiet) -> Plan:
    """Diagnose the export, estimate every applicable improvement, and choose and rank the roadmap."""
    validated = validate_catalog(catalog, source=catalog_source)  # cheap checks first: fail before the fit
    diagnosis, journey, model = diagnose(export, settings, now=now, progress=progress, bootstrap=settings.bootstrap,
                                         time_levers=True)
    if model is None:
        raise UserError(f"the export covers {diagnosis.covered[0]} to {diagnosis.covered[1]} only, so nobody can be "
                        f"seen reaching the target stage {settings.target_stage!r}; choose an earlier --target-stage")
    progress("estimating each candidate")
    candidates = candidates_for(validated, diagnosis.stage_metrics, diagnosis.pain_points)
    effects = candidate_effects(candidates, replicates=model.replicates, seed=settings.seed)
    scored = estimate_uplift(model, candidates, effects)
    progress("choosing the roadmap")
    valuation = Valuation.of_model(model, effects, risk=risk)
    selection = choose_roadmap(scored, valuation, limits)
    chosen = scored.merge(selection.chosen[["id", "period"]], on="id")
    roadmap = rank_roadmap(chosen, valuation)
    total = valuation.per_replicate([effects.ids.index(i) for i in roadmap["id"]])
    low, high = np.quantile(total[1:], INTERVAL) if len(total) > 1 else (total[0], total[0])
    quality, calibration = stage_model_quality(journey.visits_x, target_stage=settings.target_stage,
                                               seed=settings.seed)
    progress("tracing the budget frontier")
    frontier = budget_frontier(limits, lambda scaled: choose_roadmap(scored, valuation, scaled),
                               shares=FRONTIER_SHARES, request=selection)
    return Plan(
        diagnosis=diagnosis,
        candidates=scored.assign(selected=scored["id"].isin(roadmap["id"])),
        roadmap=roadmap, budget=limits.budget, capacity=dict(limits.capacity), seed=settings.seed,
        catalog_source=catalog_source, total_uplift=(float(total[0]), float(min(low, total[0])), float(max(high, total[0]))),
        periods=limits.periods, frontier=frontier,
        solver={"name": selection.solver, "status": selection.status, "gap": selection.gap,
                "seconds": round(selection.seconds, 3), "proven_optimal": selection.proven_optimal},
        model_quality=_quality(quality), calibration=calibration,
        notes=_notes(scored, roadmap),
        stage_models=tuple(fit.point for _, fit in sorted(model.stages.items()) if fit.point is not None),
    )


def _quality(quality: pd.DataFrame) -> dict[str, float]:
    """The out-of-time AUC and Brier score of each stage model, as flat metrics."""
    metrics = {}
    for row in quality.itertuples(index=False):
        metrics[f"auc_{row.stage}"] = float(row.auc)
        metrics[f"brier_{row.stage}"] = float(row.brier)
    return metrics


def _notes(candidates: pd.DataFrame, roadmap: pd.DataFrame) -> tuple[str, ...]:
    notes = []
    thin = roadmap.loc[roadmap["evidence"] != "strong", "id"].tolist()
    if thin:
        notes.append(f"{len(thin)} of {len(roadmap)} roadmap items rest on weak evidence or assumptions: "
                     f"{', '.join(thin)}")
    arithmetic = candidates.loc[candidates["basis"].str.startswith("funnel arithmetic"), "stage"].unique().tolist()
    if arithmetic:
        notes.append(f"too few visits for a stage model in {', '.join(arithmetic)}: funnel arithmetic used there")
    return tuple(notes)
