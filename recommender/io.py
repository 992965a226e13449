"""Every file this program reads or writes goes through this module."""

import codecs
import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import pandas as pd

from recommender.contract import ACCOUNTS, EVENTS, FEEDBACK, IMPROVEMENTS, Column, Export
from recommender.errors import UserError, file_row

_EXPECTED = {
    "string": "a value",
    "datetime": "ISO 8601, e.g. 2024-03-01T09:30:00Z",
    "float": "a number, e.g. 2.5",
}
STARTER_CATALOG = "starter_catalog.csv"
OUTPUT_MARKER = "run.json"  # an --out folder holding this file is ours to replace
_SHOWABLE_MOMENTS = (pd.Timestamp("0001-01-01", tz="UTC"), pd.Timestamp("9999-12-31 23:59:59.999999", tz="UTC"))


def read_export(data_dir: Path, *, catalog: Path | None = None) -> Export:
    """Read a contract export folder: ``events`` (required), ``accounts``, ``improvements``, ``feedback`` (optional).

    The catalog comes from ``catalog`` when given, else ``data_dir/improvements.*``, else stays None
    (the pipeline then uses the starter catalog, see :func:`read_starter_catalog`).
    """
    if not data_dir.is_dir():
        raise UserError("no such export folder", path=data_dir)
    events, events_path = _read_named(data_dir, "events", EVENTS, required=True)
    if events.empty:
        raise UserError("no events: the table has a header but no rows", path=events_path)
    accounts, accounts_path = _read_named(data_dir, "accounts", ACCOUNTS, required=False)
    return _export(data_dir, events, events_path, accounts, accounts_path, catalog=catalog)


def _export(data_dir: Path, events: pd.DataFrame, events_path: Path, accounts: pd.DataFrame | None,
            accounts_path: Path | None, *, catalog: Path | None) -> Export:
    """An Export of the journey tables read, with the catalog (``--catalog``, else the folder's) and feedback."""
    if catalog is not None:
        improvements, improvements_path = read_table(catalog, IMPROVEMENTS), catalog
    else:
        improvements, improvements_path = _read_named(data_dir, "improvements", IMPROVEMENTS, required=False)
    return Export(
        events=events,
        accounts=accounts,
        improvements=improvements,
        events_path=str(events_path),
        accounts_path=None if accounts_path is None else str(accounts_path),
        improvements_path=None if improvements_path is None else str(improvements_path),
        **_read_feedback(data_dir),
    )


def export_files(data_dir: Path) -> list[str]:
    """The names of the files an export folder may hold (tables of any format, and the config), sorted."""
    return sorted(path.name for path in data_dir.iterdir()
                  if path.is_file() and path.suffix in (".csv", ".parquet", ".toml"))


def fingerprints(paths: Sequence[Path]) -> dict[str, str]:
    """``file name -> sha256`` of each input, so a run can say exactly what it read."""
    found = {}
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        found[Path(path).name] = digest.hexdigest()
    return found


def read_starter_catalog() -> tuple[pd.DataFrame, str]:
    """The built-in catalog shipped as rules/starter_catalog.csv, and the name to cite it by."""
    source = resources.files("rules").joinpath(STARTER_CATALOG)
    with resources.as_file(source) as path:
        return read_table(path, IMPROVEMENTS), f"rules/{STARTER_CATALOG}"


def read_table(path: Path, columns: Sequence[Column]) -> pd.DataFrame:
    """Read one ``.csv`` or ``.parquet`` table and parse the contract's columns.

    Returns
    -------
    pd.DataFrame
        The file's rows in file order (RangeIndex), contract columns parsed (datetimes in UTC,
        floats as float64, text as ``str``), extra columns kept as read. Only an empty cell counts
        as missing: "NA" is a value.
    """
    if not path.is_file():
        raise UserError("no such file", path=path)
    try:
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else _read_csv_text(path)
    except (OSError, ValueError) as error:  # ParserError, ArrowInvalid and EmptyDataError are ValueErrors
        _raise_if_not_utf8(path)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot read this file ({reason})", path=path) from error

    raw.columns = [str(name).strip() for name in raw.columns]
    duplicated = raw.columns[raw.columns.duplicated()].unique().tolist()
    if duplicated:
        raise UserError(f"column(s) {', '.join(map(repr, duplicated))} appear more than once", path=path)
    return parse_columns(raw, columns, source=path)


