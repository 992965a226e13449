"""stage_metrics against hand-computed numbers and against a plain re-reading of the contract."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.stages import stage_metrics
from recommender import io
from recommender.config import load_settings
from recommender.contract import STAGE_METRICS_COLUMNS, STAGES
from tests.conftest import journey_of

NA = pd.NA
nan = np.nan


def test_crafted_export_matches_hand_computed_metrics(crafted_export_dir):
    export = io.read_export(crafted_export_dir)
    settings = load_settings(None, data_dir=crafted_export_dir)
    events, visits, outcomes = journey_of(export.events, export.accounts, stage_map=settings.stage_map)

    metrics = stage_metrics(visits, events, outcomes)

    expected = pd.DataFrame({
        "stage": list(STAGES),
        "entered": pd.array([3, 4, 2, 2, 1, 0, 0], dtype="Int64"),
        "progressed": pd.array([3, 3, 1, 1, NA, NA, NA], dtype="Int64"),
        "dropped": pd.array([0, 1, 1, 0, NA, NA, NA], dtype="Int64"),
        "open": pd.array([0, 0, 0, 1, 0, NA, NA], dtype="Int64"),
        "conversion_rate": [1.0, 0.75, 0.5, 1.0, nan, nan, nan],
        "drop_off_rate": [0.0, 0.25, 0.5, 0.0, nan, nan, nan],
        "median_days": [2.0, 8.5, 4.5, 5.0, 0.0, nan, nan],
        "p90_days": [2.0, 22.6, 6.5, 5.0, 0.0, nan, nan],
        "loop_back_rate": [0.0, 0.0, 1.0, 0.0, 0.0, nan, nan],
        "stakeholders_mean": [1 / 3, 0.75, 0.5, 0.0, 0.0, nan, nan],
        "sentiment_mean": [0.5, -0.2, nan, nan, nan, nan, nan],
    })
    pd.testing.assert_frame_equal(metrics, expected, check_exact=False, atol=1e-9)
    assert tuple(metrics.columns) == STAGE_METRICS_COLUMNS


def test_open_accounts_are_censored_not_dropped():
    events = pd.DataFrame({
        "account_id": ["open", "open", "gone", "gone", "late"],
        "timestamp": pd.to_datetime(["2024-03-01", "2024-03-05", "2024-01-01", "2024-01-02", "2024-03-31"], utc=True),
        "stage": ["research", "evaluation", "research", "evaluation", "decision"],
    })
    canonical, visits, outcomes = journey_of(events, stale_after_days=30)
    metrics = stage_metrics(visits, canonical, outcomes).set_index("stage")

    assert metrics.loc["evaluation", ["dropped", "open"]].tolist() == [1, 1]  # "open" is recent, "gone" is stale
    assert metrics.loc["evaluation", "median_days"] == 0.0  # only "gone" left evaluation: its last event ends it
    assert metrics.loc["research", "median_days"] == 2.5  # both left research: 4 days and 1 day


def test_stakeholders_fall_back_to_roles_and_are_empty_without_either_column():
    events = pd.DataFrame({
        "account_id": ["a", "a", "a", "b"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01"], utc=True),
        "stage": ["research", "research", "evaluation", "research"],
        "stakeholder_role": ["cto", "cfo", "cto", None],
    })
    canonical, visits, outcomes = journey_of(events)
    by_role = stage_metrics(visits, canonical, outcomes).set_index("stage")["stakeholders_mean"]
    without = stage_metrics(visits, canonical.drop(columns="stakeholder_role"), outcomes)["stakeholders_mean"]

    assert by_role["research"] == 1.0  # a: cto and cfo, b: nobody recorded
    assert without.isna().all()


# --- a plain re-reading of the contract, account by account, as the oracle ----------------------------

def reference_metrics(events: pd.DataFrame, status: dict[str, str]) -> pd.DataFrame:
    """The contract's definitions written out with loops over accounts: slow, obvious, independent.

    An event exported twice (an identical row) is one event.
    """
    events = events.drop_duplicates()
    order = {stage: n for n, stage in enumerate(STAGES)}
    export_time = events["timestamp"].max()
    per_stage = {s: {"entered": 0, "progressed": 0, "dropped": 0, "open": 0, "days": [], "back": 0,
                     "people": 0, "sentiment": []} for s in range(len(STAGES))}
    covered = set()
    for account, group in events.groupby("account_id"):
        rows = sorted(group.itertuples(index=False), key=lambda r: (r.timestamp, order[r.stage]))
        visits = []  # [stage, first event time, last event time]
        for row in rows:
            if visits and visits[-1][0] == order[row.stage]:
                visits[-1][2] = row.timestamp
            else:
                visits.append([order[row.stage], row.timestamp, row.timestamp])
        furthest = max(v[0] for v in visits)
        covered |= {v[0] for v in visits}
        days: dict[int, float] = {}
        for k, (stage, start, last) in enumerate(visits):
            end = visits[k + 1][1] if k + 1 < len(visits) else (export_time if status[account] == "open" else last)
            days[stage] = days.get(stage, 0.0) + (end - start) / pd.Timedelta(days=1)
        for stage in days:
            cell = per_stage[stage]
            cell["entered"] += 1
            if furthest > stage:
                cell["progressed"] += 1
            elif status[account] == "closed":
                cell["dropped"] += 1
            else:
                cell["open"] += 1
            if not (furthest == stage and status[account] == "open"):
                cell["days"].append(days[stage])
            if any(v[0] == stage and w[0] < stage for v, w in zip(visits, visits[1:])):
                cell["back"] += 1
            cell["people"] += group.loc[group["stage"] == STAGES[stage], "stakeholder_id"].dropna().nunique()
        for row in rows:
            if not pd.isna(row.sentiment):
                per_stage[order[row.stage]]["sentiment"].append(row.sentiment)
    first, last = min(covered), max(covered)
    records = []
    for s, cell in per_stage.items():
        inside, decided = first <= s <= last, cell["progressed"] + cell["dropped"]
        final = s == last
        records.append({
            "stage": STAGES[s], "entered": cell["entered"],
            "progressed": cell["progressed"] if inside and not final else NA,
            "dropped": cell["dropped"] if inside and not final else NA,
            "open": cell["open"] if inside else NA,
            "conversion_rate": cell["progressed"] / decided if inside and not final and decided else nan,
            "drop_off_rate": cell["dropped"] / decided if inside and not final and decided else nan,
            "median_days": float(np.median(cell["days"])) if inside and cell["days"] else nan,
            "p90_days": float(np.quantile(cell["days"], 0.9)) if inside and cell["days"] else nan,
            "loop_back_rate": cell["back"] / cell["entered"] if inside and cell["entered"] else nan,
            "stakeholders_mean": cell["people"] / cell["entered"] if inside and cell["entered"] else nan,
            "sentiment_mean": float(np.mean(cell["sentiment"])) if inside and cell["sentiment"] else nan,
        })
    frame = pd.DataFrame(records)
    for column in ("entered", "progressed", "dropped", "open"):
        frame[column] = frame[column].astype("Int64")
    return frame


@st.composite
def exports(draw):
    """A few accounts, each a random walk over the stages (loops, skips, ties), with a status each."""
    rows, status = [], {}
    for n in range(draw(st.integers(1, 6))):
        account = f"acc{n}"
        status[account] = draw(st.sampled_from(["open", "closed"]))
        day = 0
        for _ in range(draw(st.integers(1, 8))):
            day += draw(st.integers(0, 5))
            rows.append({
                "account_id": account,
                "timestamp": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=day),
                "stage": draw(st.sampled_from(STAGES)),
                "stakeholder_id": draw(st.sampled_from([None, "p1", "p2", "p3"])),
                "sentiment": draw(st.sampled_from([np.nan, -0.5, 0.25, 1.0])),
            })
    events = pd.DataFrame(rows).astype({"account_id": "str", "stage": "str"})
    return events, status


def metrics_of(events: pd.DataFrame, status: dict[str, str]) -> pd.DataFrame:
    accounts = pd.DataFrame({"account_id": list(status), "status": list(status.values())}).astype("str")
    canonical, visits, outcomes = journey_of(events, accounts)
    return stage_metrics(visits, canonical, outcomes)


@settings(max_examples=100, deadline=None)
@given(exports())
def test_metrics_equal_a_plain_reading_of_the_contract(export):
    events, status = export
    pd.testing.assert_frame_equal(metrics_of(events, status), reference_metrics(events, status),
                                  check_exact=False, atol=1e-9, check_dtype=False)


@settings(max_examples=40, deadline=None)
@given(exports(), st.integers(0, 2**32 - 1))
def test_metrics_do_not_depend_on_row_order(export, seed):
    events, status = export
    shuffled = events.sample(frac=1, random_state=seed).reset_index(drop=True)
    pd.testing.assert_frame_equal(metrics_of(events, status), metrics_of(shuffled, status))


@settings(max_examples=40, deadline=None)
@given(exports())
def test_every_entered_account_progressed_dropped_or_is_open(export):
    metrics = metrics_of(*export).dropna(subset=["progressed"])
    assert (metrics["entered"] == metrics["progressed"] + metrics["dropped"] + metrics["open"]).all()
    decided = metrics[metrics["progressed"] + metrics["dropped"] > 0]
    np.testing.assert_allclose(decided["conversion_rate"] + decided["drop_off_rate"], 1.0)


@pytest.mark.parametrize("stage", ["AWARENESS", " Research ", "Decision"], ids=["upper", "padded", "title"])
def test_stage_names_match_case_insensitively(stage):
    events = pd.DataFrame({"account_id": ["a"], "timestamp": pd.to_datetime(["2024-01-01"], utc=True), "stage": [stage]})
    canonical, _, _ = journey_of(events)
    assert canonical["stage"].iat[0] == stage.strip().lower()
