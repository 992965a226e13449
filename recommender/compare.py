"""What changed between two roadmap results, e.g. last quarter's and this quarter's.

Pure: it takes the tables that ``io.read_outputs`` read back from two ``--out`` folders and returns
tables; ``report`` renders them. Three views: each stage metric's change (new - old) and whether that
is better or worse; the roadmap items added, kept and dropped; and, for the items of the old roadmap
(the improvements shipped last quarter), the change their lever predicted against the change observed.
The observed change is observational: a stage's metric moves for many reasons besides one improvement.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.contract import LEVERS, STAGES, Column, require_columns
from recommender.errors import UserError, file_row

BETTER_WHEN_HIGHER: dict[str, bool] = {  # the compared stage metrics, and which way is an improvement
    "conversion_rate": True,
    "drop_off_rate": False,
    "median_days": False,
    "p90_days": False,
    "loop_back_rate": False,
    "sentiment_mean": True,  # pain < 0 < delight
}
LEVER_METRICS: dict[str, str] = {  # the stage metric each lever moves
    "pain_point": "conversion_rate",
    "drop_off": "drop_off_rate",
    "time_in_stage": "median_days",
    "loop_back": "loop_back_rate",
}
OUTPUT_TABLES: dict[str, tuple[tuple[Column, ...], bool]] = {  # stem -> (columns compare reads, required)
    "stage_metrics": ((Column("stage", "string", required=True),
                       *(Column(metric, "float") for metric in BETTER_WHEN_HIGHER)), True),
    "roadmap": ((Column("rank", "float", required=True), Column("id", "string", required=True),
                 Column("title", "string"), Column("stage", "string", required=True),
                 Column("lever", "string", required=True), Column("target", "string"),
                 Column("expected_uplift", "float")), True),
    "candidates": ((Column("id", "string", required=True), Column("effect", "float")), False),
}
STAGE_CHANGE_COLUMNS: tuple[str, ...] = ("stage", "metric", "old", "new", "delta", "direction")
ROADMAP_CHANGE_COLUMNS: tuple[str, ...] = ("id", "title", "stage", "change", "old_rank", "new_rank")
SHIPPED_COLUMNS: tuple[str, ...] = (
    "id", "title", "stage", "lever", "target", "expected_uplift", "metric", "predicted_change", "old", "new",
    "observed_change", "direction",
)
_DECIMALS = 6  # result CSVs carry 6 decimals: a difference finer than that is rounding


@dataclass(frozen=True)
class RunOutputs:
    """One ``journeyrec roadmap`` result folder as read back.

    ``stage_metrics`` and ``roadmap`` (and ``candidates``, None when the folder has none) hold the
    columns OUTPUT_TABLES names, parsed, in file order (RangeIndex, so errors can name rows); ``run``
    is the folder's run.json.
    """

    folder: str
    stage_metrics: pd.DataFrame
    roadmap: pd.DataFrame
    candidates: pd.DataFrame | None
    run: Mapping[str, object]

    @property
    def name(self) -> str:
        """The folder's own name, to title a comparison with."""
        return Path(self.folder).name or self.folder


@dataclass(frozen=True)
class Comparison:
    """Two results and the three tables of what changed (``stages``, ``roadmap``, ``shipped``)."""

    old: RunOutputs
    new: RunOutputs
    stages: pd.DataFrame  # STAGE_CHANGE_COLUMNS
    roadmap: pd.DataFrame  # ROADMAP_CHANGE_COLUMNS
    shipped: pd.DataFrame  # SHIPPED_COLUMNS


def validate_outputs(outputs: RunOutputs) -> RunOutputs:
    """Refuse a result a comparison would misread: an unknown stage or lever, or a stage or id listed twice.

    Raises
    ------
    UserError
        Naming the file, the spreadsheet row and the column of the first bad cell.
    """
    checks = [("stage_metrics", "stage", STAGES, True), ("roadmap", "id", None, True),
              ("roadmap", "stage", STAGES, False), ("roadmap", "lever", LEVERS, False)]
    if outputs.candidates is not None:
        checks.append(("candidates", "id", None, True))
    for stem, column, allowed, unique in checks:
        values = getattr(outputs, stem)[column]
        unknown = ~values.isin(allowed) if allowed else pd.Series(False, index=values.index)
        bad = unknown | (values.duplicated() if unique else False)
        if bad.any():
            index = int(bad.to_numpy().argmax())
            problem = (f"{values.iat[index]!r} is not one of {', '.join(allowed)}" if unknown.iat[index]
                       else f"{values.iat[index]!r} appears more than once")
            path = Path(outputs.folder) / f"{stem}.csv"
            raise UserError(problem, path=path, row=file_row(index, path), column=column)
    return outputs


def compare_runs(old: RunOutputs, new: RunOutputs) -> Comparison:
    """Everything ``journeyrec compare OLD_OUT NEW_OUT`` reports."""
    stages = stage_changes(old.stage_metrics, new.stage_metrics)
    return Comparison(old, new, stages, roadmap_changes(old.roadmap, new.roadmap),
                      shipped_outcomes(old.roadmap, stages, candidates=old.candidates))


