"""The importers: every vendor sample in examples/ reads as the same journey written in the contract's form.

The contract forms at the end of this file were written from the journeys behind each sample, not from
the importers: one line per account (``id status``, ``-`` when the export gives none), then one
indented line per event (``stage @ timestamp``), stage names as the vendor spells them.
"""

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from features.journeys import CLOSED_LOST
from features.stages import stage_metrics
from recommender import io
from recommender.config import load_settings
from recommender.contract import ACCOUNTS, EVENTS, Export
from recommender.errors import UserError
from recommender.importers import from_hubspot, from_salesforce, parse_mapping, rename_columns
from tests.conftest import journey_of

EXAMPLES = Path(__file__).parents[1] / "examples"
DEALS_STAGE_COLUMNS = ("First Touch=awareness,Discovery Call=research,Demo=evaluation,Proposal Sent=decision,"
                       "Signed=onboarding,Lost On=closed lost")
EVENTLOG_COLUMNS = ("account_id=Case ID,timestamp=Event Time,stage=Lifecycle Stage,touchpoint=Activity,channel=Channel,"
                    "stakeholder_id=Contact ID,stakeholder_role=Contact Role,sentiment=Sentiment,pain_point=Pain Point")
VENDOR_OPTIONS = {
    "hubspot": {},
    "salesforce": {},
    "deals": {"id_column": "Deal ID", "stage_columns": parse_mapping(DEALS_STAGE_COLUMNS, option="--stage-columns")},
}
VENDOR_EVENTS_FILE = {"hubspot": "deals.csv", "salesforce": "OpportunityHistory.csv", "deals": "deals.csv"}
HUBSPOT_STAGE_MAP = load_settings(None, data_dir=EXAMPLES / "hubspot").stage_map
AS, QTB, PS, CL = (f'Date entered "{stage} (Sales Pipeline)"'
                   for stage in ("Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled", "Closed Lost"))


def metrics_of(export: Export, stage_map: dict[str, str]) -> pd.DataFrame:
    events, visits, outcomes = journey_of(export.events, export.accounts, stage_map=stage_map)
    return stage_metrics(visits, events, outcomes)


def contract_export(folder: Path, journeys: str) -> Export:
    """The contract's form of ``journeys``: events.csv and accounts.csv written to ``folder`` and read back."""
    events, accounts = ["account_id,timestamp,stage"], ["account_id,status"]
    for line in journeys.strip().splitlines():
        if line.startswith(" "):
            stage, timestamp = line.strip().split(" @ ")
            events.append(f"{account},{timestamp},{stage}")
        else:
            account, status = line.split()
            accounts.append(f"{account},{'' if status == '-' else status}")
    folder.mkdir()
    (folder / "events.csv").write_text("\n".join(events) + "\n", encoding="utf-8")
    (folder / "accounts.csv").write_text("\n".join(accounts) + "\n", encoding="utf-8")
    return io.read_export(folder)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def hubspot_deals(*rows: list[str]) -> pd.DataFrame:
    """A HubSpot deals export as io reads it (text), with four of the pipeline's stage-date columns."""
    return pd.DataFrame(list(rows), columns=["Record ID", "Deal Stage", "Amount", "Create Date", AS, QTB, PS, CL],
                        dtype="str").replace("", None)


@pytest.mark.parametrize("sample", sorted(VENDOR_OPTIONS))
def test_vendor_sample_has_the_stage_metrics_of_its_contract_form(tmp_path, sample):
    folder = EXAMPLES / sample
    stage_map = load_settings(None, data_dir=folder).stage_map
    vendor = io.read_vendor_export(folder, stage_map=stage_map, **VENDOR_OPTIONS[sample])
    contract = contract_export(tmp_path / "contract", CONTRACT_FORMS[sample])

    assert vendor.events_path == str(folder / VENDOR_EVENTS_FILE[sample])  # later messages point at the vendor file
    pd.testing.assert_frame_equal(metrics_of(vendor, stage_map), metrics_of(contract, stage_map))


