"""The improvement catalog: the pain points journeyrec knows, and the checks every catalog must pass.

A catalog comes from the export (``improvements.csv``), from ``--catalog``, or from the built-in
``starter_catalog.csv``. :func:`validate_catalog` is its boundary: it names the first problem by
file, row and column, and hands on a normalised table later steps trust.
"""

import difflib
import graphlib
import math
from collections.abc import Mapping, Sequence

import pandas as pd

from recommender.contract import IMPROVEMENTS, LEVERS, STAGES, require_columns
from recommender.errors import UserError, file_row

PAIN_POINTS: dict[str, tuple[str, ...]] = {
    "awareness": ("irrelevant_messaging",),
    "research": ("unclear_pricing", "no_peer_reviews", "thin_content"),
    "evaluation": ("slow_demo_booking", "missing_integration", "security_review"),
    "decision": ("procurement_delay", "no_roi_case", "legal_redlines"),
    "onboarding": ("slow_time_to_value", "data_migration"),
    "adoption": ("low_feature_discovery", "support_wait"),
    "advocacy": ("no_referral_ask",),
}
"""The pain point tags of the starter catalog (and of the simulator), by the stage they are met at."""

CATALOG_COLUMNS: tuple[str, ...] = tuple(column.name for column in IMPROVEMENTS)
_ID_LISTS = {"depends_on": "depends on", "excludes": "excludes"}


def validate_catalog(improvements: pd.DataFrame, *, source: str | None) -> pd.DataFrame:
    """Check a catalog and normalise it.

    Parameters
    ----------
    improvements
        One row per improvement as read by ``recommender.io.read_table`` (file order, RangeIndex):
        the contract's improvements columns, floats as float64, text as ``str``, NaN for empty.
    source
        The file (or name) to cite in error messages.

    Returns
    -------
    pd.DataFrame
        One row per improvement in ``id`` order (RangeIndex), columns ``CATALOG_COLUMNS``: ``stage``,
        ``lever`` and ``team`` lower case; ``target`` as given (NaN when empty); ``effect_low`` and
        ``effect_high`` filled with ``effect`` when empty; ``depends_on`` and ``excludes`` sorted
        tuples of ids, ``excludes`` symmetric; ``expected_uplift`` NaN when empty. Other columns dropped.

    Raises
    ------
    UserError
        For the first problem: a bad cell (file order, then column order), then a reference to an
        unknown id, a dependency cycle, or an improvement its dependencies and exclusions make impossible.
    """
    try:
        require_columns(improvements, [column.name for column in IMPROVEMENTS if column.required],
                        table="improvements")
    except UserError as error:
        raise error.located(source) from None
    given = improvements.reindex(columns=list(CATALOG_COLUMNS)).reset_index(drop=True)
    rows = [file_row(index, source) for index in range(len(given))]
    row_of: dict[str, int] = {}  # each id's first row; after the cell checks, its only row
    for identifier, row in zip(given["id"], rows):
        row_of.setdefault(identifier, row)
    for record, row in zip(given.to_dict("records"), rows):
        _check_cells(record, row_of=row_of, row=row, source=source)

    catalog = given.assign(
        stage=given["stage"].str.lower(),
        lever=given["lever"].str.lower(),
        team=given["team"].str.lower(),  # capacities are matched case-insensitively
        target=given["target"].astype("str"),  # NaN stays NaN
        effect_low=given["effect_low"].fillna(given["effect"]),
        effect_high=given["effect_high"].fillna(given["effect"]),
        depends_on=given["depends_on"].map(_id_list),
        excludes=given["excludes"].map(_id_list),
    )
    _check_references(catalog, row_of=row_of, source=source)
    catalog = catalog.assign(excludes=_symmetric(catalog["id"], catalog["excludes"]))
    depends_on = dict(zip(catalog["id"], catalog["depends_on"]))
    _check_acyclic(depends_on, row_of=row_of, source=source)
    _check_choosable(depends_on, dict(zip(catalog["id"], catalog["excludes"])), row_of=row_of, source=source)
    return catalog.sort_values("id", ignore_index=True)


