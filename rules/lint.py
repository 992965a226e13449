"""Map lint: the classic customer-journey-mapping mistakes an export shows, as warnings.

None of them stops a run; each says what the map cannot see and what to add to the export.
"""

import pandas as pd

from features.stages import distinct_stakeholders, stakeholder_key
from recommender.contract import STAGE_ORDER, STAGES
from recommender.results import Finding

STALE_AFTER = pd.Timedelta(days=91)  # an export older than about a quarter describes last quarter's journeys


def lint_export(
    events: pd.DataFrame,
    visits: pd.DataFrame,
    stage_metrics: pd.DataFrame,
    *,
    export_time: pd.Timestamp,
    now: pd.Timestamp,
    has_feedback: bool = False,
    events_path: str | None = None,
) -> tuple[Finding, ...]:
    """Warnings about the journey map itself, in a fixed order; never raises.

    Parameters
    ----------
    events
        Journey-ordered canonical events (``features.journeys.canonical_events``); optional
        ``stakeholder_id``, ``stakeholder_role``, ``sentiment``.
    visits
        One row per stage visit (``features.journeys.stage_visits``): ``days``, ``censored``.
    stage_metrics
        The contract's STAGE_METRICS_COLUMNS, one row per stage: ``stage``, ``entered``, ``loop_back_rate``.
    export_time, now
        When the export was taken (its latest event) and the moment of this run.
    has_feedback
        Whether the emotional layer comes from elsewhere (a feedback source besides ``sentiment``).

    Returns
    -------
    tuple[Finding, ...]
        Warnings with codes ``linear_journey``, ``no_post_won``, ``no_time_in_stage``,
        ``single_persona``, ``stale_export``, ``no_emotional_layer``, in that order, each at most once.
    """
    problems = {
        "linear_journey": _linear_journey(stage_metrics),
        "no_post_won": _no_post_won(stage_metrics),
        "no_time_in_stage": _no_time_in_stage(visits),
        "single_persona": _single_persona(events),
        "stale_export": _stale_export(export_time, now),
        "no_emotional_layer": None if has_feedback else _no_emotional_layer(events),
    }
    return tuple(Finding("warning", code, message, path=events_path)
                 for code, message in problems.items() if message is not None)


def _linear_journey(stage_metrics: pd.DataFrame) -> str | None:
    if stage_metrics["loop_back_rate"].fillna(0).gt(0).any():
        return None
    return ("no account ever moves back to an earlier stage, so the map sees the journey as linear; "
            "export every stage change with its date (the stage history), not only each account's current stage")


def _no_post_won(stage_metrics: pd.DataFrame) -> str | None:
    reached = stage_metrics.loc[stage_metrics["entered"].fillna(0).gt(0), "stage"].map(STAGE_ORDER)
    last = int(reached.max()) if len(reached) else -1
    if last >= STAGE_ORDER["adoption"]:
        return None
    ends = f"the journeys end at {STAGES[last]!r}" if last >= 0 else "no journey reaches a stage"
    return (f"{ends}, before adoption: nothing after the won deal is mapped; add {', '.join(STAGES[last + 1:])} "
            "events from customer success and product tools (usage, QBRs, renewals, referrals)")


def _no_time_in_stage(visits: pd.DataFrame) -> str | None:
    if (visits["days"].gt(0) & ~visits["censored"]).any():
        return None
    return ("no time in stage can be measured: each account leaves every stage at the moment it enters it "
            "(all its events share one timestamp); export the date each stage was entered, for every stage change")


def _single_persona(events: pd.DataFrame) -> str | None:
    key = stakeholder_key(events)
    if key is None:
        return ("no stakeholder_id or stakeholder_role column, so each buying committee looks like one person; "
                "add who took part in each event (stakeholder_id, and stakeholder_role such as cto, cfo, champion)")
    accounts, ids = pd.factorize(events["account_id"])
    if (distinct_stakeholders(events, accounts, len(ids)) > 1).any():
        return None
    return (f"at most one stakeholder per account (by {key}), so each buying committee looks like one person; "
            "add every contact who took part (stakeholder_id, and stakeholder_role such as cto, cfo, champion)")


def _stale_export(export_time: pd.Timestamp, now: pd.Timestamp) -> str | None:
    age = now - export_time
    if age <= STALE_AFTER:
        return None
    return (f"the export ends {age.days} days before now ({export_time:%Y-%m-%d}), more than a quarter ago; "
            "export the journeys again so the roadmap rests on this quarter's data")


def _no_emotional_layer(events: pd.DataFrame) -> str | None:
    if "sentiment" in events.columns and events["sentiment"].notna().any():
        return None
    return ("no sentiment anywhere, so the map has no emotional layer; add a sentiment column in [-1, 1] "
            "(survey scores, call-note tone: pain < 0 < delight)")
