"""Stage metrics per group of accounts (``diagnose --by segment|cohort``), in one long table.

Each group's rows are features.stages.stage_metrics of that group's accounts alone, on the journey
built from the whole export (so the export time, and with it open accounts' censoring, is the export's).
"""

from typing import Literal

import pandas as pd

from features.stages import stage_metrics
from features.visits import NO_SEGMENT
from recommender.contract import STAGE_METRICS_COLUMNS
from recommender.errors import UserError

GROUPINGS: tuple[str, ...] = ("segment", "cohort")
GROUP_COLUMN = "group"


def stage_metrics_by(visits: pd.DataFrame, events: pd.DataFrame, outcomes: pd.DataFrame,
                     accounts: pd.DataFrame | None, *, by: Literal["segment", "cohort"]) -> pd.DataFrame:
    """The contract's stage metrics for each group of accounts.

    Parameters
    ----------
    visits, events, outcomes
        The whole export's journey, as features.stages.stage_metrics takes it.
    accounts
        The accounts table (``segment``, ``created_at``), or None.
    by
        ``segment`` or ``cohort`` (see :func:`account_groups`).

    Returns
    -------
    pd.DataFrame
        One row per (group, stage): ``group``, then STAGE_METRICS_COLUMNS; groups in sorted order (cohort
        labels sort in time order), stages in journey order within each. A group's coverage is its own:
        its last covered stage has ``progressed``, ``dropped`` and both rates empty.
    """
    group = account_groups(events, accounts, by=by)
    labels = {"visits": visits["account_id"].map(group), "events": events["account_id"].map(group),
              "outcomes": outcomes.index.map(group)}
    tables = [
        stage_metrics(visits[labels["visits"] == label], events[labels["events"] == label],
                      outcomes[labels["outcomes"] == label]).assign(**{GROUP_COLUMN: label})
        for label in sorted(group.unique())
    ]
    return pd.concat(tables, ignore_index=True)[[GROUP_COLUMN, *STAGE_METRICS_COLUMNS]]


def account_groups(events: pd.DataFrame, accounts: pd.DataFrame | None, *,
                   by: Literal["segment", "cohort"]) -> pd.Series:
    """The group of every account in ``events``.

    ``segment``: the accounts table's segment, ``(none)`` where it has none. ``cohort``: the calendar
    quarter (UTC) the account entered the journey, as ``2024-Q3``: ``accounts.created_at`` where given,
    else its first event.

    Returns
    -------
    pd.Series
        The group label (``str``), indexed by ``account_id`` (sorted).

    Raises
    ------
    UserError
        For an unknown ``by``, or ``segment`` without a segment column.
    """
    if by not in GROUPINGS:
        raise UserError(f"cannot group by {by!r}; use one of {', '.join(GROUPINGS)}")
    first_event = events.groupby("account_id", sort=True, observed=True)["timestamp"].min()
    first_event.index = first_event.index.astype("str")
    if by == "segment":
        if accounts is None or "segment" not in accounts.columns:
            raise UserError("grouping by segment needs an accounts table with a 'segment' column; add accounts.csv "
                            "with account_id, segment")
        return _per_account(accounts, "segment", first_event.index).fillna(NO_SEGMENT).astype("str").rename(by)
    entered = first_event
    if accounts is not None and "created_at" in accounts.columns:
        entered = _per_account(accounts, "created_at", first_event.index).fillna(first_event)
    return (entered.dt.year.astype("str") + "-Q" + entered.dt.quarter.astype("str")).astype("str").rename(by)


def _per_account(accounts: pd.DataFrame, column: str, ids: pd.Index) -> pd.Series:
    return pd.Series(accounts[column].to_numpy(), index=accounts["account_id"].to_numpy()).reindex(ids)