def _check_cells(record: Mapping[str, object], *, row_of: Mapping[str, int], row: int, source: str | None) -> None:
    """The checks one row passes on its own, in column order; ``row_of`` maps each id to its first row."""

    def fail(problem: str, column: str) -> UserError:
        return UserError(problem, path=source, row=row, column=column)

    identifier = record["id"]
    if row_of[identifier] != row:
        raise fail(f"duplicate id {identifier!r}, already used on row {row_of[identifier]}; "
                   "give each improvement its own id", "id")
    if ";" in identifier:
        raise fail(f"id {identifier!r} contains ';', which separates ids in depends_on and excludes; "
                   "use letters, digits and '_'", "id")
    if record["stage"].lower() not in STAGES:
        raise fail(_unknown("stage", record["stage"], STAGES), "stage")
    if not record["effort"] > 0:
        raise fail(f"effort must be > 0 person-weeks, got {record['effort']:g}", "effort")
    if record["lever"].lower() not in LEVERS:
        raise fail(_unknown("lever", record["lever"], LEVERS), "lever")
    if record["lever"].lower() == "pain_point" and pd.isna(record["target"]):
        raise fail("lever 'pain_point' needs a target: the pain point tag it relieves, "
                   "e.g. 'unclear_pricing'", "target")
    effect = record["effect"]
    if not 0 < effect <= 1:
        raise fail(f"effect must be in (0, 1], the share it relieves or cuts (0.2 = 20%), got {effect:g}",
                   "effect")
    low, high = (effect if pd.isna(record[column]) else record[column] for column in ("effect_low", "effect_high"))
    for column, value in (("effect_low", low), ("effect_high", high)):
        if not 0 < value <= 1:
            raise fail(f"{column} must be in (0, 1] like effect, got {value:g}", column)
    if low > effect:
        raise fail(f"effect_low {low:g} is above effect {effect:g}; the range must hold the effect "
                   "(effect_low <= effect <= effect_high)", "effect_low")
    if high < effect:
        raise fail(f"effect_high {high:g} is below effect {effect:g}; the range must hold the effect "
                   "(effect_low <= effect <= effect_high)", "effect_high")
    uplift = record["expected_uplift"]
    if not pd.isna(uplift) and not 0 <= uplift < math.inf:
        raise fail(f"expected_uplift must be a number >= 0 (your own estimate of the gain) or empty, "
                   f"got {uplift:g}", "expected_uplift")


def _unknown(what: str, value: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(value.lower(), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {value!r}{hint}; use one of {', '.join(allowed)}"


def _id_list(cell: object) -> tuple[str, ...]:
    """``"b; a;;"`` -> ``("a", "b")``: ids joined by ``;``, spaces and empty items ignored."""
    if pd.isna(cell):
        return ()
    return tuple(sorted({part.strip() for part in str(cell).split(";")} - {""}))


def _check_references(catalog: pd.DataFrame, *, row_of: Mapping[str, int], source: str | None) -> None:
    for record in catalog.to_dict("records"):
        for column, verb in _ID_LISTS.items():
            for other in record[column]:
                if other == record["id"]:
                    raise UserError(f"{record['id']!r} {verb} itself; list other improvements' ids",
                                    path=source, row=row_of[record["id"]], column=column)
                if other not in row_of:
                    close = difflib.get_close_matches(other, list(row_of), n=1)
                    hint = f"did you mean {close[0]!r}?" if close else "use ids from column 'id'"
                    raise UserError(f"{other!r} is not an id in this catalog; {hint}",
                                    path=source, row=row_of[record["id"]], column=column)


def _symmetric(ids: pd.Series, excludes: pd.Series) -> list[tuple[str, ...]]:
    """``excludes`` both ways: if a excludes b, b excludes a."""
    excluded_by: dict[str, set[str]] = {identifier: set() for identifier in ids}
    for identifier, others in zip(ids, excludes):
        for other in others:
            excluded_by[other].add(identifier)
    return [tuple(sorted(set(others) | excluded_by[identifier])) for identifier, others in zip(ids, excludes)]


def _check_acyclic(depends_on: Mapping[str, tuple[str, ...]], *, row_of: Mapping[str, int],
                   source: str | None) -> None:
    try:
        graphlib.TopologicalSorter(depends_on).prepare()
    except graphlib.CycleError as error:
        path = error.args[1][::-1]  # graphlib lists each node before the ones depending on it
        first = min(range(len(path) - 1), key=lambda at: row_of[path[at]])  # start at the earliest row
        cycle = path[first:-1] + path[:first + 1]
        raise UserError(f"depends_on has a cycle: {' -> '.join(cycle)}; an improvement cannot need itself, "
                        "even through others: remove one of these dependencies",
                        path=source, row=row_of[cycle[0]], column="depends_on") from None


def _check_choosable(depends_on: Mapping[str, tuple[str, ...]], excludes: Mapping[str, tuple[str, ...]], *,
                     row_of: Mapping[str, int], source: str | None) -> None:
    """Refuse an improvement that needs, directly or through others, two improvements that exclude each other."""
    needs: dict[str, set[str]] = {}
    for identifier in graphlib.TopologicalSorter(depends_on).static_order():
        needs[identifier] = {identifier}.union(*(needs[other] for other in depends_on[identifier]))
    for identifier in depends_on:  # file order
        for one in sorted(needs[identifier]):
            clash = sorted(needs[identifier].intersection(excludes[one]))
            if clash:
                needed = " and ".join(repr(name) for name in sorted({one, clash[0]} - {identifier}))
                raise UserError(
                    f"{identifier!r} needs {needed} (depends_on), but {one!r} and {clash[0]!r} exclude each "
                    f"other, so {identifier!r} can never be chosen; drop the dependency or the exclusion",
                    path=source, row=row_of[identifier], column="depends_on",
                )