def _read_csv_text(path: Path) -> pd.DataFrame:
    """Every cell as text, only an empty cell missing; pyarrow's reader (fast, and strict about ragged rows)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], engine="pyarrow")


def _raise_if_not_utf8(path: Path) -> None:
    """Name the first byte that is not UTF-8, the usual reason a CRM export will not read."""
    if path.suffix == ".parquet":
        return
    decoder, offset = codecs.getincrementaldecoder("utf-8")(), 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                raise UserError(f"is not UTF-8 text (byte {offset + error.start}); export it as UTF-8 CSV",
                                path=path) from error
            offset += len(block)


def _read_named(folder: Path, stem: str, columns: Sequence[Column], *, required: bool) -> tuple[pd.DataFrame | None, Path | None]:
    present = [path for path in (folder / f"{stem}.csv", folder / f"{stem}.parquet") if path.exists()]
    if len(present) > 1:
        raise UserError(f"both {stem}.csv and {stem}.parquet are present; keep one", path=folder)
    if not present:
        if required:
            raise UserError(f"no {stem}.csv or {stem}.parquet in this folder", path=folder)
        return None, None
    return read_table(present[0], columns), present[0]


def _read_feedback(folder: Path) -> dict[str, object]:
    """The Export fields of the optional ``feedback`` table, which any export format may bring."""
    feedback, path = _read_named(folder, "feedback", FEEDBACK, required=False)
    return {"feedback": feedback, "feedback_path": None if path is None else str(path)}


def _parse(raw: pd.DataFrame, column: Column, path: Path) -> pd.Series:
    values = _blank_as_missing(raw[column.name])
    if column.kind == "datetime":
        parsed = _parse_datetimes(values)
    elif column.kind == "float":
        parsed = pd.to_numeric(values, errors="coerce").astype("float64")
        parsed = parsed.where(parsed.abs() != float("inf"))  # "inf" is no number a CRM means
    else:
        parsed = values
    bad = parsed.isna() & (values.notna() | column.required)  # unparseable, or empty where required
    if bad.any():
        index = int(bad.to_numpy().argmax())
        cell = values.iat[index]
        problem = "empty cell" if pd.isna(cell) else f"{_show(cell)} is not a {column.kind}"
        raise UserError(
            f"{problem} (expected {_EXPECTED[column.kind]})",
            path=path, row=file_row(index, path), column=column.name,
        )
    if column.bounds is not None:
        low, high = column.bounds
        outside = (parsed < low) | (parsed > high)
        if outside.any():
            index = int(outside.to_numpy().argmax())
            raise UserError(f"{parsed.iat[index]:g} is outside [{low:g}, {high:g}] (expected a {column.name} "
                            f"from {low:g} to {high:g})", path=path, row=file_row(index, path), column=column.name)
    return parsed


def _blank_as_missing(values: pd.Series) -> pd.Series:
    """Text is stripped, and a cell of nothing but spaces counts as empty."""
    if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
        return values
    if not isinstance(values.dtype, pd.StringDtype):  # object cells from Parquet may be anything: text them
        values = values.where(values.isna(), values.astype("str")).astype("str")
    text = values.str.strip()  # vectorised on pyarrow strings; missing stays missing
    return text.where(text != "")


def _parse_datetimes(values: pd.Series) -> pd.Series:
    """ISO 8601 (or ``YYYY-MM-DD HH:MM``) to UTC; a value without an offset is taken as UTC.

    A moment outside the years 1 to 9999 once in UTC (``9999-12-31T23:00:00-05:00``) counts as
    unparseable: pandas holds it, but no report or calendar can show it. So do ``now`` and ``today``,
    which pandas reads as the moment of the run.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize("UTC")
    else:
        parsed = pd.to_datetime(values.where(~values.isin(("now", "today"))), format="ISO8601", utc=True,
                                errors="coerce")
    return parsed.where(parsed.between(*_SHOWABLE_MOMENTS))


def _show(cell: object) -> str:
    text = repr(cell)
    return text if len(text) <= 60 else text[:57] + "...'"


def write_outputs(files: Mapping[str, bytes], out_dir: Path, *, marker: str = OUTPUT_MARKER,
                  what: str = "journeyrec result") -> None:
    """Write a command's result files (name -> bytes) as the folder ``out_dir``: a complete result or nothing new.

    An existing folder is replaced only when it is empty or holds ``marker``, the file every result
    of this kind (called ``what`` in the message) has: a comparison's ``--out`` never replaces a run's.
    """
    _write_folder(files, Path(out_dir), marker=marker, what=what)


def write_export(files: Mapping[str, bytes], out_dir: Path) -> None:
    """Write a simulated export's tables (``events.csv``, ...) as the folder ``out_dir``, the same safe way."""
    _write_folder(files, Path(out_dir), marker="events.csv", what="export")