def test_event_log_under_its_own_column_names_has_the_stage_metrics_of_the_contract_form(tmp_path):
    folder = EXAMPLES / "eventlog"
    stage_map = load_settings(None, data_dir=folder).stage_map
    log = (folder / "events.csv").read_text(encoding="utf-8")
    contract_folder = tmp_path / "contract"
    contract_folder.mkdir()
    (contract_folder / "events.csv").write_text(
        "account_id,timestamp,stage,touchpoint,channel,stakeholder_id,stakeholder_role,sentiment,pain_point\n"
        + log.split("\n", 1)[1], encoding="utf-8")

    renamed = io.read_vendor_export(folder, columns=parse_mapping(EVENTLOG_COLUMNS, option="--columns"))

    contract = io.read_export(contract_folder)
    pd.testing.assert_frame_equal(renamed.events[contract.events.columns], contract.events)
    pd.testing.assert_frame_equal(metrics_of(renamed, stage_map), metrics_of(contract, stage_map))


@pytest.mark.parametrize(("folder", "expected"),
                         [("hubspot", "hubspot"), ("salesforce", "salesforce"), ("deals", "deals"),
                          ("eventlog", "contract")])
def test_format_is_detected_from_the_files(folder, expected):
    assert io.detect_format(EXAMPLES / folder) == expected


def test_contract_events_win_detection_and_an_unknown_folder_is_refused(tmp_path):
    write_csv(tmp_path / "both" / "deals.csv", [["Record ID", "Deal Stage"], ["1", "Closed Won"]])
    write_csv(tmp_path / "both" / "events.csv", [["account_id", "timestamp", "stage"]])
    (tmp_path / "none").mkdir()

    assert io.detect_format(tmp_path / "both") == "contract"
    with pytest.raises(UserError, match=re.escape(
            f"{tmp_path / 'none'}: no events.csv, events.parquet, deals.csv or OpportunityHistory.csv in this folder")):
        io.detect_format(tmp_path / "none")


def test_hubspot_tables_read_like_the_contract_tables(tmp_path):
    deals = hubspot_deals(["1", "Closed Lost", "12000", "2024-01-02 08:30", "2024-01-02 09:00", "", "2024-01-10 10:00",
                           "2024-01-20 11:00"],
                          ["2", "Qualified To Buy", "", "2024-01-03 09:00", "2024-01-03 09:15", "2024-01-05 16:45", "",
                           ""],
                          ["3", "Contract Sent (legacy)", "500", "", "2024-01-04 12:00", "", "", ""])
    contract_events = write_csv(tmp_path / "events.csv", [
        ["account_id", "timestamp", "stage", "channel", "touchpoint"],
        ["1", "2024-01-02T09:00:00Z", "Appointment Scheduled", "direct_sales", "Appointment Scheduled"],
        ["1", "2024-01-10T10:00:00Z", "Presentation Scheduled", "direct_sales", "Presentation Scheduled"],
        ["1", "2024-01-20T11:00:00Z", "Closed Lost", "direct_sales", "Closed Lost"],
        ["2", "2024-01-03T09:15:00Z", "Appointment Scheduled", "direct_sales", "Appointment Scheduled"],
        ["2", "2024-01-05T16:45:00Z", "Qualified To Buy", "direct_sales", "Qualified To Buy"],
        ["3", "2024-01-04T12:00:00Z", "Appointment Scheduled", "direct_sales", "Appointment Scheduled"],
    ])
    contract_accounts = write_csv(tmp_path / "accounts.csv", [
        ["account_id", "value", "created_at", "deal_stage", "status"],
        ["1", "12000", "2024-01-02T08:30:00Z", "Closed Lost", "closed"],
        ["2", "", "2024-01-03T09:00:00Z", "Qualified To Buy", "open"],
        ["3", "500", "", "Contract Sent (legacy)", ""],  # a stage the map does not know: status left to inference
    ])

    events, accounts = from_hubspot(deals, source="deals.csv", stage_map=HUBSPOT_STAGE_MAP)

    pd.testing.assert_frame_equal(events, io.read_table(contract_events, EVENTS))
    pd.testing.assert_frame_equal(accounts, io.read_table(contract_accounts, ACCOUNTS))