def stage_changes(old_metrics: pd.DataFrame, new_metrics: pd.DataFrame) -> pd.DataFrame:
    """Each compared metric of each stage, old and new, and whether the change is an improvement.

    Parameters
    ----------
    old_metrics, new_metrics
        One row per stage: ``stage`` and the BETTER_WHEN_HIGHER metrics (empty where undefined).

    Returns
    -------
    pd.DataFrame
        One row per (stage, metric), stages in journey order (those in either table), metrics in
        BETTER_WHEN_HIGHER order: ``stage, metric, old, new, delta`` (new - old, to 6 decimals) and
        ``direction`` (``better``, ``worse`` or ``same``; missing when either side is empty).
    """
    for metrics, name in ((old_metrics, "old stage_metrics"), (new_metrics, "new stage_metrics")):
        require_columns(metrics, ("stage", *BETTER_WHEN_HIGHER), table=name)
    stages = [stage for stage in STAGES if stage in set(old_metrics["stage"]) | set(new_metrics["stage"])]
    old, new = (metrics.set_index("stage").reindex(stages) for metrics in (old_metrics, new_metrics))
    changes = pd.DataFrame(
        [(stage, metric, old.at[stage, metric], new.at[stage, metric])
         for stage in stages for metric in BETTER_WHEN_HIGHER],
        columns=["stage", "metric", "old", "new"],
    ).astype({"old": "float64", "new": "float64"})
    delta = (changes["new"] - changes["old"]).round(_DECIMALS)
    return changes.assign(delta=delta, direction=direction(delta, changes["metric"]))


def direction(delta: pd.Series, metric: pd.Series) -> pd.Series:
    """``better`` / ``worse`` / ``same`` for each change of a BETTER_WHEN_HIGHER ``metric``; missing for an empty delta."""
    improved = np.where(metric.map(BETTER_WHEN_HIGHER).astype(bool), delta > 0, delta < 0)
    words = pd.Series(np.where(improved, "better", "worse"), index=delta.index, dtype="str")
    return words.where(delta != 0, "same").where(delta.notna())


def roadmap_changes(old_roadmap: pd.DataFrame, new_roadmap: pd.DataFrame) -> pd.DataFrame:
    """Which roadmap items were added, kept or dropped (by ``id``).

    Returns
    -------
    pd.DataFrame
        One row per id in either roadmap: the new roadmap's items in its rank order (``change``
        ``kept`` or ``added``), then the dropped ones in the old rank order; ``id, title, stage``
        (as the newer roadmap has them), ``change, old_rank, new_rank`` (empty where not ranked).
    """
    columns = ["id", "title", "stage", "rank"]
    for roadmap, name in ((old_roadmap, "old roadmap"), (new_roadmap, "new roadmap")):
        require_columns(roadmap, columns, table=name)
    old = old_roadmap.sort_values("rank")[columns].rename(columns={"rank": "old_rank"})
    new = new_roadmap.sort_values("rank")[columns].rename(columns={"rank": "new_rank"})
    current = new.merge(old[["id", "old_rank"]], on="id", how="left")
    current = current.assign(change=np.where(current["old_rank"].notna(), "kept", "added"))
    dropped = old[~old["id"].isin(new["id"])].assign(change="dropped", new_rank=np.nan)
    changes = pd.concat([current, dropped], ignore_index=True)
    return changes.astype({"id": "str", "title": "str", "stage": "str", "change": "str", "old_rank": "float64",
                           "new_rank": "float64"})[list(ROADMAP_CHANGE_COLUMNS)]


def shipped_outcomes(old_roadmap: pd.DataFrame, changes: pd.DataFrame, *,
                     candidates: pd.DataFrame | None) -> pd.DataFrame:
    """For each item of the old roadmap, the change its lever predicted in its stage's metric, and the change seen.

    The prediction is the contract's lever arithmetic on the old metric: the old roadmap's items on
    the same stage and lever together cut it by 1 - prod(1 - effect), with ``effect`` from the old
    ``candidates``. A ``pain_point`` item's conversion change depends on who meets the pain point,
    which a roadmap does not record, so it is left empty there, as it is when there are no candidates.
    The observed change is observational, not an effect estimate.

    Parameters
    ----------
    old_roadmap
        One row per item: ``rank, id, title, stage, lever, target, expected_uplift``.
    changes
        The two runs' stage changes, as :func:`stage_changes` returns them.
    candidates
        The old run's candidates, ``id`` and ``effect``; None when the result has none.

    Returns
    -------
    pd.DataFrame
        One row per old roadmap item, in rank order: ``id, title, stage, lever, target,
        expected_uplift`` (the old run's estimate, in its objective's units), ``metric`` (the lever's),
        ``predicted_change`` (6 decimals), ``old, new, observed_change`` (that stage metric) and
        ``direction`` of the observed change.
    """
    require_columns(old_roadmap, ("rank", "id", "title", "stage", "lever", "target", "expected_uplift"),
                    table="old roadmap")
    require_columns(changes, STAGE_CHANGE_COLUMNS, table="stage changes")
    shipped = old_roadmap.sort_values("rank", ignore_index=True)
    effect = (shipped["id"].map(candidates.set_index("id")["effect"]) if candidates is not None
              else pd.Series(np.nan, index=shipped.index))
    kept_share = (1 - effect).groupby([shipped["stage"], shipped["lever"]]).transform(
        lambda shares: shares.prod(skipna=False))
    shipped = shipped.assign(metric=shipped["lever"].map(LEVER_METRICS))
    seen = (changes.set_index(["stage", "metric"])
            .reindex(pd.MultiIndex.from_frame(shipped[["stage", "metric"]]))
            .reset_index(drop=True)[["old", "new", "delta", "direction"]])
    predicted = (-seen["old"] * (1 - kept_share)).where(shipped["lever"] != "pain_point").round(_DECIMALS)
    return pd.concat([shipped, seen], axis=1).assign(
        predicted_change=predicted.astype("float64"), observed_change=seen["delta"],
    )[list(SHIPPED_COLUMNS)]