def _write_folder(files: Mapping[str, bytes], out_dir: Path, *, marker: str, what: str) -> None:
    """Stage ``files`` in a sibling temporary folder, then swap it in with renames.

    A folder that already exists is replaced only when it is empty or an earlier result of the same
    kind (it holds ``marker``): nothing of the user's is ever deleted, and a failure or an interrupt
    leaves the earlier result as it was.
    """
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UserError("exists and is not a folder; choose another", path=out_dir)
        if any(out_dir.iterdir()) and not (out_dir / marker).exists():
            raise UserError(f"is not empty and holds no earlier {what}; choose another folder", path=out_dir)
    target = out_dir.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as error:
        raise UserError(f"cannot create the folder ({error.strerror})", path=out_dir) from error
    try:
        for name, content in sorted(files.items()):
            (staging / name).write_bytes(content)
        _swap_in(staging, target)
    except OSError as error:
        raise UserError(f"cannot write the folder ({error.strerror})", path=out_dir) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames; the earlier folder is removed only after."""
    if not target.exists():
        os.replace(staging, target)
        return
    retired = target.with_name(f".{target.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    os.replace(target, retired)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(retired, target)  # put the earlier result back
        raise
    shutil.rmtree(retired, ignore_errors=True)


FORMATS: tuple[str, ...] = ("contract", "hubspot", "salesforce", "deals")
DEALS = "deals.csv"  # what --format hubspot and --format deals read
SALESFORCE_HISTORY, SALESFORCE_OPPORTUNITIES = "OpportunityHistory.csv", "Opportunity.csv"


def parse_columns(raw: pd.DataFrame, columns: Sequence[Column], *, source: Path | str | None) -> pd.DataFrame:
    """Parse a table already in memory as :func:`read_table` parses a file, naming ``source`` in errors.

    For vendor tables read without a spec: a missing required column or a bad cell is a UserError
    naming ``source``, the spreadsheet row and the column as the table spells it.

    Returns
    -------
    pd.DataFrame
        ``raw``'s rows in order (RangeIndex), ``columns`` parsed as in :func:`read_table`, other columns kept.
    """
    missing = [column.name for column in columns if column.required and column.name not in raw.columns]
    if missing:
        raise UserError(
            f"missing column(s) {', '.join(map(repr, missing))}; it has {', '.join(map(repr, raw.columns))}",
            path=source,
        )
    raw = raw.reset_index(drop=True)
    return raw.assign(**{c.name: _parse(raw, c, source) for c in columns if c.name in raw.columns})


def detect_format(data_dir: Path) -> str:
    """Which of FORMATS the folder holds: ``events.*`` is the contract's, ``deals.csv`` with a ``Deal Stage``
    column is HubSpot's, ``OpportunityHistory.csv`` is Salesforce's, any other ``deals.csv`` is ``deals``."""
    if not data_dir.is_dir():
        raise UserError("no such export folder", path=data_dir)
    deals = data_dir / DEALS
    if (data_dir / "events.csv").is_file() or (data_dir / "events.parquet").is_file():
        return "contract"
    if deals.is_file() and "Deal Stage" in read_table(deals, ()).columns:
        return "hubspot"
    if (data_dir / SALESFORCE_HISTORY).is_file():
        return "salesforce"
    if deals.is_file():
        return "deals"
    raise UserError(f"no events.csv, events.parquet, {DEALS} or {SALESFORCE_HISTORY} in this folder", path=data_dir)


def read_vendor_export(data_dir: Path, *, format: str | None = None, catalog: Path | None = None,
                       columns: Mapping[str, str] | None = None, id_column: str | None = None,
                       stage_columns: Mapping[str, str] | None = None,
                       stage_map: Mapping[str, str] | None = None) -> Export:
    """Read an export folder in any of FORMATS (detected when not given) as the contract's tables.

    Vendor tables become ``events`` and ``accounts`` through recommender.importers, and the Export's
    paths name the vendor files, so later messages point there. ``columns`` (``--columns``) renames
    an event log's columns; ``id_column`` and ``stage_columns`` describe a ``deals`` table;
    ``stage_map`` (lower-case names) tells HubSpot's closed deals from open ones. The contract format
    without ``columns`` is exactly :func:`read_export`.
    """
    format = detect_format(data_dir) if format is None else format
    _check_format_options(format, columns=columns, id_column=id_column, stage_columns=stage_columns)
    if format == "contract" and columns is None:
        return read_export(data_dir, catalog=catalog)
    if not data_dir.is_dir():
        raise UserError("no such export folder", path=data_dir)
    events, events_path, accounts, accounts_path = _read_vendor_tables(
        data_dir, format, columns=columns, id_column=id_column, stage_columns=stage_columns, stage_map=stage_map)
    if events.empty:
        raise UserError("no events: no rows, or no stage dates filled in", path=events_path)
    return _export(data_dir, events, events_path, accounts, accounts_path, catalog=catalog)


def _check_format_options(format: str, *, columns: Mapping[str, str] | None, id_column: str | None,
                          stage_columns: Mapping[str, str] | None) -> None:
    if format not in FORMATS:
        raise UserError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if columns is not None and format != "contract":
        raise UserError(f"--columns renames an event log's columns (--format contract); "
                        f"--format {format} reads the vendor's own column names")
    if format == "deals" and (id_column is None or stage_columns is None):
        raise UserError('--format deals needs --id-column COL and --stage-columns "COL=STAGE,COL=STAGE,..."')
    if format != "deals" and (id_column is not None or stage_columns is not None):
        raise UserError(f"--id-column and --stage-columns describe a --format deals table, not --format {format}")


def _read_vendor_tables(data_dir: Path, format: str, *, columns: Mapping[str, str] | None, id_column: str | None,
                        stage_columns: Mapping[str, str] | None, stage_map: Mapping[str, str] | None,
                        ) -> tuple[pd.DataFrame, Path, pd.DataFrame | None, Path | None]:
    """``events, events_path, accounts, accounts_path`` of a vendor folder (or a renamed event log)."""
    from recommender import importers  # importers parse cells with this module, so not imported at the top

    if format == "contract":
        log, events_path = _read_named(data_dir, "events", (), required=True)
        accounts, accounts_path = _read_named(data_dir, "accounts", ACCOUNTS, required=False)
        return importers.rename_columns(log, columns, source=str(events_path)), events_path, accounts, accounts_path
    if format == "salesforce":
        history_path, opportunities_path = data_dir / SALESFORCE_HISTORY, data_dir / SALESFORCE_OPPORTUNITIES
        events, accounts = importers.from_salesforce(
            read_table(history_path, ()), read_table(opportunities_path, ()),
            history_source=str(history_path), opportunities_source=str(opportunities_path))
        return events, history_path, accounts, opportunities_path
    deals_path = data_dir / DEALS
    if format == "hubspot":
        events, accounts = importers.from_hubspot(read_table(deals_path, ()), source=str(deals_path),
                                                  stage_map=stage_map)
    else:
        events, accounts = importers.from_deals(read_table(deals_path, ()), id_column=id_column,
                                                stage_columns=stage_columns, source=str(deals_path))
    return events, deals_path, accounts, deals_path


def read_outputs(folder: Path) -> "RunOutputs":
    """Read a ``journeyrec roadmap`` result folder back, for ``compare``.

    Returns
    -------
    RunOutputs
        ``stage_metrics``, ``roadmap`` and ``candidates`` (None when the folder has no candidates.csv),
        each with the columns recommender.compare.OUTPUT_TABLES names, parsed as :func:`read_table`
        does, in file order; ``run``, the folder's run.json.

    Raises
    ------
    UserError
        Naming the folder when it is not a roadmap result, else the file (and row and column) at fault.
    """
    import json  # local, like the import below, so that compare's reading stays one function

    from recommender.compare import OUTPUT_TABLES, RunOutputs, validate_outputs

    folder = Path(folder)
    marker = folder / OUTPUT_MARKER
    hint = "give an --out folder of 'journeyrec roadmap'"
    if not marker.is_file():
        raise UserError(f"is not a journeyrec result (no {OUTPUT_MARKER}); {hint}", path=folder)
    try:
        run = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise UserError(f"cannot read this file ({error})", path=marker) from error
    if not isinstance(run, dict):
        raise UserError("is not a journeyrec run record (expected a JSON object)", path=marker)
    tables: dict[str, pd.DataFrame | None] = {}
    for stem, (columns, required) in OUTPUT_TABLES.items():
        path = folder / f"{stem}.csv"
        if not path.is_file():
            if required:
                raise UserError(f"is not a journeyrec roadmap result (no {path.name}); {hint}", path=folder)
            tables[stem] = None
            continue
        table = read_table(path, columns)
        missing = [column.name for column in columns if column.name not in table.columns]
        if missing:
            raise UserError(f"missing column(s) {', '.join(map(repr, missing))}; is it a journeyrec result?",
                            path=path)
        tables[stem] = table
    return validate_outputs(RunOutputs(folder=str(folder), run=run, **tables))