def test_salesforce_tables_read_like_the_contract_tables_whatever_the_case_of_the_api_names(tmp_path):
    history = pd.DataFrame({"OPPORTUNITYID": ["006A", "006B", "006A"],
                            "STAGENAME": ["Prospecting", "Prospecting", "Closed Won"],
                            "CREATEDDATE": ["2024-01-02T10:00:00.000Z", "2024-01-03T11:30:00.000Z",
                                            "2024-02-01T09:00:00.000Z"], "AMOUNT": ["100.00"] * 3}, dtype="str")
    opportunities = pd.DataFrame({"ID": ["006B", "006A"], "ACCOUNTID": ["001X", "001X"], "ISCLOSED": ["false", "TRUE"],
                                  "ISWON": ["false", "true"], "AMOUNT": ["2500.50", "9000"],
                                  "TYPE": ["New Customer", "Existing Customer - Upgrade"]}, dtype="str")
    contract_events = write_csv(tmp_path / "events.csv", [
        ["account_id", "timestamp", "stage", "channel", "touchpoint"],
        ["006A", "2024-01-02T10:00:00Z", "Prospecting", "direct_sales", "Prospecting"],
        ["006B", "2024-01-03T11:30:00Z", "Prospecting", "direct_sales", "Prospecting"],
        ["006A", "2024-02-01T09:00:00Z", "Closed Won", "direct_sales", "Closed Won"],
    ])
    contract_accounts = write_csv(tmp_path / "accounts.csv", [
        ["account_id", "company_id", "value", "segment", "status"],
        ["006B", "001X", "2500.50", "New Customer", "open"],
        ["006A", "001X", "9000", "Existing Customer - Upgrade", "closed"],
    ])

    events, accounts = from_salesforce(history, opportunities, history_source="OpportunityHistory.csv",
                                       opportunities_source="Opportunity.csv")

    pd.testing.assert_frame_equal(events, io.read_table(contract_events, EVENTS))
    pd.testing.assert_frame_equal(accounts, io.read_table(contract_accounts, ACCOUNTS))


