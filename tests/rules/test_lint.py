import numpy as np
import pandas as pd
import pytest

from features.journeys import account_outcomes, account_status, canonical_events, stage_visits
from features.stages import stage_metrics
from recommender.results import Finding
from rules import lint_export

START = pd.Timestamp("2024-01-01", tz="UTC")
EVENTS_PATH = "export/events.csv"
CODES = ("linear_journey", "no_post_won", "no_time_in_stage", "single_persona", "stale_export", "no_emotional_layer")

# account, day, stage, stakeholder_id, stakeholder_role, sentiment
RICH = pd.DataFrame([
    ("a1", 0, "awareness", "p1", "cto", 0.2),
    ("a1", 4, "research", "p2", "cfo", None),
    ("a1", 11, "evaluation", "p1", "cto", -0.3),
    ("a1", 19, "research", "p2", "cfo", -0.5),
    ("a1", 24, "evaluation", "p3", "champion", None),
    ("a1", 31, "decision", "p2", "cfo", 0.1),
    ("a1", 45, "onboarding", "p3", "champion", 0.4),
    ("a1", 60, "adoption", "p4", "user", 0.6),
    ("a1", 91, "advocacy", "p3", "champion", 0.8),
    ("a2", 2, "awareness", "p5", "user", None),
    ("a2", 9, "research", "p5", "user", -0.2),
    ("a2", 20, "evaluation", "p6", "cto", None),
], columns=["account_id", "day", "stage", "stakeholder_id", "stakeholder_role", "sentiment"])


def lint(table, *, now_after_days=7, **options):
    """Build events, visits and stage metrics from an inline table the way the pipeline does, then lint."""
    raw = table.assign(timestamp=START + pd.to_timedelta(table["day"], unit="D")).drop(columns="day")
    events = canonical_events(raw, stage_map={}, source=EVENTS_PATH)
    export_time = events["timestamp"].max()
    status = account_status(events, None, export_time=export_time, stale_after_days=90)
    visits = stage_visits(events, export_time=export_time, status=status)
    metrics = stage_metrics(visits, events, account_outcomes(visits, status, target_stage="onboarding"))
    return lint_export(events, visits, metrics, export_time=export_time,
                       now=export_time + pd.Timedelta(days=now_after_days), events_path=EVENTS_PATH, **options)


def codes(findings):
    return tuple(finding.code for finding in findings)


def test_a_rich_export_raises_no_warning():
    assert lint(RICH) == ()


@pytest.mark.parametrize(("export", "options", "expected"), [
    (RICH.loc[RICH["day"] != 19], {}, ("linear_journey",)),
    (RICH.loc[RICH["day"] < 45], {}, ("no_post_won",)),
    (RICH.loc[RICH["day"] < 60], {}, ("no_post_won",)),
    # one timestamp per account: no time in stage, and (ties go in stage order) no way back either
    (RICH.assign(day=RICH.groupby("account_id")["day"].transform("min")), {}, ("linear_journey", "no_time_in_stage")),
    (RICH.drop(columns=["stakeholder_id", "stakeholder_role"]), {}, ("single_persona",)),
    (RICH.assign(stakeholder_id=RICH["account_id"]), {}, ("single_persona",)),
    (RICH.assign(stakeholder_id=None, stakeholder_role=None), {}, ("single_persona",)),
    (RICH, {"now_after_days": 92}, ("stale_export",)),
    (RICH.drop(columns="sentiment"), {}, ("no_emotional_layer",)),
    (RICH.assign(sentiment=np.nan), {}, ("no_emotional_layer",)),
], ids=["no_loop_back", "ends_at_decision", "ends_at_onboarding", "one_timestamp_per_account",
        "no_stakeholder_columns", "one_stakeholder_per_account", "stakeholder_columns_empty", "stale",
        "no_sentiment_column", "sentiment_column_empty"])
def test_each_classic_mistake_is_its_own_warning(export, options, expected):
    findings = lint(export, **options)

    assert codes(findings) == expected
    assert all(finding.severity == "warning" and finding.path == EVENTS_PATH for finding in findings)


def test_a_bare_export_gets_every_warning_in_a_fixed_order():
    bare = pd.DataFrame({"account_id": ["a1", "a1", "a2"], "day": [0, 0, 3],
                         "stage": ["awareness", "research", "awareness"]})

    assert codes(lint(bare, now_after_days=200)) == CODES


def test_messages_say_what_is_missing_and_what_to_add():
    findings = lint(RICH.loc[RICH["day"] < 45].drop(columns="sentiment"), now_after_days=100)

    assert findings == (
        Finding("warning", "no_post_won",
                "the journeys end at 'decision', before adoption: nothing after the won deal is mapped; add "
                "onboarding, adoption, advocacy events from customer success and product tools (usage, QBRs, "
                "renewals, referrals)", path=EVENTS_PATH),
        Finding("warning", "stale_export",
                "the export ends 100 days before now (2024-02-01), more than a quarter ago; export the journeys "
                "again so the roadmap rests on this quarter's data", path=EVENTS_PATH),
        Finding("warning", "no_emotional_layer",
                "no sentiment anywhere, so the map has no emotional layer; add a sentiment column in [-1, 1] "
                "(survey scores, call-note tone: pain < 0 < delight)", path=EVENTS_PATH),
    )


@pytest.mark.parametrize(("now_after_days", "expected"), [(91, ()), (92, ("stale_export",))],
                         ids=["91_days", "92_days"])
def test_an_export_is_stale_after_more_than_91_days(now_after_days, expected):
    assert codes(lint(RICH, now_after_days=now_after_days)) == expected


def test_feedback_from_elsewhere_is_an_emotional_layer():
    assert lint(RICH.drop(columns="sentiment"), has_feedback=True) == ()


def test_the_simulators_default_export_raises_no_map_warning():
    from recommender.config import Settings
    from recommender.pipeline import diagnose
    from recommender.simulate import EXPORT_TIME, simulate_export

    export = simulate_export(600, seed=2).export
    diagnosis, _, _ = diagnose(export, Settings(), now=EXPORT_TIME + pd.Timedelta(days=1))

    assert diagnosis.findings == ()
