import numpy as np
import pandas as pd

from features.journeys import account_outcomes, account_status, canonical_events, stage_visits
from features.stages import stage_metrics
from recommender.contract import IMPROVEMENTS, PAIN_POINTS_COLUMNS, STAGE_METRICS_COLUMNS, STAGES
from recommender.io import read_table
from rules import candidates_for, validate_catalog

NAN = np.nan


def catalog_of(tmp_path, rows):
    """A validated catalog from ``id,stage,lever,target,expected_uplift`` lines."""
    path = tmp_path / "improvements.csv"
    path.write_text("id,title,stage,team,effort,lever,target,effect,expected_uplift\n" + "".join(
        f"{identifier},{identifier},{stage},sales,1,{lever},{target},0.2,{uplift}\n"
        for identifier, stage, lever, target, uplift in (row.split(",") for row in rows)
    ))
    return validate_catalog(read_table(path, IMPROVEMENTS), source=str(path))


def metrics_table(entered, drop_off_rate, median_days, p90_days, loop_back_rate):
    """Stage metrics with the columns the triggers read; the others empty."""
    table = pd.DataFrame({column: [NAN] * len(STAGES) for column in STAGE_METRICS_COLUMNS})
    return table.assign(stage=list(STAGES), entered=pd.array(entered, dtype="Int64"), drop_off_rate=drop_off_rate,
                        median_days=median_days, p90_days=p90_days, loop_back_rate=loop_back_rate)


def pain_point_table(rows):
    return pd.DataFrame(rows, columns=list(PAIN_POINTS_COLUMNS))


NO_PAIN_POINTS = pain_point_table([])


def test_each_lever_fires_on_its_evidence_and_says_it_with_numbers(tmp_path):
    catalog = catalog_of(tmp_path, [
        "aware_drop,awareness,drop_off,,", "aware_time,awareness,time_in_stage,,",
        "research_drop,research,drop_off,,", "research_loop,research,loop_back,,",
        "pricing_page,research,pain_point,unclear_pricing,",
        "eval_drop,evaluation,drop_off,,", "eval_loop,evaluation,loop_back,,", "eval_time,evaluation,time_in_stage,,",
        "demo_booking,evaluation,pain_point,Slow_Demo_Booking,", "trust_center,evaluation,pain_point,security_review,",
        "decision_time,decision,time_in_stage,,", "decision_vouched,decision,drop_off,,2",
        "migration,onboarding,pain_point,data_migration,", "onboard_drop,onboarding,drop_off,,",
        "onboard_time,onboarding,time_in_stage,,",
        "adoption_loop,adoption,loop_back,,", "feature_guides,adoption,pain_point,low_feature_discovery,",
        "qbr_vouched,adoption,drop_off,,3",
    ])
    metrics = metrics_table(
        entered=[100, 90, 70, 40, 30, 0, 0],
        drop_off_rate=[0.10, 0.20, 0.38, 0.25, NAN, NAN, NAN],
        median_days=[2.5, 12.4, 0.0, 1.0, 46.0, NAN, NAN],
        p90_days=[12.0, 30.0, 0.0, 41.6, 90.0, NAN, NAN],
        loop_back_rate=[0.0, 0.31, 0.004, 0.1, 0.0, NAN, NAN],
    )
    pain_points = pain_point_table([
        ("evaluation", "slow_demo_booking", 29, 0.41, 0.22, 0.51, NAN, NAN),
        ("research", "unclear_pricing", 0, 0.0, NAN, NAN, NAN, NAN),
        ("onboarding", "data_migration", 4, 0.12, NAN, NAN, NAN, NAN),
        ("adoption", "low_feature_discovery", 3, 0.5, 0.1, 0.3, NAN, NAN),
    ])

    candidates = candidates_for(catalog, metrics, pain_points)

    expected = pd.DataFrame([
        ("aware_drop", "awareness: 10% drop-off, the 4th highest of 4 stages"),
        ("aware_time", "awareness: median 2.5 days in stage (p90 12)"),
        ("decision_time", "decision: median 1 day in stage (p90 42)"),
        ("decision_vouched", "decision: 25% drop-off, the 2nd highest of 4 stages"),
        ("demo_booking", "evaluation: 'slow_demo_booking' met by 41% of accounts (conversion 22% vs 51% without)"),
        ("eval_drop", "evaluation: 38% drop-off, the highest of 4 stages"),
        ("eval_loop", "evaluation: <1% of accounts loop back"),
        ("migration", "onboarding: 'data_migration' met by 12% of accounts"),
        ("onboard_time", "onboarding: median 46 days in stage (p90 90)"),
        ("qbr_vouched", "user estimate"),
        ("research_drop", "research: 20% drop-off, the 3rd highest of 4 stages"),
        ("research_loop", "research: 31% of accounts loop back"),
    ], columns=["id", "diagnosis"])
    pd.testing.assert_frame_equal(candidates[["id", "diagnosis"]], expected)
    chosen = catalog.loc[catalog["id"].isin(expected["id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(candidates.drop(columns="diagnosis"), chosen)


def test_nothing_fires_where_nobody_entered_but_the_user_estimate_stands(tmp_path):
    catalog = catalog_of(tmp_path, ["guides,adoption,pain_point,low_feature_discovery,",
                                    "qbr,adoption,drop_off,,1.5"])
    metrics = metrics_table(entered=[0] * 7, drop_off_rate=[NAN] * 7, median_days=[NAN] * 7, p90_days=[NAN] * 7,
                            loop_back_rate=[NAN] * 7)

    candidates = candidates_for(catalog, metrics, NO_PAIN_POINTS)

    assert list(candidates.columns) == [*catalog.columns, "diagnosis"]
    assert candidates[["id", "diagnosis"]].to_dict("records") == [{"id": "qbr", "diagnosis": "user estimate"}]


def test_stage_metrics_computed_from_a_tiny_export_trigger_as_expected(tmp_path):
    day = pd.Timestamp("2024-01-01", tz="UTC")
    walks = {
        "a1": [(0, "awareness"), (2, "research"), (5, "evaluation"), (9, "research"), (12, "evaluation"),
               (20, "decision")],
        "a2": [(0, "awareness"), (4, "research")],
        "a3": [(0, "awareness"), (3, "research"), (10, "evaluation"), (30, "decision"), (200, "onboarding")],
    }
    raw = pd.DataFrame([(account, day + pd.Timedelta(days=offset), stage)
                        for account, walk in walks.items() for offset, stage in walk],
                       columns=["account_id", "timestamp", "stage"])
    events = canonical_events(raw, stage_map={}, source=None)
    export_time = events["timestamp"].max()
    status = account_status(events, None, export_time=export_time, stale_after_days=90)
    visits = stage_visits(events, export_time=export_time, status=status)
    metrics = stage_metrics(visits, events, account_outcomes(visits, status, target_stage="onboarding"))
    catalog = catalog_of(tmp_path, ["champion_kit,evaluation,loop_back,,", "deal_desk,decision,drop_off,,",
                                    "lead_scoring,research,time_in_stage,,", "battlecards,awareness,loop_back,,"])

    candidates = candidates_for(catalog, metrics, NO_PAIN_POINTS)

    assert candidates[["id", "diagnosis"]].to_dict("records") == [
        {"id": "champion_kit", "diagnosis": "evaluation: 50% of accounts loop back"},
        {"id": "deal_desk", "diagnosis": "decision: 50% drop-off, the highest of 4 stages"},
        {"id": "lead_scoring", "diagnosis": "research: median 6 days in stage (p90 6.8)"},
    ]
