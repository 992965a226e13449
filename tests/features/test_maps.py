import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.journeys import stage_visits
from features.maps import CHANNEL_TEAMS, FLOWS_COLUMNS, TOUCHPOINTS_COLUMNS, stage_flows, stage_touchpoints
from recommender.contract import CHANNELS, STAGE_ORDER, STAGES


def events_of(rows: list[tuple[str, str, str | None, str | None]]) -> pd.DataFrame:
    """Journey-ordered events from (account, stage, channel, touchpoint) rows."""
    account, stage, channel, touchpoint = zip(*rows)
    return pd.DataFrame({
        "account_id": pd.Categorical(account),
        "stage": pd.Series(stage, dtype="str"),
        "stage_order": [STAGE_ORDER[name] for name in stage],
        "channel": pd.Series(channel, dtype="str"),
        "touchpoint": pd.Series(touchpoint, dtype="str"),
    })


def test_touchpoints_count_events_and_accounts_per_stage_most_frequent_first():
    events = events_of([
        ("a", "awareness", "paid", "ad"), ("a", "awareness", "owned", "blog"), ("a", "research", "owned", "webinar"),
        ("b", "awareness", "paid", "ad"), ("b", "awareness", "paid", "ad"), ("b", "awareness", None, "blog"),
        ("b", "research", "direct_sales", "closed_lost"), ("b", "research", "owned", "feedback"),
        ("c", "research", "owned", None),
    ])

    expected = pd.DataFrame({
        "stage": ["awareness", "awareness", "awareness", "research"],
        "channel": ["paid", "owned", None, "owned"],
        "touchpoint": ["ad", "blog", "blog", "webinar"],
        "events": [3, 1, 1, 1],
        "accounts": [2, 1, 1, 1],
    }).astype({"stage": "str", "channel": "str", "touchpoint": "str"})
    pd.testing.assert_frame_equal(stage_touchpoints(events), expected)


@pytest.mark.parametrize("missing", ["channel", "touchpoint"])
def test_touchpoints_are_empty_without_channel_or_touchpoint_columns(missing):
    events = events_of([("a", "awareness", "paid", "ad")]).drop(columns=missing)

    touchpoints = stage_touchpoints(events)

    assert touchpoints.empty and tuple(touchpoints.columns) == TOUCHPOINTS_COLUMNS
    assert touchpoints[["events", "accounts"]].dtypes.tolist() == ["int64", "int64"]


def test_every_contract_channel_has_an_owning_team():
    assert set(CHANNEL_TEAMS) == set(CHANNELS)


def test_flows_count_forward_moves_and_loop_backs():
    visits = pd.DataFrame({
        "account_id": pd.Categorical(["a", "a", "a", "a", "b", "b", "c"]),
        "stage_order": [0, 1, 2, 1, 0, 1, 0],
        "next_stage_order": [1, 2, 1, -1, 1, -1, -1],
    })

    expected = pd.DataFrame({
        "from_stage": ["awareness", "research", "evaluation"],
        "to_stage": ["research", "evaluation", "research"],
        "moves": [2, 1, 1],
        "accounts": [2, 1, 1],
        "kind": ["forward", "forward", "back"],
    }).astype({"from_stage": "str", "to_stage": "str", "kind": "str"})
    pd.testing.assert_frame_equal(stage_flows(visits), expected)


walks = st.lists(st.lists(st.sampled_from(STAGES[:5]), min_size=1, max_size=6), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(walks=walks)
def test_flows_account_for_every_move_between_consecutive_visits(walks):
    """Each account's visits less one are its moves; a move is forward exactly when it goes to a later stage."""
    start = pd.Timestamp("2024-01-01T00:00:00Z")
    rows = [(f"a{n}", start + pd.Timedelta(hours=k), stage)
            for n, walk in enumerate(walks) for k, stage in enumerate(walk)]
    events = pd.DataFrame(rows, columns=["account_id", "timestamp", "stage"]).assign(
        stage_order=lambda frame: frame["stage"].map(STAGE_ORDER))
    visits = stage_visits(events, export_time=start + pd.Timedelta(days=1),
                          status=pd.Series("open", index=sorted({row[0] for row in rows})))

    flows = stage_flows(visits)

    assert tuple(flows.columns) == FLOWS_COLUMNS
    assert flows["moves"].sum() == len(visits) - visits["account_id"].nunique()
    later = flows["to_stage"].map(STAGE_ORDER) > flows["from_stage"].map(STAGE_ORDER)
    assert (flows["kind"] == later.map({True: "forward", False: "back"})).all()
    assert (flows["accounts"] <= flows["moves"]).all()
