"""stage_metrics.csv, exactly as docs/contract.md defines it: one small function per group of columns."""

import numpy as np
import pandas as pd

from features.journeys import CLOSED, OPEN, coverage
from recommender.contract import STAGE_METRICS_COLUMNS, STAGES, require_columns

_STAGE_INDEX = pd.Index(STAGES, name="stage")


def stage_metrics(visits: pd.DataFrame, events: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The contract's per-stage metrics.

    Parameters
    ----------
    visits
        From features.journeys.stage_visits.
    events
        Journey-ordered events (canonical ``stage``; optional ``stakeholder_id``, ``stakeholder_role``,
        ``sentiment``).
    outcomes
        From features.journeys.account_outcomes.

    Returns
    -------
    pd.DataFrame
        One row per canonical stage in journey order, columns ``STAGE_METRICS_COLUMNS``. Counts are
        nullable integers; stages outside the export's coverage have ``entered`` 0 and the rest empty;
        the last covered stage has ``progressed``, ``dropped`` and both rates empty.
    """
    require_columns(visits, ["account_id", "stage_order", "days", "next_stage_order"], table="visits")
    first, last = coverage(visits)
    counts = funnel_counts(visits, outcomes)
    days = days_in_stage_quantiles(visits, outcomes)
    metrics = pd.concat(
        [counts, days, loop_back_rate(visits), stakeholders_mean(events, counts["entered"]),
         sentiment_mean(events)],
        axis=1,
    )
    position = np.arange(len(STAGES))
    inside = (position >= first) & (position <= last)
    metrics.loc[~inside, metrics.columns.drop("entered")] = np.nan
    metrics.loc[position == last, ["progressed", "dropped", "conversion_rate", "drop_off_rate"]] = np.nan
    for column in ("entered", "progressed", "dropped", "open"):
        metrics[column] = metrics[column].round().astype("Int64")
    return metrics.reset_index()[list(STAGE_METRICS_COLUMNS)]


def funnel_counts(visits: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """``entered, progressed, dropped, open, conversion_rate, drop_off_rate`` per stage (all stages, as floats)."""
    entered = visits[["account_id", "stage_order"]].drop_duplicates()
    joined = entered.join(outcomes[["furthest_order", "status"]], on="account_id")
    at_furthest = joined["furthest_order"] == joined["stage_order"]
    flags = pd.DataFrame({
        "stage_order": joined["stage_order"],
        "entered": 1,
        "progressed": (joined["furthest_order"] > joined["stage_order"]).astype(int),
        "dropped": (at_furthest & (joined["status"] == CLOSED)).astype(int),
        "open": (at_furthest & (joined["status"] == OPEN)).astype(int),
    })
    counts = flags.groupby("stage_order").sum().reindex(range(len(STAGES)), fill_value=0).astype("float64")
    decided = counts["progressed"] + counts["dropped"]
    counts = counts.assign(
        conversion_rate=counts["progressed"] / decided.where(decided > 0),
        drop_off_rate=counts["dropped"] / decided.where(decided > 0),
    )
    return counts.set_axis(_STAGE_INDEX)


def days_in_stage(visits: pd.DataFrame) -> pd.DataFrame:
    """Days each account spent in each stage, summed over its visits.

    Returns
    -------
    pd.DataFrame
        One row per (account, stage entered): ``account_id, stage_order, days``.
    """
    return visits.groupby(["account_id", "stage_order"], sort=True, as_index=False)["days"].sum()


def days_in_stage_quantiles(visits: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """``median_days`` and ``p90_days`` per stage, over the accounts that have left it.

    An open account whose furthest stage is the stage is still there: censored, left out.
    """
    per_account = days_in_stage(visits).join(outcomes[["furthest_order", "status"]], on="account_id")
    still_there = (per_account["furthest_order"] == per_account["stage_order"]) & (per_account["status"] == OPEN)
    grouped = per_account.loc[~still_there].groupby("stage_order")["days"]
    quantiles = pd.DataFrame({"median_days": grouped.median(), "p90_days": grouped.quantile(0.9)})
    return quantiles.reindex(range(len(STAGES))).set_axis(_STAGE_INDEX)


def loop_back_rate(visits: pd.DataFrame) -> pd.Series:
    """Share of the accounts entering each stage that moved from it to an earlier stage at least once."""
    moved_back = visits["next_stage_order"].between(0, visits["stage_order"] - 1)
    per_account = moved_back.groupby([visits["stage_order"], visits["account_id"]]).any()
    return (per_account.groupby(level="stage_order").mean()
            .reindex(range(len(STAGES))).set_axis(_STAGE_INDEX).rename("loop_back_rate"))


def stakeholder_key(events: pd.DataFrame) -> str | None:
    """The column that tells stakeholders apart: ``stakeholder_id`` when it has any value, else the role."""
    if "stakeholder_id" in events.columns and events["stakeholder_id"].notna().any():
        return "stakeholder_id"
    if "stakeholder_role" in events.columns:
        return "stakeholder_role"
    if "stakeholder_id" in events.columns:
        return "stakeholder_id"
    return None


def distinct_stakeholders(events: pd.DataFrame, groups: np.ndarray, n_groups: int) -> np.ndarray | None:
    """How many distinct stakeholders (by :func:`stakeholder_key`) the events of each group ``0..n_groups-1``
    name; ``groups`` gives each event's group. None when the export has no stakeholder column.

    Counted on integer codes (group x stakeholder pairs), not by hashing text per group.
    """
    key = stakeholder_key(events)
    if key is None:
        return None
    who, names = pd.factorize(events[key])  # -1 where nobody is recorded
    named = who >= 0
    pairs = np.unique(groups[named].astype("int64") * (len(names) + 1) + who[named])
    return np.bincount(pairs // (len(names) + 1), minlength=n_groups)


def stakeholders_mean(events: pd.DataFrame, entered: pd.Series) -> pd.Series:
    """Distinct stakeholders per account in each stage, averaged over the accounts that entered it.

    An account with none recorded in a stage counts 0; empty everywhere when the export has no
    stakeholder column.
    """
    accounts, ids = pd.factorize(events["account_id"])
    stage = events["stage_order"].to_numpy(dtype="int64")
    distinct = distinct_stakeholders(events, accounts * len(STAGES) + stage, len(ids) * len(STAGES))
    if distinct is None:
        return pd.Series(np.nan, index=_STAGE_INDEX, name="stakeholders_mean")
    totals = distinct.reshape(-1, len(STAGES)).sum(axis=0)
    return (pd.Series(totals, index=_STAGE_INDEX, dtype="float64") / entered.where(entered > 0)).rename("stakeholders_mean")


def sentiment_mean(events: pd.DataFrame) -> pd.Series:
    """Mean ``sentiment`` of the events in each stage that carry one; empty where none do."""
    if "sentiment" not in events.columns:
        return pd.Series(np.nan, index=_STAGE_INDEX, name="sentiment_mean")
    means = events.groupby("stage_order")["sentiment"].mean()
    return means.reindex(range(len(STAGES))).set_axis(_STAGE_INDEX).rename("sentiment_mean")
