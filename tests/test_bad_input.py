"""Bad input never crashes journeyrec: a damaged export exits 0, or 1 with one line naming the place.

Each example takes a tiny simulated export (8 accounts, 53 events), makes changes that must not
matter (rows shuffled, events repeated, cells padded or recased, BOM, CRLF, every field quoted),
damages one file once (a column dropped or renamed, a bad cell, a repeated row, a truncated or
non-UTF-8 file, ...) and runs ``journeyrec diagnose`` -- a quarter of the time ``validate`` --
through click's CliRunner. Every damage carries the contract's verdict: SAME (exit 0 and the clean
export's stage metrics), OK (exit 0), BAD (exit 1 naming the file, and the row and column of a bad
cell) or ANY, where the contract is silent (exit 0, or 1 naming the same place as BAD would).
"""

import csv
import io
import string
import tempfile
import traceback
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from cli import cli
from recommender import report
from recommender.contract import ACCOUNTS, EVENTS, STAGES, Column
from recommender.simulate import simulate_export

SAME, OK, BAD, ANY = "same", "ok", "bad", "any"
EVENTS_CSV, ACCOUNTS_CSV = "events.csv", "accounts.csv"
SPECS = {EVENTS_CSV: {c.name: c for c in EVENTS}, ACCOUNTS_CSV: {c.name: c for c in ACCOUNTS}}
CHOICES = {"stage": STAGES, "status": ("open", "closed")}  # text columns that take only these (any case)
MESSAGE_LIMIT = 400  # characters after the place: a message a person reads, whatever the cell held