def lost_and_open_hubspot_deals() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deal 1 reaches Presentation Scheduled (evaluation) and is lost; deal 2 is open in Qualified To Buy."""
    deals = hubspot_deals(["1", "Closed Lost", "12000", "", "2024-01-02 09:00", "", "2024-01-10 10:00",
                           "2024-01-20 11:00"],
                          ["2", "Qualified To Buy", "", "", "2024-01-03 09:15", "2024-01-05 16:45", "", ""])
    return from_hubspot(deals, source="deals.csv", stage_map=HUBSPOT_STAGE_MAP)


def test_lost_hubspot_deal_is_closed_and_its_furthest_stage_is_the_one_reached_before_the_loss():
    events, accounts = lost_and_open_hubspot_deals()

    _, _, outcomes = journey_of(events, accounts, stage_map=HUBSPOT_STAGE_MAP)

    expected = pd.DataFrame({"entry_order": [1, 1], "furthest_order": [2, 1], "status": ["closed", "open"],
                             "converted": [False, False]},
                            index=pd.Index(["1", "2"], dtype="str", name="account_id")).astype({"status": "str"})
    pd.testing.assert_frame_equal(outcomes, expected)


def test_lost_hubspot_deal_ends_with_a_closed_lost_event_in_that_stage():
    events, accounts = lost_and_open_hubspot_deals()

    canonical, _, _ = journey_of(events, accounts, stage_map=HUBSPOT_STAGE_MAP)

    last = canonical[canonical["account_id"] == "1"].iloc[-1]
    assert (last["stage"], last["touchpoint"], last["timestamp"]) == (
        "evaluation", CLOSED_LOST, pd.Timestamp("2024-01-20 11:00", tz="UTC"))


BAD_DATES = {
    "hubspot": ("deals.csv", [["Record ID", "Deal Stage", AS, QTB], ["1", "Qualified To Buy", "2024-02-01 10:00", ""],
                              ["2", "Qualified To Buy", "2024-02-03 09:30", "2024-02-30 10:00"]],
                {}, f"row 3, column '{QTB}': '2024-02-30 10:00'"),
    "salesforce": ("OpportunityHistory.csv", [["OpportunityId", "StageName", "CreatedDate"],
                                              ["006A", "Prospecting", "03/02/2024 10:00"]],
                   {}, "row 2, column 'CreatedDate': '03/02/2024 10:00'"),
    "deals": ("deals.csv", [["Deal ID", "Demo"], ["D-1", "2024-02-01"], ["D-2", ""], ["D-3", "next week"]],
              {"id_column": "Deal ID", "stage_columns": {"Demo": "evaluation"}}, "row 4, column 'Demo': 'next week'"),
}


@pytest.mark.parametrize("vendor", sorted(BAD_DATES))
def test_bad_date_names_the_vendor_file_row_and_column(tmp_path, vendor):
    name, rows, options, where = BAD_DATES[vendor]
    path = write_csv(tmp_path / name, rows)
    write_csv(tmp_path / "Opportunity.csv", [["Id", "IsClosed"], ["006A", "false"]])

    with pytest.raises(UserError, match=re.escape(
            f"{path}, {where} is not a datetime (expected ISO 8601, e.g. 2024-03-01T09:30:00Z)")):
        io.read_vendor_export(tmp_path, format=vendor, **options)


MISSING_COLUMNS = {
    "hubspot deal stage": ("hubspot", "deals.csv", [["Record ID", AS], ["1", "2024-02-01 10:00"]], {},
                           "missing column(s) 'Deal Stage'; it has 'Record ID', '" + AS + "'"),
    "hubspot stage dates": ("hubspot", "deals.csv", [["Record ID", "Deal Stage"], ["1", "Closed Won"]], {},
                            "no 'Date entered \"<stage> (<pipeline>)\"' columns; export the deals with their "
                            "pipeline's stage dates"),
    "salesforce is closed": ("salesforce", "Opportunity.csv", [["Id", "IsWon"], ["006A", "false"]], {},
                             "missing column(s) 'IsClosed'; it has 'Id', 'IsWon'"),
    "deals stage column": ("deals", "deals.csv", [["Deal ID", "Demo"], ["D-1", "2024-02-01"]],
                           {"id_column": "Deal ID", "stage_columns": {"Demo": "evaluation", "Signed": "onboarding"}},
                           "--stage-columns names column(s) 'Signed' that the table does not have; it has 'Deal ID', "
                           "'Demo'"),
}


@pytest.mark.parametrize("case", sorted(MISSING_COLUMNS), ids=sorted(MISSING_COLUMNS))
def test_missing_vendor_columns_are_listed(tmp_path, case):
    vendor, name, rows, options, problem = MISSING_COLUMNS[case]
    path = write_csv(tmp_path / name, rows)
    write_csv(tmp_path / "OpportunityHistory.csv", [["OpportunityId", "StageName", "CreatedDate"],
                                                    ["006A", "Prospecting", "2024-01-02T10:00:00Z"]])

    with pytest.raises(UserError, match=re.escape(f"{path}: {problem}")):
        io.read_vendor_export(tmp_path, format=vendor, **options)


@pytest.mark.parametrize(("opportunities", "problem"), [
    ([["Id", "IsClosed"], ["006B", "false"]],
     "OpportunityHistory.csv, row 2, column 'OpportunityId': opportunity '006A' has no row in Opportunity.csv; "
     "export both files with the same filter"),
    ([["Id", "IsClosed"], ["006A", "yes"]], "Opportunity.csv, row 2, column 'IsClosed': 'yes' is not true or false"),
], ids=["orphan history row", "is closed not a boolean"])
def test_salesforce_files_must_agree(tmp_path, opportunities, problem):
    write_csv(tmp_path / "OpportunityHistory.csv", [["OpportunityId", "StageName", "CreatedDate"],
                                                    ["006A", "Prospecting", "2024-01-02T10:00:00Z"]])
    write_csv(tmp_path / "Opportunity.csv", opportunities)

    with pytest.raises(UserError, match=re.escape(f"{tmp_path}/{problem}")):
        io.read_vendor_export(tmp_path)


def test_parse_mapping_strips_names_and_keeps_everything_after_the_first_equals_sign():
    assert parse_mapping(" account_id = Case ID ,stage=Phase=1", option="--columns") == {
        "account_id": "Case ID", "stage": "Phase=1"}


@pytest.mark.parametrize(("text", "problem"), [
    ("account_id", "--columns takes NAME=VALUE pairs joined by commas, got 'account_id' in 'account_id'"),
    ("account_id=Case,,stage=Phase", "--columns takes NAME=VALUE pairs joined by commas, got '' in "
                                     "'account_id=Case,,stage=Phase'"),
    ("stage=Phase,stage=Step", "--columns names 'stage' twice in 'stage=Phase,stage=Step'"),
], ids=["no equals sign", "empty pair", "name twice"])
def test_bad_mapping_text_names_the_option(text, problem):
    with pytest.raises(UserError, match=re.escape(problem)):
        parse_mapping(text, option="--columns")


def test_renaming_to_an_unknown_event_column_lists_the_contract_columns():
    log = pd.DataFrame({"Case": ["a"], "Time": ["2024-01-02"], "Phase": ["research"]}, dtype="str")

    with pytest.raises(UserError, match=re.escape(
            "--columns names 'time', which the contract's events do not have; its event columns are account_id, "
            "timestamp, stage, channel, touchpoint, stakeholder_role, stakeholder_id, sentiment, pain_point")):
        rename_columns(log, {"account_id": "Case", "time": "Time", "stage": "Phase"}, source="events.csv")


@pytest.mark.parametrize(("format", "options", "problem"), [
    ("deals", {"id_column": "Deal ID"},
     '--format deals needs --id-column COL and --stage-columns "COL=STAGE,COL=STAGE,..."'),
    ("hubspot", {"columns": {"stage": "Phase"}}, "--columns renames an event log's columns (--format contract); "
                                                 "--format hubspot reads the vendor's own column names"),
    ("salesforce", {"id_column": "Id"}, "--id-column and --stage-columns describe a --format deals table, not "
                                        "--format salesforce"),
    ("pipedrive", {}, "unknown format 'pipedrive'; use one of contract, hubspot, salesforce, deals"),
], ids=["deals without columns", "columns with a vendor format", "deal options elsewhere", "unknown format"])
def test_options_that_do_not_fit_the_format_are_refused(format, options, problem):
    with pytest.raises(UserError, match=re.escape(problem)):
        io.read_vendor_export(EXAMPLES / "hubspot", format=format, **options)


# The contract's form of each sample, written from the journeys behind it.
HUBSPOT_CONTRACT_FORM = """
18340127701 closed
    Appointment Scheduled @ 2024-01-08 09:15
    Qualified To Buy @ 2024-01-12 11:30
    Presentation Scheduled @ 2024-01-23 15:00
    Decision Maker Bought-In @ 2024-02-06 10:45
    Contract Sent @ 2024-02-20 16:10
    Closed Won @ 2024-03-04 12:00
