"""Canonical events, stage visits and account outcomes: the journey as the contract defines it.

A *visit* is a run of consecutive events in one stage (a stage entry starts one). Its time runs from
its first event to the first event of the next visit, or, for the account's last visit, to its last
event (closed) or to the export time (open, and then censored).
"""

import reprlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from recommender.contract import LOST, STAGE_ORDER, STAGES, require_columns, stage_names
from recommender.errors import UserError, file_row

OPEN, CLOSED = "open", "closed"
CLOSED_LOST = "closed_lost"  # the touchpoint a lost deal's last event carries
# Touchpoints that record how a journey ended (a lost deal, a churned customer): outcomes, not behaviour.
ENDING_TOUCHPOINTS: tuple[str, ...] = (CLOSED_LOST, "cancellation", "churn", "churned", "cancelled", "closed_churned")
_CELL = reprlib.Repr()  # how a message quotes a cell: the middle of a long text is cut out
_CELL.maxstring = 60


def canonical_events(events: pd.DataFrame, *, stage_map: Mapping[str, str], source: str | None) -> pd.DataFrame:
    """Map stage names to canonical stages and put each account's events in journey order.

    Names match case-insensitively, after the stage map (keys lower case). A name mapped to ``lost``
    becomes the end of a lost deal: an event in the furthest stage the account had reached, with
    touchpoint ``closed_lost``.

    Returns
    -------
    pd.DataFrame
        One row per event (a row repeated exactly counts once), sorted by ``account_id``, ``timestamp``,
        then stage order (ties), with ``stage`` canonical and ``stage_order`` (0 = awareness) added;
        ``account_id`` becomes a categorical (sorted ids) so grouping by account is cheap; other
        columns kept.

    Raises
    ------
    UserError
        For the first row (file order) whose stage is neither canonical nor in the stage map.
    """
    require_columns(events, ["account_id", "timestamp", "stage"], table="events")
    # The few distinct names are mapped once, then spread to the rows by code.
    name_codes, names = pd.factorize(events["stage"], use_na_sentinel=False)
    lookup = {stage: stage for stage in STAGES} | dict(stage_map)
    mapped = pd.Series(names).str.strip().str.lower().map(lookup).to_numpy(dtype=object)
    unknown = pd.isna(mapped)[name_codes]
    if unknown.any():
        index = int(unknown.argmax())
        others = sorted(set(events["stage"][unknown]))
        listed = ", ".join(map(_CELL.repr, others[:8])) + (", ..." if len(others) > 8 else "")
        raise UserError(
            f"unknown stage {_CELL.repr(events['stage'].iat[index])} (unknown here: {listed}); use one of "
            f"{', '.join(STAGES)}, or map it in the config's [stage_map]",
            path=source, row=file_row(index, source), column="stage",
        )
    lost = (mapped == LOST)[name_codes]
    # NaN for lost rows, filled below
    order = np.array([STAGE_ORDER.get(stage, np.nan) for stage in mapped], dtype="float64")[name_codes]
    account_codes, account_ids = pd.factorize(events["account_id"], sort=True)  # sorted: row order never matters
    time_key = pd.DatetimeIndex(events["timestamp"]).asi8  # integers sort fast; any unit orders the same
    ranked = np.lexsort((np.where(lost, np.inf, order), time_key, account_codes))
    journey = events.iloc[ranked].assign(
        stage_order=order[ranked],
        # a categorical id: every later groupby works on integer codes instead of hashing strings
        account_id=pd.Categorical.from_codes(account_codes[ranked], categories=pd.Index(account_ids, dtype="str")),
    )
    if lost.any():
        journey = _place_lost_events(journey, lost[ranked])
    journey = journey.dropna(subset=["stage_order"])
    return _without_repeats(journey.assign(
        stage=stage_names(journey["stage_order"].to_numpy(dtype="int64")),
        stage_order=journey["stage_order"].astype("int64"),
    ).reset_index(drop=True))