@dataclass(frozen=True)
class Table:
    """One CSV file as text cells, the form every change and damage works on."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, content: bytes) -> "Table":
        header, *rows = csv.reader(io.StringIO(content.decode("utf-8")))
        return cls(tuple(header), tuple(map(tuple, rows)))

    def with_cell(self, row: int, column: str, text: str) -> "Table":
        at = self.header.index(column)
        changed = self.rows[row][:at] + (text,) + self.rows[row][at + 1:]
        return replace(self, rows=self.rows[:row] + (changed,) + self.rows[row + 1:])


@dataclass(frozen=True)
class Verdict:
    """What the contract says must come of an export: ``kind`` and, for a failure, the place it names."""

    kind: str
    file: str = EVENTS_CSV
    row: int | None = None  # spreadsheet row (header = 1) of a bad cell
    column: str | None = None


@dataclass(frozen=True)
class Case:
    files: dict[str, bytes]
    command: str
    verdict: Verdict


def csv_bytes(table: Table, *, line_end: str = "\n", quote_all: bool = False, bom: bool = False) -> bytes:
    """RFC 4180 CSV, quoting a field with a comma, quote or line break (also a lone CR) or every field."""
    def field(text: str) -> str:
        return '"' + text.replace('"', '""') + '"' if quote_all or any(c in text for c in ',"\r\n') else text

    lines = (",".join(map(field, row)) + line_end for row in (table.header, *table.rows))
    return ("\ufeff" if bom else "").encode() + "".join(lines).encode("utf-8")


def _clean_tables() -> dict[str, Table]:
    export = simulate_export(8, seed=1).export
    return {EVENTS_CSV: Table.parse(report.render_csv(export.events)),
            ACCOUNTS_CSV: Table.parse(report.render_csv(export.accounts))}


CLEAN = _clean_tables()


# --- changes that must not matter ----------------------------------------------------------------


@st.composite
def reshuffled(draw, name: str) -> Table:
    """The clean table with rows in any order, events repeated, cells padded with blanks, choices recased."""
    table = CLEAN[name]
    rows = list(draw(st.permutations(table.rows)))
    if name == EVENTS_CSV:
        for _ in range(draw(st.integers(0, 3))):
            rows.insert(draw(st.integers(0, len(rows))), draw(st.sampled_from(table.rows)))
    table = replace(table, rows=tuple(rows))
    for _ in range(draw(st.integers(0, 3))):
        row, column = draw(st.integers(0, len(rows) - 1)), draw(st.sampled_from(table.header))
        cell = table.rows[row][table.header.index(column)]
        if column in CHOICES:
            cell = draw(st.sampled_from([cell.upper(), cell.title()]))
        table = table.with_cell(row, column, draw(st.sampled_from(["", " ", "\t"])) + cell
                                + draw(st.sampled_from(["", " ", "  "])))
    return table


@st.composite
def written(draw, table: Table) -> bytes:
    """The table in a layout some spreadsheet or CRM writes; every one reads the same."""
    return csv_bytes(table, line_end=draw(st.sampled_from(["\n", "\r\n"])), quote_all=draw(st.booleans()),
                     bom=draw(st.booleans())) + draw(st.sampled_from([b"", b"\n", b"\r\n\r\n"]))


# --- cell values, each with its verdict for a column ---------------------------------------------


def _as_text(column: Column) -> str:
    """The verdict on text that is no number, date or choice: fine where any text is."""
    return OK if column.kind == "string" and column.name not in CHOICES else BAD


def _as_number(column: Column, number: float) -> str:
    if column.name == "value":
        return OK if number >= 0 else BAD
    if column.name == "sentiment":
        return OK if -1 <= number <= 1 else ANY  # the contract says [-1, 1]; nothing checks it yet
    if column.kind == "datetime":
        return ANY  # "2024" is an ISO 8601 year
    return _as_text(column)


def _as_moment(column: Column, *, plausible: bool) -> str:
    if column.kind == "datetime":
        return OK if plausible else ANY
    return _as_text(column)


def _as_choice(column: Column, text: str) -> str:
    if column.name in CHOICES:
        return OK if text.lower() in CHOICES[column.name] else BAD
    return _as_text(column)


def _iso(moment: datetime, style: str) -> str:
    """``moment`` spelled one of the ways the contract reads: ISO 8601 with T, space or Z, a date, or minutes."""
    if style == "Z":
        utc = moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "date":
        return moment.date().isoformat()
    if style == "minutes":
        return moment.isoformat(sep=" ", timespec="minutes")
    return moment.isoformat(sep=style)


OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
PLAUSIBLE_MOMENTS = st.builds(
    _iso, st.datetimes(datetime(1900, 1, 2), datetime(2100, 1, 1), timezones=st.none() | OFFSETS),
    st.sampled_from(["T", " ", "Z", "date", "minutes"]))
FAR_MOMENTS = st.one_of(
    st.datetimes(datetime(1, 1, 2), datetime(1899, 12, 31)).map(datetime.isoformat),
    st.datetimes(datetime(2101, 1, 1), datetime(9999, 12, 30)).map(datetime.isoformat),
    st.sampled_from(["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00", "10000-01-01", "2262-04-12T00:00:00Z"]),
)
# what exports write for "no value", and the words pandas reads as the moment of the run
PLACEHOLDERS = ("NaN", "nan", "NA", "N/A", "#N/A", "null", "NULL", "None", "NaT", "-", "?", "now", "today")
HUGE_NUMBERS = ("1e308", "-1e308", "1.7976931348623157e308", "5e-324", "9" * 400, "1e400", "inf", "-Infinity")
WORDS = st.text(string.ascii_letters + string.digits + "_-./: ", max_size=20).map(lambda text: "x" + text)
TRICKY = st.text(st.sampled_from(list("\"',;\n\r\t =+-@\x00") + ["é", "🙂", "\u200b", "\u202e"]), min_size=1,
                 max_size=12).map(lambda text: "x" + text)
LONG = st.builds(lambda unit, times: unit * times, st.sampled_from(["x", "é", "a,b"]), st.integers(1_000, 50_000))
NUMBERS = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False))


def cell_values(column: Column) -> st.SearchStrategy[tuple[str, str]]:
    """Text for one cell of ``column`` and the contract's verdict on it."""
    return st.one_of(
        st.sampled_from(["", " ", "\t "]).map(lambda text: (text, BAD if column.required else OK)),
        st.sampled_from(PLACEHOLDERS).map(lambda text: (text, _as_text(column))),
        WORDS.map(lambda text: (text, _as_text(column))),
        TRICKY.map(lambda text: (text, _as_text(column))),
        LONG.map(lambda text: (text, _as_text(column))),
        NUMBERS.map(lambda number: (repr(number), _as_number(column, number))),
        st.sampled_from(HUGE_NUMBERS).map(lambda text: (text, ANY if column.kind == "float" else _as_text(column))),
        PLAUSIBLE_MOMENTS.map(lambda text: (text, _as_moment(column, plausible=True))),
        FAR_MOMENTS.map(lambda text: (text, _as_moment(column, plausible=False))),
        st.sampled_from([*STAGES, *CHOICES["status"]]).flatmap(lambda text: st.sampled_from(
            [text, text.upper(), text.title()])).map(lambda text: (text, _as_choice(column, text))),
    )