18340127702 closed
    Appointment Scheduled @ 2024-01-10 10:20
    Presentation Scheduled @ 2024-01-24 14:00
    Qualified To Buy @ 2024-02-07 09:40
    Decision Maker Bought-In @ 2024-02-21 11:05
    Contract Sent @ 2024-03-06 17:30
    Closed Won @ 2024-03-18 10:00
18340127703 closed
    Appointment Scheduled @ 2024-01-15 13:00
    Qualified To Buy @ 2024-01-22 09:10
    Presentation Scheduled @ 2024-02-05 15:45
    Closed Lost @ 2024-02-26 08:55
18340127704 closed
    Appointment Scheduled @ 2024-01-17 16:25
    Qualified To Buy @ 2024-01-30 10:15
    Closed Lost @ 2024-03-01 14:40
18340127705 open
    Appointment Scheduled @ 2024-02-01 09:00
    Qualified To Buy @ 2024-02-09 13:20
    Presentation Scheduled @ 2024-02-20 10:30
    Decision Maker Bought-In @ 2024-03-05 15:15
    Contract Sent @ 2024-03-27 11:50
18340127706 open
    Appointment Scheduled @ 2024-05-20 14:05
18340127707 closed
    Appointment Scheduled @ 2024-01-05 08:30
    Presentation Scheduled @ 2024-01-19 11:00
    Contract Sent @ 2024-02-14 16:45
    Closed Won @ 2024-02-28 09:20