def _without_repeats(journey: pd.DataFrame) -> pd.DataFrame:
    """Keep one of an event exported twice (every column equal once parsed and mapped).

    Such rows tie on account, time and stage, so in journey order they are neighbours: only the
    few tied rows are compared in full.
    """
    time_key = pd.DatetimeIndex(journey["timestamp"]).asi8
    order = journey["stage_order"].to_numpy()
    tie = (time_key[1:] == time_key[:-1]) & (order[1:] == order[:-1])
    after = np.flatnonzero(tie)
    account = journey["account_id"]
    tie[after] = account.iloc[after + 1].to_numpy() == account.iloc[after].to_numpy()
    if not tie.any():
        return journey
    tied = np.zeros(len(journey), dtype=bool)
    tied[1:] = tie
    tied[:-1] |= tie
    repeated = np.zeros(len(journey), dtype=bool)
    repeated[tied] = journey[tied].duplicated().to_numpy()
    return journey[~repeated].reset_index(drop=True)


def _place_lost_events(journey: pd.DataFrame, lost: np.ndarray) -> pd.DataFrame:
    """A ``lost`` event moves into the furthest stage reached before it; a deal lost before any stage is dropped."""
    account = journey["account_id"].to_numpy()
    furthest = journey["stage_order"].groupby(account).cummax().groupby(account).ffill()  # cummax keeps NaN rows NaN
    placed = journey.assign(stage_order=np.where(lost, furthest, journey["stage_order"]))
    if "touchpoint" in placed.columns:
        placed = placed.assign(touchpoint=placed["touchpoint"].where(~lost, CLOSED_LOST))
    else:
        placed = placed.assign(touchpoint=pd.Series(np.where(lost, CLOSED_LOST, None), index=placed.index, dtype="str"))
    return placed


def account_status(events: pd.DataFrame, accounts: pd.DataFrame | None, *, export_time: pd.Timestamp,
                   stale_after_days: int, source: str | None = None) -> pd.Series:
    """``open`` or ``closed`` for every account in ``events``.

    ``accounts.status`` wins where given; otherwise an account with a ``closed_lost`` event is closed,
    and the rest are open when their last event is within ``stale_after_days`` of the export time.

    Returns
    -------
    pd.Series
        ``status`` indexed by ``account_id`` (sorted).
    """
    by_account = events.groupby("account_id", sort=True, observed=True)
    last_event = by_account["timestamp"].max()
    recent = (export_time - last_event <= pd.Timedelta(days=stale_after_days)).to_numpy()
    if "touchpoint" in events.columns:  # a lost deal is closed however recent
        recent = recent & ~(events["touchpoint"] == CLOSED_LOST).groupby(events["account_id"], sort=True, observed=True).any().to_numpy()
    inferred = pd.Series(np.where(recent, OPEN, CLOSED), index=last_event.index.astype("str"), dtype="str")
    if accounts is not None and "status" in accounts.columns:
        given = accounts["status"].str.strip().str.lower()
        bad = given.notna() & ~given.isin([OPEN, CLOSED])
        if bad.any():
            index = int(bad.to_numpy().argmax())
            raise UserError(f"{_CELL.repr(accounts['status'].iat[index])} is not a status (expected 'open' or 'closed')",
                            path=source, row=file_row(index, source), column="status")
        stated = pd.Series(given.to_numpy(), index=accounts["account_id"].to_numpy()).dropna()
        inferred = stated.reindex(inferred.index).fillna(inferred).astype("str")
    return inferred.rename("status").rename_axis("account_id")