# --- damages: each returns the damaged file's bytes and the verdict ------------------------------


@st.composite
def untouched(draw, table: Table, name: str):
    return draw(written(table)), Verdict(SAME)


@st.composite
def bad_cell(draw, table: Table, name: str):
    row, column = draw(st.integers(0, len(table.rows) - 1)), draw(st.sampled_from(table.header))
    text, kind = draw(cell_values(SPECS[name][column]))
    note(f"{name} row {row + 2} column {column!r} = {text[:80]!r} ({len(text)} characters)")
    return draw(written(table.with_cell(row, column, text))), Verdict(kind, name, row + 2, column)


def _without(name: str, column: str) -> Verdict:
    """The verdict on a file that lacks ``column``: fine unless the contract requires it."""
    return Verdict(BAD if SPECS[name][column].required else OK, name)


@st.composite
def dropped_column(draw, table: Table, name: str):
    at = draw(st.integers(0, len(table.header) - 1))
    note(f"{name} without column {table.header[at]!r}")
    kept = Table(table.header[:at] + table.header[at + 1:], tuple(row[:at] + row[at + 1:] for row in table.rows))
    return draw(written(kept)), _without(name, table.header[at])


@st.composite
def renamed_column(draw, table: Table, name: str):
    at = draw(st.integers(0, len(table.header) - 1))
    new = draw(WORDS)
    note(f"{name} column {table.header[at]!r} renamed {new!r}")
    header = table.header[:at] + (new,) + table.header[at + 1:]
    return draw(written(replace(table, header=header))), _without(name, table.header[at])


@st.composite
def repeated_row(draw, table: Table, name: str):
    """A row again elsewhere: the same event twice is one event; the same account twice is an error."""
    copied, at = draw(st.integers(0, len(table.rows) - 1)), draw(st.integers(0, len(table.rows)))
    rows = table.rows[:at] + (table.rows[copied],) + table.rows[at:]
    later = max(at, copied + (copied >= at)) + 2
    note(f"{name} row {copied + 2} repeated at row {at + 2}")
    verdict = Verdict(SAME) if name == EVENTS_CSV else Verdict(BAD, name, later, "account_id")
    return draw(written(replace(table, rows=rows))), verdict


@st.composite
def deleted_rows(draw, table: Table, name: str):
    gone = draw(st.sets(st.integers(0, len(table.rows) - 1), min_size=1, max_size=len(table.rows) - 1))
    note(f"{name} without rows {sorted(row + 2 for row in gone)}")
    kept = tuple(row for index, row in enumerate(table.rows) if index not in gone)
    return draw(written(replace(table, rows=kept))), Verdict(OK)


@st.composite
def header_only(draw, table: Table, name: str):
    note(f"{name} has a header and no rows")
    return draw(written(replace(table, rows=()))), Verdict(BAD if name == EVENTS_CSV else OK, name)


@st.composite
def truncated(draw, table: Table, name: str):
    content = draw(written(table))
    cut = draw(st.integers(0, len(content) - 1))
    note(f"{name} cut at byte {cut} of {len(content)}: ...{content[max(0, cut - 40):cut]!r}")
    return content[:cut], Verdict(ANY, name)


@st.composite
def not_utf8(draw, table: Table, name: str):
    content = draw(written(table))
    at, junk = draw(st.integers(0, len(content))), draw(st.sampled_from([b"\xff", b"\xe9", b"\x80", b"\xed\xa0\x80"]))
    note(f"{name} with {junk!r} at byte {at}")
    return content[:at] + junk + content[at:], Verdict(BAD, name)


@st.composite
def stray_quote(draw, table: Table, name: str):
    content = draw(written(table))
    at = draw(st.integers(0, len(content)))
    note(f"{name} with a stray quote at byte {at}")
    return content[:at] + b'"' + content[at:], Verdict(ANY, name)


DAMAGES = (untouched, bad_cell, bad_cell, bad_cell, bad_cell, dropped_column, renamed_column, repeated_row,
           repeated_row, deleted_rows, header_only, truncated, not_utf8, stray_quote)


@st.composite
def cases(draw) -> Case:
    """A valid export, changed harmlessly, with one file damaged once."""
    damaged = draw(st.sampled_from([EVENTS_CSV, EVENTS_CSV, EVENTS_CSV, ACCOUNTS_CSV]))
    files = {name: draw(written(draw(reshuffled(name)))) for name in CLEAN if name != damaged}
    damage = draw(st.sampled_from(DAMAGES))
    files[damaged], verdict = draw(damage(draw(reshuffled(damaged)), damaged))
    return Case(files, draw(st.sampled_from(["diagnose", "diagnose", "diagnose", "validate"])), verdict)