18340127708 closed
    Appointment Scheduled @ 2024-01-25 10:10
    Presentation Scheduled @ 2024-02-15 14:30
    Decision Maker Bought-In @ 2024-02-29 09:50
    Qualified To Buy @ 2024-03-10 12:00
    Closed Lost @ 2024-04-02 17:05
18340127709 open
    Appointment Scheduled @ 2024-02-12 09:45
    Presentation Scheduled @ 2024-03-01 15:30
    Qualified To Buy @ 2024-03-20 10:40
18340127710 closed
    Appointment Scheduled @ 2024-02-03 11:15
    Qualified To Buy @ 2024-02-10 10:00
    Presentation Scheduled @ 2024-02-27 13:45
    Decision Maker Bought-In @ 2024-03-12 16:20
    Contract Sent @ 2024-03-28 09:35
    Closed Won @ 2024-04-09 14:10
18340127711 open
    Appointment Scheduled @ 2024-03-04 10:00
    Qualified To Buy @ 2024-03-11 14:25
    Presentation Scheduled @ 2024-03-25 11:10
    Decision Maker Bought-In @ 2024-04-15 15:55
18340127712 closed
    Appointment Scheduled @ 2024-02-06 09:30
    Qualified To Buy @ 2024-02-13 15:00
    Presentation Scheduled @ 2024-03-01 10:20
    Decision Maker Bought-In @ 2024-03-15 13:40
    Contract Sent @ 2024-04-01 11:00
    Closed Lost @ 2024-04-22 16:30
18340127713 closed
    Appointment Scheduled @ 2024-03-01 08:50
    Qualified To Buy @ 2024-03-08 12:35
    Presentation Scheduled @ 2024-03-18 15:05
    Contract Sent @ 2024-04-10 10:25
    Closed Won @ 2024-04-24 13:15
18340127714 open
    Appointment Scheduled @ 2024-04-02 14:00
    Qualified To Buy @ 2024-04-09 09:25
    Presentation Scheduled @ 2024-04-30 16:40
18340127715 closed
    Appointment Scheduled @ 2024-03-12 11:45
    Closed Lost @ 2024-03-29 10:05
18340127716 closed
    Appointment Scheduled @ 2024-02-20 13:30
    Qualified To Buy @ 2024-02-27 10:50
    Presentation Scheduled @ 2024-03-05 14:15
    Contract Sent @ 2024-03-14 09:05
    Decision Maker Bought-In @ 2024-03-25 15:40
    Closed Won @ 2024-04-12 11:30
18340127717 open
    Appointment Scheduled @ 2024-05-28 10:35
    Qualified To Buy @ 2024-06-03 15:20
18340127718 open
    Appointment Scheduled @ 2024-01-29 12:10
    Qualified To Buy @ 2024-02-05 16:00
"""

SALESFORCE_CONTRACT_FORM = """
0068d000002zg4mAAA closed
    Prospecting @ 2024-01-09T14:02:11Z
    Qualification @ 2024-01-16T09:31:45Z
    Needs Analysis @ 2024-01-24T16:05:02Z
    Value Proposition @ 2024-02-02T10:48:37Z
    Proposal/Price Quote @ 2024-02-16T13:20:09Z
    Negotiation/Review @ 2024-02-28T11:12:54Z
    Closed Won @ 2024-03-07T15:40:21Z
