"""Vendor exports -> the contract's ``events`` and ``accounts`` tables (shared/contract.md, "Importers").

Pure conversions of tables that io read as text. Stage names stay as the vendor spells them: the
config's stage map turns them into canonical stages later (features.journeys.canonical_events).
Every vendor cell is checked here, against the vendor's file, spreadsheet row and column name,
because the tables made here no longer line up with the vendor's rows.
"""

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from features.journeys import CLOSED, OPEN
from recommender.contract import ACCOUNTS, EVENTS, LOST, STAGES, WON_STAGE, Column
from recommender.errors import UserError, file_row
from recommender.io import parse_columns

SALES_CHANNEL = "direct_sales"  # CRM stage changes are the sales team's work
_HUBSPOT_DATE_ENTERED = re.compile(r'^Date entered "(?P<stage>.+) \((?P<pipeline>[^()]+)\)"$')
_HUBSPOT_DEALS = (
    Column("Record ID", "string", required=True),
    Column("Deal Stage", "string", required=True),
    Column("Amount", "float"),
    Column("Create Date", "datetime"),
)
_SALESFORCE_HISTORY = (
    Column("OpportunityId", "string", required=True),
    Column("StageName", "string", required=True),
    Column("CreatedDate", "datetime", required=True),
)
_SALESFORCE_OPPORTUNITIES = (
    Column("Id", "string", required=True),
    Column("AccountId", "string"),
    Column("IsClosed", "string", required=True),
    Column("Amount", "float"),
    Column("Type", "string"),
)
_SALESFORCE_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def from_hubspot(deals: pd.DataFrame, *, source: str, stage_map: Mapping[str, str] | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """HubSpot's deals export as the contract's tables.

    Parameters
    ----------
    deals
        One row per deal, as exported: ``Record ID``, ``Deal Stage``, optional ``Amount`` and
        ``Create Date``, and one ``Date entered "<stage> (<pipeline>)"`` column per pipeline stage.
    source
        The file the rows come from, for error messages.
    stage_map
        Stage name (lower case) -> canonical stage or ``lost``, to tell closed deals from open ones.

    Returns
    -------
    tuple[pd.DataFrame, pd.DataFrame]
        ``events``: one row per filled ``Date entered`` cell (deals in file order): ``account_id,
        timestamp, stage`` (the HubSpot stage name), ``channel`` (``direct_sales``), ``touchpoint``
        (the stage name again). ``accounts``: one row per deal, in file order: ``account_id, value,
        created_at, deal_stage, status`` (``closed`` when ``Deal Stage`` maps to ``lost`` or to the won
        stage, ``open`` when it maps to another stage, empty when the map does not know it).
    """
    stage_dates = {column: match["stage"] for column in deals.columns
                   if (match := _HUBSPOT_DATE_ENTERED.match(column))}
    if not stage_dates:
        raise UserError("no 'Date entered \"<stage> (<pipeline>)\"' columns; export the deals with their "
                        "pipeline's stage dates", path=source)
    parsed = parse_columns(deals, [*_HUBSPOT_DEALS, *(Column(name, "datetime") for name in stage_dates)],
                           source=source)
    events = _stage_date_events(parsed, id_column="Record ID", stage_columns=stage_dates)
    accounts = _renamed(parsed, {"Record ID": "account_id", "Amount": "value", "Create Date": "created_at",
                                 "Deal Stage": "deal_stage"})
    accounts = accounts.assign(status=_deal_stage_status(accounts["deal_stage"], stage_map or {}))
    return (_contract_table(events.assign(channel=SALES_CHANNEL, touchpoint=events["stage"]), EVENTS),
            _contract_table(accounts, ACCOUNTS))


def from_salesforce(history: pd.DataFrame, opportunities: pd.DataFrame, *, history_source: str,
                    opportunities_source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Salesforce's ``OpportunityHistory`` and ``Opportunity`` exports as the contract's tables.

    The journey is the opportunity. Column names match case-insensitively, as Salesforce's API names
    do (Data Loader writes them in capitals).

    Parameters
    ----------
    history
        One row per stage change: ``OpportunityId, StageName, CreatedDate`` (others ignored).
    opportunities
        One row per opportunity: ``Id, IsClosed``, optional ``AccountId, Amount, Type``.

    Returns
    -------
    tuple[pd.DataFrame, pd.DataFrame]
        ``events``: one row per history row, in file order: ``account_id`` (``OpportunityId``),
        ``timestamp`` (``CreatedDate``), ``stage`` (``StageName``), ``channel`` (``direct_sales``),
        ``touchpoint`` (the stage name). ``accounts``: one row per opportunity, in file order:
        ``account_id`` (``Id``), ``company_id`` (``AccountId``), ``status`` (from ``IsClosed``),
        ``value`` (``Amount``), ``segment`` (``Type``).

    Raises
    ------
    UserError
        For a history row whose opportunity is not in ``opportunities``, or an ``IsClosed`` that is
        not true or false.
    """
    history = parse_columns(_api_names(history, _SALESFORCE_HISTORY), _SALESFORCE_HISTORY, source=history_source)
    opportunities = parse_columns(_api_names(opportunities, _SALESFORCE_OPPORTUNITIES), _SALESFORCE_OPPORTUNITIES,
                                  source=opportunities_source)
    orphan = ~history["OpportunityId"].isin(opportunities["Id"])
    if orphan.any():
        index = int(orphan.to_numpy().argmax())
        raise UserError(f"opportunity {history['OpportunityId'].iat[index]!r} has no row in "
                        f"{Path(opportunities_source).name}; export both files with the same filter",
                        path=history_source, row=file_row(index, history_source), column="OpportunityId")
    is_closed = opportunities["IsClosed"].str.lower().map(_SALESFORCE_BOOLEANS)
    if is_closed.isna().any():
        index = int(is_closed.isna().to_numpy().argmax())
        raise UserError(f"{opportunities['IsClosed'].iat[index]!r} is not true or false",
                        path=opportunities_source, row=file_row(index, opportunities_source), column="IsClosed")
    events = _renamed(history, {"OpportunityId": "account_id", "CreatedDate": "timestamp", "StageName": "stage"})
    accounts = _renamed(opportunities, {"Id": "account_id", "AccountId": "company_id", "Amount": "value",
                                        "Type": "segment"})
    return (_contract_table(events.assign(channel=SALES_CHANNEL, touchpoint=events["stage"]), EVENTS),
            _contract_table(accounts.assign(status=np.where(is_closed.astype(bool), CLOSED, OPEN)), ACCOUNTS))


def from_deals(deals: pd.DataFrame, *, id_column: str, stage_columns: Mapping[str, str], source: str
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Any one-row-per-deal table with a date column per stage (``--format deals``) as the contract's tables.

    Parameters
    ----------
    deals
        One row per deal: ``id_column`` and the ``stage_columns`` (dates; an empty cell: never there).
    stage_columns
        Date column -> the stage it records (a name the stage map knows, or a canonical stage).

    Returns
    -------
    tuple[pd.DataFrame, pd.DataFrame]
        ``events``: one row per filled date cell (deals in file order): ``account_id, timestamp,
        stage``. ``accounts``: ``account_id``, one row per deal in file order (status is then inferred).
    """
    _require_named_columns(deals, stage_columns, option="--stage-columns", source=source)
    parsed = parse_columns(deals, [Column(id_column, "string", required=True),
                                   *(Column(name, "datetime") for name in stage_columns)], source=source)
    events = _stage_date_events(parsed, id_column=id_column, stage_columns=stage_columns)
    return (_contract_table(events, EVENTS),
            _contract_table(_renamed(parsed, {id_column: "account_id"}), ACCOUNTS))


def rename_columns(events: pd.DataFrame, columns: Mapping[str, str], *, source: str) -> pd.DataFrame:
    """An event log under other column names (``--columns``) as the contract's ``events``.

    Parameters
    ----------
    events
        The log as read, one row per event, in file order.
    columns
        Contract event column -> the log's column holding it.

    Returns
    -------
    pd.DataFrame
        The same rows (RangeIndex), the mapped columns renamed and every contract column parsed;
        other columns kept. Cell errors name the log's own column.
    """
    contract_names = [column.name for column in EVENTS]
    unknown = [name for name in columns if name not in contract_names]
    if unknown:
        raise UserError(f"--columns names {', '.join(map(repr, unknown))}, which the contract's events do not "
                        f"have; its event columns are {', '.join(contract_names)}")
    clashing = [name for name in columns if name in events.columns and name not in columns.values()]
    if clashing:
        raise UserError(f"--columns maps {columns[clashing[0]]!r} to {clashing[0]!r}, but the table has a "
                        f"{clashing[0]!r} column too; rename one of them", path=source)
    _require_named_columns(events, columns.values(), option="--columns", source=source)
    spec = [Column(columns.get(column.name, column.name), column.kind, column.required) for column in EVENTS]
    parsed = parse_columns(events, spec, source=source)
    return parsed.drop(columns=list(dict.fromkeys(columns.values()))).assign(
        **{name: parsed[log_name] for name, log_name in columns.items()})


def parse_mapping(text: str, *, option: str) -> dict[str, str]:
    """``"a=B,c=D"`` -> ``{"a": "B", "c": "D"}``, names stripped, for options such as ``--columns``."""
    mapping: dict[str, str] = {}
    for pair in text.split(","):
        name, equals, value = (part.strip() for part in pair.partition("="))
        if not (name and equals and value):
            raise UserError(f"{option} takes NAME=VALUE pairs joined by commas, got {pair.strip()!r} in {text!r}")
        if name in mapping:
            raise UserError(f"{option} names {name!r} twice in {text!r}")
        mapping[name] = value
    return mapping


def _require_named_columns(table: pd.DataFrame, names: Iterable[str], *, option: str, source: str) -> None:
    """Raise UserError when ``option`` names columns that ``table`` lacks."""
    missing = [name for name in dict.fromkeys(names) if name not in table.columns]
    if missing:
        raise UserError(f"{option} names column(s) {', '.join(map(repr, missing))} that the table does not have; "
                        f"it has {', '.join(map(repr, table.columns))}", path=source)


def _stage_date_events(deals: pd.DataFrame, *, id_column: str, stage_columns: Mapping[str, str]) -> pd.DataFrame:
    """One event per filled stage-date cell, deal by deal in file order: ``account_id, timestamp, stage``."""
    cells = deals[list(stage_columns)].stack().dropna()  # row-major; deals has a RangeIndex
    rows, columns = cells.index.get_level_values(0), cells.index.get_level_values(1)
    return pd.DataFrame({"account_id": deals[id_column].iloc[rows].to_numpy(),
                         "timestamp": cells.reset_index(drop=True),
                         "stage": columns.map(stage_columns).to_numpy()})


def _deal_stage_status(deal_stage: pd.Series, stage_map: Mapping[str, str]) -> pd.Series:
    """``closed`` for a deal lost or won, ``open`` for one in another known stage, missing when unknown."""
    stage = deal_stage.str.lower().map({name: name for name in STAGES} | dict(stage_map))
    return pd.Series(np.where(stage.isin([LOST, WON_STAGE]), CLOSED, OPEN), index=deal_stage.index,
                     dtype="str").where(stage.notna())


def _api_names(table: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    """Salesforce API names spelled as ours, whatever their case in the file."""
    ours = {column.name.lower(): column.name for column in columns}
    return table.rename(columns=lambda name: ours.get(name.lower(), name))


def _renamed(table: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """The columns of ``names`` that ``table`` has, renamed; the others left out."""
    present = [name for name in names if name in table.columns]
    return table[present].rename(columns=names)


def _contract_table(table: pd.DataFrame, spec: tuple[Column, ...]) -> pd.DataFrame:
    """The table as a contract file would read: RangeIndex and io's dtypes for the contract columns."""
    return parse_columns(table.reset_index(drop=True), spec, source=None)