def stage_visits(events: pd.DataFrame, *, export_time: pd.Timestamp, status: pd.Series) -> pd.DataFrame:
    """Cut each account's journey-ordered events into stage visits.

    Parameters
    ----------
    events
        From :func:`canonical_events` (sorted, ``stage_order`` present).
    status
        ``open``/``closed`` per ``account_id``, from :func:`account_status`.

    Returns
    -------
    pd.DataFrame
        One row per visit, in time order within each account: ``account_id, stage, stage_order,
        visit (0-based within account), started_at, ended_at, days, events, next_stage_order
        (-1 after the last visit), last (the account's final visit), censored (final visit of an
        open account)``. Also returned: the event-to-visit map as ``events`` column ``visit_id``
        via :func:`visit_ids`.
    """
    require_columns(events, ["account_id", "timestamp", "stage_order"], table="events")
    visit_id = visit_ids(events)
    grouped = events.groupby(visit_id, sort=True)
    visits = pd.DataFrame({
        "account_id": grouped["account_id"].first(),
        "stage_order": grouped["stage_order"].first(),
        "started_at": grouped["timestamp"].first(),
        "last_event_at": grouped["timestamp"].last(),
        "events": grouped.size(),
    }).reset_index(drop=True)
    same_account_next = visits["account_id"].shift(-1) == visits["account_id"]
    is_open = visits["account_id"].map(status).eq(OPEN).to_numpy()
    account_last = visits.groupby("account_id", sort=False)["last_event_at"].transform("last")
    final_end = account_last.where(~is_open, export_time)  # stays datetime (np.where would box every moment)
    ended_at = visits["started_at"].shift(-1).where(same_account_next, final_end)
    return visits.assign(
        stage=stage_names(visits["stage_order"].to_numpy()),
        visit=visits.groupby("account_id", sort=False).cumcount(),
        ended_at=ended_at,
        days=(ended_at - visits["started_at"]) / pd.Timedelta(days=1),
        next_stage_order=visits["stage_order"].shift(-1).where(same_account_next).fillna(-1).astype("int64"),
        last=~same_account_next,
        censored=~same_account_next & is_open,
    ).drop(columns="last_event_at")[
        ["account_id", "stage", "stage_order", "visit", "started_at", "ended_at", "days", "events",
         "next_stage_order", "last", "censored"]
    ]


def visit_ids(events: pd.DataFrame) -> np.ndarray:
    """The 0-based visit number of each journey-ordered event, counted over the whole export."""
    account = events["account_id"].to_numpy()
    order = events["stage_order"].to_numpy()
    starts = np.ones(len(events), dtype=bool)
    starts[1:] = (account[1:] != account[:-1]) | (order[1:] != order[:-1])
    return np.cumsum(starts) - 1


def account_outcomes(visits: pd.DataFrame, status: pd.Series, *, target_stage: str) -> pd.DataFrame:
    """Where each account got to.

    Returns
    -------
    pd.DataFrame
        One row per account, index ``account_id`` (sorted): ``entry_order`` (first stage's order),
        ``furthest_order`` (latest stage ever entered), ``status``, ``converted`` (reached ``target_stage``).
    """
    grouped = visits.groupby("account_id", sort=True, observed=True)["stage_order"]
    outcomes = pd.DataFrame({"entry_order": grouped.first(), "furthest_order": grouped.max()})
    outcomes.index = outcomes.index.astype("str")
    return outcomes.assign(
        status=status.reindex(outcomes.index),
        converted=outcomes["furthest_order"] >= STAGE_ORDER[target_stage],
    )


def coverage(visits: pd.DataFrame) -> tuple[int, int]:
    """The first and last stage orders any account entered: the part of the journey the export covers."""
    return int(visits["stage_order"].min()), int(visits["stage_order"].max())


def validate_accounts(accounts: pd.DataFrame, *, source: str | None) -> pd.DataFrame:
    """Check the accounts table's domain rules: one row per account, ``value`` >= 0.

    Raises
    ------
    UserError
        Naming the row and column of the first problem.
    """
    duplicated = accounts["account_id"].duplicated()
    if duplicated.any():
        index = int(duplicated.to_numpy().argmax())
        first = int((accounts["account_id"] == accounts["account_id"].iat[index]).to_numpy().argmax())
        raise UserError(f"account {_CELL.repr(accounts['account_id'].iat[index])} appears twice (first at row "
                        f"{file_row(first, source)}); keep one row per account",
                        path=source, row=file_row(index, source), column="account_id")
    if "value" in accounts.columns:
        negative = accounts["value"] < 0
        if negative.any():
            index = int(negative.to_numpy().argmax())
            raise UserError(f"value {accounts['value'].iat[index]:g} is negative (expected a deal value >= 0)",
                            path=source, row=file_row(index, source), column="value")
    return accounts