0068d00000LiMcVAAV closed
    Prospecting @ 2024-01-11T10:15:03Z
    Qualification @ 2024-01-18T15:42:19Z
    Value Proposition @ 2024-01-30T09:05:48Z
    Id. Decision Makers @ 2024-02-08T14:30:00Z
    Qualification @ 2024-02-15T11:20:33Z
    Value Proposition @ 2024-02-26T16:02:07Z
    Proposal/Price Quote @ 2024-03-08T10:44:51Z
    Proposal/Price Quote @ 2024-03-12T09:13:26Z
    Negotiation/Review @ 2024-03-20T15:55:40Z
    Closed Won @ 2024-04-02T12:08:14Z
0068d000004r5yHAAQ closed
    Prospecting @ 2024-01-15T08:47:29Z
    Qualification @ 2024-01-22T13:10:05Z
    Needs Analysis @ 2024-02-01T10:33:58Z
    Value Proposition @ 2024-02-12T15:21:44Z
    Proposal/Price Quote @ 2024-02-27T09:58:12Z
    Negotiation/Review @ 2024-03-11T14:16:37Z
    Closed Lost @ 2024-03-25T10:02:50Z
0068d000003kiJfAAI closed
    Prospecting @ 2024-01-18T16:20:41Z
    Qualification @ 2024-02-01T09:44:18Z
    Closed Lost @ 2024-02-20T11:37:02Z
0068d00000IjOugAAF open
    Prospecting @ 2024-02-05T10:05:55Z
    Qualification @ 2024-02-12T14:48:30Z
    Needs Analysis @ 2024-02-19T09:12:07Z
    Value Proposition @ 2024-03-04T15:36:22Z
    Proposal/Price Quote @ 2024-03-22T11:03:49Z
    Proposal/Price Quote @ 2024-04-05T16:27:15Z
0068d00000yTMAdAAO open
    Prospecting @ 2024-05-14T13:55:08Z
0068d000003DnI8AAK closed
    Qualification @ 2024-01-08T11:22:36Z
    Value Proposition @ 2024-01-22T14:09:53Z
    Proposal/Price Quote @ 2024-02-05T10:40:17Z
    Closed Won @ 2024-02-19T09:31:04Z
0068d00000PPwtVAAT closed
    Prospecting @ 2024-02-01T09:18:27Z
    Qualification @ 2024-02-08T15:03:42Z
    Value Proposition @ 2024-02-20T10:57:09Z
    Perception Analysis @ 2024-03-01T13:45:31Z
    Needs Analysis @ 2024-03-12T09:26:58Z
    Closed Lost @ 2024-04-03T16:14:20Z
0068d00000SPZHuAAP open
    Prospecting @ 2024-02-14T11:49:13Z
    Qualification @ 2024-02-21T10:21:36Z
    Value Proposition @ 2024-03-06T15:08:44Z
    Id. Decision Makers @ 2024-03-15T09:52:19Z
    Qualification @ 2024-03-28T14:35:07Z
0068d00000tZHjQAAW closed
    Prospecting @ 2024-02-19T08:58:50Z
    Qualification @ 2024-02-26T13:27:14Z
    Needs Analysis @ 2024-03-05T10:16:39Z
    Value Proposition @ 2024-03-14T15:44:02Z
    Id. Decision Makers @ 2024-03-21T11:11:25Z
    Proposal/Price Quote @ 2024-04-04T09:39:48Z
    Negotiation/Review @ 2024-04-15T14:02:33Z
    Closed Won @ 2024-04-26T10:47:56Z
0068d00000zE95BAAS open
    Prospecting @ 2024-03-04T14:13:21Z
    Qualification @ 2024-03-11T09:08:45Z
    Value Proposition @ 2024-03-25T16:31:10Z
    Proposal/Price Quote @ 2024-04-16T10:24:37Z
    Negotiation/Review @ 2024-05-02T13:50:04Z
0068d00000gE0VrAAK closed
    Prospecting @ 2024-02-22T10:36:18Z
    Qualification @ 2024-03-01T15:19:52Z
    Value Proposition @ 2024-03-12T09:47:26Z
    Proposal/Price Quote @ 2024-03-26T14:05:43Z
    Value Proposition @ 2024-04-05T11:33:09Z
    Closed Lost @ 2024-04-30T15:58:31Z
