"""The model matrix: one row per stage visit, with what was known during that visit and how it ended.

Sentiment is left out on purpose: it is measured during the visit and is largely *caused* by the
pain points met there, so adjusting for it would hide the very effects the model must estimate.
"""

import numpy as np
import pandas as pd

from features.journeys import ENDING_TOUCHPOINTS, visit_ids
from features.stages import distinct_stakeholders
from recommender.contract import CHANNELS, require_columns

FORWARD, BACK, DROP = "forward", "back", "drop"
OUTCOMES: tuple[str, ...] = (FORWARD, BACK, DROP)
PAIN_PREFIX = "pain:"
NO_SEGMENT = "(none)"


def visit_features(events: pd.DataFrame, visits: pd.DataFrame, accounts: pd.DataFrame | None) -> pd.DataFrame:
    """Describe every visit by its pain points, time, committee coverage, channel mix and segment.

    Parameters
    ----------
    events
        Journey-ordered canonical events (features.journeys.canonical_events).
    visits
        From features.journeys.stage_visits, on the same events.
    accounts
        The accounts table, or None (then every account is in segment ``"(none)"`` with value 1).

    Returns
    -------
    pd.DataFrame
        One row per visit, in ``visits`` order: ``account_id, stage_order, started_at, outcome`` (``forward``,
        ``back``, ``drop``, or NA for a censored visit), ``days``, ``log_days`` (log1p of days),
        ``stakeholders`` (distinct, log1p), ``share_<channel>`` for the five channels,
        ``pain:<tag>`` (0/1, one column per tag met anywhere), ``segment`` (category), ``value``.
    """
    require_columns(visits, ["account_id", "stage_order", "days", "next_stage_order", "last", "censored"], table="visits")
    visit_id = visit_ids(events)
    n_visits = len(visits)
    # The event that records a lost deal or a churn is the outcome, not something seen during the visit.
    during = events if "touchpoint" not in events.columns else events[
        ~events["touchpoint"].str.lower().isin(ENDING_TOUCHPOINTS)]
    during_visit = visit_id[during.index.to_numpy()] if during is not events else visit_id
    outcome = np.select(
        [visits["censored"].to_numpy(), visits["last"].to_numpy(),
         (visits["next_stage_order"] > visits["stage_order"]).to_numpy()],
        [None, DROP, FORWARD], default=BACK,
    )
    columns: dict[str, object] = {
        "account_id": visits["account_id"].array,
        "stage_order": visits["stage_order"].to_numpy(),
        "started_at": visits["started_at"].array,
        "outcome": pd.array(outcome, dtype="str"),
        "days": visits["days"].to_numpy(),
        "log_days": np.log1p(visits["days"].to_numpy()),
        "stakeholders": np.log1p(_distinct_stakeholders(during, during_visit, n_visits)),
    }
    columns |= _channel_shares(during, during_visit, n_visits)
    columns |= _pain_flags(events, visit_id, n_visits)
    frame = pd.DataFrame(columns)
    segment, value = _account_attributes(frame["account_id"], accounts)
    return frame.assign(segment=segment, value=value)


def _distinct_stakeholders(events: pd.DataFrame, visit_id: np.ndarray, n_visits: int) -> np.ndarray:
    counts = distinct_stakeholders(events, visit_id, n_visits)
    return np.zeros(n_visits) if counts is None else counts.astype("float64")


def _channel_shares(events: pd.DataFrame, visit_id: np.ndarray, n_visits: int) -> dict[str, np.ndarray]:
    if "channel" not in events.columns:
        return {f"share_{channel}": np.zeros(n_visits) for channel in CHANNELS}
    channel = events["channel"].str.strip().str.lower().to_numpy()
    totals = np.maximum(np.bincount(visit_id, minlength=n_visits), 1).astype("float64")
    return {
        f"share_{name}": np.bincount(visit_id, weights=(channel == name).astype("float64"), minlength=n_visits) / totals
        for name in CHANNELS
    }


def _pain_flags(events: pd.DataFrame, visit_id: np.ndarray, n_visits: int) -> dict[str, np.ndarray]:
    if "pain_point" not in events.columns:
        return {}
    tagged = pd.DataFrame({"visit": visit_id, "tag": events["pain_point"].to_numpy()}).dropna().drop_duplicates()
    flags = {}
    for tag, group in tagged.groupby("tag", sort=True):
        column = np.zeros(n_visits)
        column[group["visit"].to_numpy()] = 1.0
        flags[f"{PAIN_PREFIX}{tag}"] = column
    return flags


def _account_attributes(account_id: pd.Series, accounts: pd.DataFrame | None) -> tuple[pd.Categorical, np.ndarray]:
    if accounts is None:
        return pd.Categorical([NO_SEGMENT] * len(account_id)), np.ones(len(account_id))
    table = accounts.drop_duplicates("account_id").set_index("account_id")
    ids = pd.Categorical(account_id)  # look each account up once, then spread by code
    segment = (table["segment"] if "segment" in table.columns else pd.Series(NO_SEGMENT, index=table.index))
    segment = segment.reindex(ids.categories).fillna(NO_SEGMENT).astype("str").to_numpy()[ids.codes]
    value = (table["value"] if "value" in table.columns else pd.Series(1.0, index=table.index))
    value = value.reindex(ids.categories).fillna(0.0).to_numpy(dtype="float64")[ids.codes]
    segment = pd.Series(segment)
    return pd.Categorical(segment.to_numpy(), categories=sorted(segment.unique())), value