# --- running a case -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str  # the run's temporary folder spelled <tmp>
    stderr: str  # likewise
    stage_metrics: bytes | None


def run(case: Case) -> Outcome:
    """Run the case's command on its files in a fresh folder; check that a failure wrote nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "export", Path(tmp) / "out"
        data.mkdir()
        for name, content in case.files.items():
            (data / name).write_bytes(content)
        where = ["--out", str(out)] if case.command == "diagnose" else []
        result = CliRunner().invoke(cli, [case.command, str(data), *where])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            pytest.fail("".join(traceback.format_exception(result.exception)))
        if result.exit_code != 0:
            assert sorted(path.name for path in Path(tmp).iterdir()) == ["export"], "a failed run wrote something"
        metrics = out / "stage_metrics.csv"
        return Outcome(result.exit_code, result.stdout.replace(tmp, "<tmp>"), result.stderr.replace(tmp, "<tmp>"),
                       metrics.read_bytes() if metrics.exists() else None)


@pytest.fixture(scope="module")
def clean() -> dict[str, Outcome]:
    """Each command's outcome on the clean export, for the SAME verdict."""
    files = {name: csv_bytes(table) for name, table in CLEAN.items()}
    outcomes = {command: run(Case(files, command, Verdict(SAME))) for command in ("diagnose", "validate")}
    assert all(outcome.exit_code == 0 for outcome in outcomes.values())
    return outcomes


def check(case: Case, clean: dict[str, Outcome]) -> None:
    """The contract's face for bad input: exit 0 or 1, and a failure is one short line naming the place."""
    outcome, verdict = run(case), case.verdict
    assert outcome.exit_code in (0, 1), outcome.stderr
    if outcome.exit_code == 1:
        assert verdict.kind in (BAD, ANY), f"a valid export failed: {outcome.stderr}"
        place = f"Error: <tmp>/export/{verdict.file}"
        if verdict.row is not None:
            place += f", row {verdict.row}, column {verdict.column!r}:"
        assert outcome.stderr.startswith(place), outcome.stderr
        assert outcome.stderr.count("\n") == 1 and outcome.stderr.endswith("\n"), outcome.stderr
        assert len(outcome.stderr) <= len(place) + MESSAGE_LIMIT, outcome.stderr
        assert outcome.stdout == ""
    else:
        assert verdict.kind != BAD, f"a bad export passed; stdout: {outcome.stdout}"
        assert outcome.stderr == ""
    if verdict.kind == SAME:
        reference = clean[case.command]
        assert (outcome.stdout, outcome.stage_metrics) == (reference.stdout, reference.stage_metrics)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_a_damaged_export_exits_0_or_names_the_place(case, clean):
    check(case, clean)


# --- what the property found, pinned ----------------------------------------------------------------


def _events_with_timestamp(text: str) -> Case:
    return Case({EVENTS_CSV: csv_bytes(CLEAN[EVENTS_CSV].with_cell(1, "timestamp", text)),
                 ACCOUNTS_CSV: csv_bytes(CLEAN[ACCOUNTS_CSV])}, "diagnose", Verdict(BAD, EVENTS_CSV, 3, "timestamp"))


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-05:00", "now", "today"])
def test_a_timestamp_past_year_9999_in_utc_or_a_word_for_now_is_a_located_error(text):
    outcome = run(_events_with_timestamp(text))

    assert outcome.exit_code == 1
    assert outcome.stderr == (f"Error: <tmp>/export/events.csv, row 3, column 'timestamp': {text!r} is not a datetime "
                              f"(expected ISO 8601, e.g. 2024-03-01T09:30:00Z)\n")


def test_an_event_exported_twice_counts_once(clean):
    events = CLEAN[EVENTS_CSV]
    with_sentiment = next(row for row in events.rows if row[events.header.index("sentiment")])
    twice = replace(events, rows=(*events.rows, with_sentiment))

    outcome = run(Case({EVENTS_CSV: csv_bytes(twice), ACCOUNTS_CSV: csv_bytes(CLEAN[ACCOUNTS_CSV])}, "diagnose",
                       Verdict(SAME)))

    assert outcome.exit_code == 0
    assert outcome.stage_metrics == clean["diagnose"].stage_metrics
