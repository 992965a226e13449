"""Which diagnosis calls for which improvement: the trigger rules, as data, and the candidates they pick.

An improvement acts through one lever at one stage. It becomes a candidate when the export shows
the problem that lever addresses at that stage (and some account entered the stage), or when the
user vouched for it with their own ``expected_uplift``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from recommender.contract import require_columns

USER_ESTIMATE = "user estimate"  # the diagnosis of a candidate only the user's expected_uplift calls for


@dataclass(frozen=True)
class StageTrigger:
    """A lever a stage's metrics call for: the stage's ``measure`` is > 0; ``describe`` says so with numbers."""

    lever: str
    measure: str  # a stage_metrics column
    describe: Callable[[pd.Series], str]  # one row of the stage metrics (with the drop-off ranks) -> text


def _share(value: float) -> str:
    return "<1%" if 0 < value < 0.005 else f"{value:.0%}"


def _days(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _in_days(value: float) -> str:
    number = _days(value)
    return f"{number} day" if number == "1" else f"{number} days"


def _ordinal(rank: float) -> str:
    place = int(rank)
    return {1: "the highest", 2: "the 2nd highest", 3: "the 3rd highest"}.get(place, f"the {place}th highest")


def _stages(count: int) -> str:
    return f"{count} stage" if count == 1 else f"{count} stages"


STAGE_TRIGGERS: tuple[StageTrigger, ...] = (
    StageTrigger("drop_off", "drop_off_rate", lambda stage: (
        f"{stage['stage']}: {_share(stage['drop_off_rate'])} drop-off, "
        f"{_ordinal(stage['drop_off_rank'])} of {_stages(stage['ranked_stages'])}")),
    StageTrigger("time_in_stage", "median_days", lambda stage: (
        f"{stage['stage']}: median {_in_days(stage['median_days'])} in stage (p90 {_days(stage['p90_days'])})")),
    StageTrigger("loop_back", "loop_back_rate", lambda stage: (
        f"{stage['stage']}: {_share(stage['loop_back_rate'])} of accounts loop back")),
)
"""The ``drop_off``, ``time_in_stage`` and ``loop_back`` rules; ``pain_point`` reads the pain point table."""


def candidates_for(catalog: pd.DataFrame, stage_metrics: pd.DataFrame, pain_points: pd.DataFrame) -> pd.DataFrame:
    """The improvements the diagnosis calls for, each with the evidence that called for it.

    Parameters
    ----------
    catalog
        From ``rules.catalog.validate_catalog``: one row per improvement, in ``id`` order.
    stage_metrics
        The contract's STAGE_METRICS_COLUMNS, one row per stage.
    pain_points
        The contract's PAIN_POINTS_COLUMNS, one row per (stage, pain point tag), best score first.

    Returns
    -------
    pd.DataFrame
        The triggered rows of ``catalog`` (all its columns, ``id`` order, RangeIndex) plus ``diagnosis``:
        e.g. ``"decision: 38% drop-off, the highest of 6 stages"``. Triggered: the stage was entered
        and its ``drop_off_rate``, ``median_days`` or ``loop_back_rate`` (by lever) is > 0, or the
        ``target`` tag (any case) was met there by at least one account. An improvement with an
        ``expected_uplift`` is always a candidate; its diagnosis is ``"user estimate"`` when the data
        shows nothing.
    """
    require_columns(catalog, ["id", "stage", "lever", "target", "expected_uplift"], table="catalog")
    require_columns(stage_metrics, ["stage", "entered", *(trigger.measure for trigger in STAGE_TRIGGERS),
                                    "p90_days"], table="stage_metrics")
    require_columns(pain_points, ["stage", "pain_point", "accounts", "prevalence", "conversion_exposed",
                                  "conversion_unexposed"], table="pain_points")
    entered = stage_metrics.loc[stage_metrics["entered"].fillna(0).gt(0)]
    evidence = pd.concat([_stage_evidence(entered), _pain_point_evidence(pain_points, stages=entered["stage"])],
                         ignore_index=True)
    keyed = catalog.assign(key=_pain_point_key(catalog["target"]).where(catalog["lever"] == "pain_point", ""))
    found = keyed.merge(evidence, on=["stage", "lever", "key"], how="left", validate="many_to_one")
    chosen = found.loc[found["diagnosis"].notna() | found["expected_uplift"].notna()]
    return chosen.assign(diagnosis=chosen["diagnosis"].fillna(USER_ESTIMATE)).drop(columns="key").reset_index(drop=True)


def _stage_evidence(entered: pd.DataFrame) -> pd.DataFrame:
    """``stage, lever, key, diagnosis`` for every stage-metric trigger that fires at an entered stage."""
    ranked = entered.assign(
        drop_off_rank=entered["drop_off_rate"].rank(ascending=False, method="min"),
        ranked_stages=entered["drop_off_rate"].notna().sum(),
    )
    rows = [
        (stage["stage"], trigger.lever, "", trigger.describe(stage))
        for trigger in STAGE_TRIGGERS
        for _, stage in ranked.loc[ranked[trigger.measure].fillna(0).gt(0)].iterrows()
    ]
    return pd.DataFrame(rows, columns=["stage", "lever", "key", "diagnosis"])


def _pain_point_evidence(pain_points: pd.DataFrame, *, stages: pd.Series) -> pd.DataFrame:
    """``stage, lever, key, diagnosis`` for every pain point met by at least one account at an entered stage."""
    met = pain_points.loc[pain_points["accounts"].fillna(0).gt(0) & pain_points["stage"].isin(stages)]
    rows = [
        (point["stage"], "pain_point", key, _pain_point_sentence(point))
        for key, (_, point) in zip(_pain_point_key(met["pain_point"]), met.iterrows())
    ]
    evidence = pd.DataFrame(rows, columns=["stage", "lever", "key", "diagnosis"])
    return evidence.drop_duplicates(["stage", "key"])  # the same tag spelled twice: keep the best scored


def _pain_point_key(tags: pd.Series) -> pd.Series:
    return tags.astype("str").str.strip().str.lower()


def _pain_point_sentence(point: pd.Series) -> str:
    with_without = (f" (conversion {_share(point['conversion_exposed'])} vs "
                    f"{_share(point['conversion_unexposed'])} without)"
                    if pd.notna(point["conversion_exposed"]) and pd.notna(point["conversion_unexposed"]) else "")
    return f"{point['stage']}: {point['pain_point']!r} met by {_share(point['prevalence'])} of accounts{with_without}"
