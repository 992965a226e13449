"""The journey map's behaviour layers: what accounts do in each stage, and how they move between stages."""

import pandas as pd

from features.feedback import FEEDBACK_TOUCHPOINT
from features.journeys import ENDING_TOUCHPOINTS
from recommender.contract import require_columns, stage_names

# The team that owns each contract channel: who would act on a touchpoint found there.
CHANNEL_TEAMS: dict[str, str] = {
    "owned": "marketing",
    "earned": "marketing",
    "paid": "marketing",
    "direct_sales": "sales",
    "customer_success": "customer_success",
}
TOUCHPOINTS_COLUMNS: tuple[str, ...] = ("stage", "channel", "touchpoint", "events", "accounts")
FLOWS_COLUMNS: tuple[str, ...] = ("from_stage", "to_stage", "moves", "accounts", "kind")
# Touchpoints that record an outcome or an opinion rather than something an account did.
_NOT_BEHAVIOUR = frozenset((*ENDING_TOUCHPOINTS, FEEDBACK_TOUCHPOINT))


def stage_touchpoints(events: pd.DataFrame) -> pd.DataFrame:
    """How often each touchpoint happens in each stage: the map's *doing* row.

    Endings (``closed_lost``, churn) and feedback rows are left out: they say how a journey ended or
    what an account thought, not what it did. An event without a touchpoint is left out too.

    Parameters
    ----------
    events
        Journey-ordered canonical events (``account_id, stage, stage_order``; ``channel`` and
        ``touchpoint`` when the export has them).

    Returns
    -------
    pd.DataFrame
        One row per (stage, channel, touchpoint) seen: ``stage, channel, touchpoint, events, accounts``
        (distinct accounts), sorted by stage order, then ``events`` (most first), channel, touchpoint.
        ``channel`` is missing where the event gave none. No rows when the export has no ``channel`` or
        no ``touchpoint`` column.
    """
    require_columns(events, ["account_id", "stage", "stage_order"], table="events")
    if not {"channel", "touchpoint"} <= set(events.columns):
        return pd.DataFrame({name: pd.Series(dtype="int64" if name in ("events", "accounts") else "str")
                             for name in TOUCHPOINTS_COLUMNS})
    done = events[events["touchpoint"].notna() & ~events["touchpoint"].isin(_NOT_BEHAVIOUR)]
    grouped = done.groupby(["stage_order", "stage", "channel", "touchpoint"], dropna=False, observed=True)
    counted = pd.DataFrame({"events": grouped.size(), "accounts": grouped["account_id"].nunique()}).reset_index()
    ordered = counted.sort_values(["stage_order", "events", "channel", "touchpoint"],
                                  ascending=[True, False, True, True], na_position="last", kind="stable")
    return ordered[list(TOUCHPOINTS_COLUMNS)].astype(
        {"stage": "str", "channel": "str", "touchpoint": "str", "events": "int64", "accounts": "int64"}
    ).reset_index(drop=True)


def stage_flows(visits: pd.DataFrame) -> pd.DataFrame:
    """Every observed move from one stage visit to the account's next: the map's flow, loop-backs included.

    Parameters
    ----------
    visits
        From features.journeys.stage_visits (``account_id, stage_order, next_stage_order``, -1 after
        an account's last visit).

    Returns
    -------
    pd.DataFrame
        One row per (from stage, to stage) pair seen: ``from_stage, to_stage, moves, accounts``
        (distinct accounts making the move) and ``kind`` (``forward`` to a later stage, ``back`` to an
        earlier one), sorted by the from stage's order then the to stage's.
    """
    require_columns(visits, ["account_id", "stage_order", "next_stage_order"], table="visits")
    moved = visits[visits["next_stage_order"] >= 0]
    grouped = moved.groupby(["stage_order", "next_stage_order"], observed=True)
    counted = pd.DataFrame({"moves": grouped.size(), "accounts": grouped["account_id"].nunique()}).reset_index()
    flows = counted.assign(
        from_stage=stage_names(counted["stage_order"].to_numpy()),
        to_stage=stage_names(counted["next_stage_order"].to_numpy()),
        kind=(counted["next_stage_order"] > counted["stage_order"]).map({True: "forward", False: "back"}),
    )
    return flows[list(FLOWS_COLUMNS)].astype(
        {"from_stage": "str", "to_stage": "str", "moves": "int64", "accounts": "int64", "kind": "str"})

