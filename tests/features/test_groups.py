"""Stage metrics per segment or cohort: each group's rows are the stage metrics of its accounts alone."""

import re

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import cli
from features.groups import account_groups, stage_metrics_by
from features.journeys import account_outcomes, account_status, canonical_events, stage_visits
from features.stages import stage_metrics
from recommender.contract import STAGE_METRICS_COLUMNS, STAGES
from recommender.errors import UserError
from tests.conftest import journey_of

START = pd.Timestamp("2024-01-01", tz="UTC")


@st.composite
def exports(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A few accounts, each a walk through random stages (loop-backs and ties included), a segment and a status."""
    rows, accounts = [], []
    for n in range(draw(st.integers(1, 6))):
        day = draw(st.integers(0, 30))
        for stage in draw(st.lists(st.sampled_from(STAGES), min_size=1, max_size=5)):
            day += draw(st.integers(0, 9))
            rows.append({"account_id": f"a{n}", "timestamp": START + pd.Timedelta(days=day), "stage": stage,
                         "stakeholder_id": draw(st.sampled_from(["p1", "p2", None])),
                         "sentiment": draw(st.sampled_from([-0.5, 0.5, None]))})
        accounts.append({"account_id": f"a{n}", "segment": draw(st.sampled_from(["smb", "enterprise", None])),
                         "status": draw(st.sampled_from(["open", "closed"]))})
    return pd.DataFrame(rows), pd.DataFrame(accounts).astype({"segment": "str"})


def metrics_alone(events: pd.DataFrame, accounts: pd.DataFrame, *, export_time: pd.Timestamp) -> pd.DataFrame:
    """The contract's stage metrics of these accounts as if they were the whole export (taken at ``export_time``)."""
    canonical = canonical_events(events, stage_map={}, source=None)
    status = account_status(canonical, accounts, export_time=export_time, stale_after_days=90)
    visits = stage_visits(canonical, export_time=export_time, status=status)
    return stage_metrics(visits, canonical, account_outcomes(visits, status, target_stage="onboarding"))


@settings(deadline=None, max_examples=15)  # each example runs stage_metrics up to 7 times (~60 ms each)
@given(export=exports())
def test_each_segments_rows_are_the_stage_metrics_of_its_accounts_alone(export):
    events, accounts = export
    canonical, visits, outcomes = journey_of(events, accounts)

    grouped = stage_metrics_by(visits, canonical, outcomes, accounts, by="segment")

    segment = accounts.set_index("account_id")["segment"].fillna("(none)")
    assert grouped["group"].unique().tolist() == sorted(segment.unique())
    for label, rows in grouped.groupby("group", sort=False):
        members = segment.index[segment == label]
        alone = metrics_alone(events[events["account_id"].isin(members)],
                              accounts[accounts["account_id"].isin(members)], export_time=canonical["timestamp"].max())
        pd.testing.assert_frame_equal(rows.drop(columns="group").reset_index(drop=True), alone)
    assert tuple(grouped.columns) == ("group", *STAGE_METRICS_COLUMNS)


def test_cohort_is_the_quarter_of_created_at_else_of_the_first_event():
    events = pd.DataFrame({
        "account_id": ["a", "a", "b", "c", "d"],
        "timestamp": pd.to_datetime(["2024-04-01T00:00Z", "2024-01-05T00:00Z", "2024-03-31T23:59Z", "2024-07-01T00:00Z",
                                     "2024-09-30T10:00Z"], utc=True),
        "stage": ["research", "awareness", "research", "research", "research"],
    })
    accounts = pd.DataFrame({"account_id": ["c", "d", "b"],
                             "created_at": pd.to_datetime(["2023-12-31T23:00Z", None, None], utc=True)})
    canonical = canonical_events(events, stage_map={}, source=None)

    cohorts = account_groups(canonical, accounts, by="cohort")

    expected = pd.Series(["2024-Q1", "2024-Q1", "2023-Q4", "2024-Q3"], dtype="str", name="cohort",
                         index=pd.Index(["a", "b", "c", "d"], dtype="str", name="account_id"))
    pd.testing.assert_series_equal(cohorts, expected, check_index_type=True)
    assert account_groups(canonical, None, by="cohort").tolist() == ["2024-Q1", "2024-Q1", "2024-Q3", "2024-Q3"]


def test_segments_need_a_segment_column():
    canonical = canonical_events(pd.DataFrame({"account_id": ["a"], "timestamp": [START], "stage": ["research"]}),
                                 stage_map={}, source=None)

    with pytest.raises(UserError, match=re.escape("grouping by segment needs an accounts table with a 'segment' "
                                                  "column; add accounts.csv with account_id, segment") + "$"):
        account_groups(canonical, pd.DataFrame({"account_id": ["a"]}), by="segment")


@pytest.mark.parametrize(("by", "groups"), [("segment", ["mid_market", "smb"]), ("cohort", ["2024-Q1"])])
def test_diagnose_by_writes_the_long_table_and_a_report_section(tmp_path, crafted_export_dir, by, groups):
    out = tmp_path / "out"

    result = CliRunner().invoke(cli, ["diagnose", str(crafted_export_dir), "--out", str(out), "--by", by])

    assert result.exit_code == 0, result.output
    grouped = pd.read_csv(out / f"stage_metrics_by_{by}.csv")
    overall = pd.read_csv(out / "stage_metrics.csv")
    assert list(grouped.columns) == ["group", *STAGE_METRICS_COLUMNS]
    assert grouped["group"].unique().tolist() == groups
    assert grouped.groupby("stage", sort=False)["entered"].sum().tolist() == overall["entered"].tolist()  # a partition
    assert f"<h2>Stage metrics by {by}</h2>" in (out / "report.html").read_text()


def test_diagnose_by_something_else_is_a_usage_error(tmp_path, crafted_export_dir):
    result = CliRunner().invoke(cli, ["diagnose", str(crafted_export_dir), "--out", str(tmp_path / "out"),
                                      "--by", "region"])

    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()