0068d00000GI09QAAT closed
    Qualification @ 2024-03-18T09:15:44Z
    Proposal/Price Quote @ 2024-04-01T13:42:08Z
    Negotiation/Review @ 2024-04-08T10:29:35Z
    Closed Won @ 2024-04-17T16:06:52Z
0068d00000daKy8AAE open
    Prospecting @ 2024-04-08T15:27:39Z
    Qualification @ 2024-04-15T10:54:16Z
    Value Proposition @ 2024-05-06T14:18:03Z
0068d00000TvtnyAAB closed
    Prospecting @ 2024-03-20T11:41:57Z
    Closed Lost @ 2024-04-10T09:03:28Z
0068d00000PPP6UAAX open
    Prospecting @ 2024-05-27T10:12:45Z
    Qualification @ 2024-06-04T15:37:19Z
"""

DEALS_CONTRACT_FORM = """
D-1041 -
    awareness @ 2024-01-03
    research @ 2024-01-10
    evaluation @ 2024-01-18
    decision @ 2024-02-01
    onboarding @ 2024-02-15
D-1042 -
    awareness @ 2024-01-05
    research @ 2024-01-12
    decision @ 2024-01-30
    evaluation @ 2024-02-08
    onboarding @ 2024-02-22
D-1043 -
    awareness @ 2024-01-08
    research @ 2024-01-15
    evaluation @ 2024-01-29
    closed lost @ 2024-02-19
D-1044 -
    awareness @ 2024-01-10
    research @ 2024-01-17
    evaluation @ 2024-01-31
    decision @ 2024-02-14
    closed lost @ 2024-03-06
D-1045 -
    awareness @ 2024-03-01
    research @ 2024-03-08
    evaluation @ 2024-03-20
    decision @ 2024-04-10 15:30
D-1046 -
    awareness @ 2024-01-04
    research @ 2024-01-11
D-1047 -
    awareness @ 2024-05-20
D-1048 -
    awareness @ 2024-02-01
    evaluation @ 2024-02-09
    decision @ 2024-02-20
    onboarding @ 2024-03-05
D-1049 -
    awareness @ 2024-02-05
    evaluation @ 2024-02-12
    research @ 2024-02-19
    decision @ 2024-03-04
    closed lost @ 2024-03-25
D-1050 -
    awareness @ 2024-02-12
    research @ 2024-02-19
    evaluation @ 2024-03-01
    decision @ 2024-03-15
    onboarding @ 2024-03-29
D-1051 -
    awareness @ 2024-03-11
    research @ 2024-03-18
    evaluation @ 2024-04-08
D-1052 -
    awareness @ 2024-03-14
    closed lost @ 2024-03-28
D-1053 -
    awareness @ 2024-03-04
    research @ 2024-03-11
    evaluation @ 2024-03-22
    decision @ 2024-04-05
    onboarding @ 2024-04-19
D-1054 -
    awareness @ 2024-04-15
    research @ 2024-04-29
D-1055 -
    awareness @ 2024-03-25
    research @ 2024-04-01
    evaluation @ 2024-04-12
    decision @ 2024-05-03
    onboarding @ 2024-05-30 11:00
"""

CONTRACT_FORMS = {"hubspot": HUBSPOT_CONTRACT_FORM, "salesforce": SALESFORCE_CONTRACT_FORM,
                  "deals": DEALS_CONTRACT_FORM}


@pytest.mark.parametrize("sample", ["hubspot", "salesforce"])
def test_sample_vendor_export_runs_through_roadmap_end_to_end(tmp_path, sample):
    from click.testing import CliRunner

    from cli import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["roadmap", str(EXAMPLES / sample), "--budget", "15", "--no-tracking",
                                      "--out", str(out)])

    assert result.exit_code == 0, result.stderr
    plan = pd.read_csv(out / "roadmap.csv")
    assert len(plan) >= 1 and plan["effort"].sum() <= 15
    assert json.loads((out / "run.json").read_text())["diagnosis"]["accounts"] > 10
