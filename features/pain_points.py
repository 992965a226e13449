"""pain_points.csv, the part the data shows directly: who met each pain point and how they fared.

The model-adjusted ``estimated_effect`` and ``score`` are filled by models.impact.estimate_pain_points.
"""

import numpy as np
import pandas as pd

from features.journeys import CLOSED
from recommender.contract import PAIN_POINTS_COLUMNS, STAGES, require_columns


def pain_points(events: pd.DataFrame, outcomes: pd.DataFrame, stage_metrics: pd.DataFrame) -> pd.DataFrame:
    """Prevalence and raw conversion of the accounts that met each pain point in each stage, and of those that did not.

    Parameters
    ----------
    events
        Journey-ordered canonical events; ``pain_point`` optional.
    outcomes
        From features.journeys.account_outcomes (index ``account_id``).
    stage_metrics
        From features.stages.stage_metrics (for ``entered``).

    Returns
    -------
    pd.DataFrame
        One row per (stage, pain_point) met by at least one account, in stage then tag order, with the
        contract's PAIN_POINTS_COLUMNS; ``estimated_effect`` and ``score`` still NaN. Conversion here is
        the contract's: progressed / (progressed + dropped) among the group; NaN when nobody decided,
        and on the last covered stage (where nobody progresses or drops).
    """
    require_columns(events, ["account_id", "stage_order"], table="events")
    if "pain_point" not in events.columns or events["pain_point"].isna().all():
        return pd.DataFrame({column: pd.Series(dtype="float64") for column in PAIN_POINTS_COLUMNS}).astype(
            {"stage": "str", "pain_point": "str", "accounts": "int64"})
    met = events.dropna(subset=["pain_point"])[["stage_order", "pain_point", "account_id"]].drop_duplicates()
    entered = events[["stage_order", "account_id"]].drop_duplicates().join(
        outcomes[["furthest_order", "status"]], on="account_id")
    entered = entered.assign(
        progressed=entered["furthest_order"] > entered["stage_order"],
        decided=(entered["furthest_order"] > entered["stage_order"]) | (entered["status"] == CLOSED),
    )
    rows = []
    by_stage = stage_metrics.set_index("stage")
    entered_by_stage, undecidable = by_stage["entered"], by_stage["progressed"].isna()
    ids = pd.Categorical(events["account_id"]).categories  # integer codes make the membership tests cheap
    met = met.assign(account=pd.Categorical(met["account_id"], categories=ids).codes)
    entered = entered.assign(account=pd.Categorical(entered["account_id"], categories=ids).codes)
    stage_accounts = dict(tuple(entered.groupby("stage_order")))
    for (order, tag), group in met.groupby(["stage_order", "pain_point"], sort=True):
        stage = stage_accounts[order]
        exposed = pd.Series(np.isin(stage["account"].to_numpy(), group["account"].to_numpy()), index=stage.index)
        rows.append({
            "stage": STAGES[order],
            "pain_point": tag,
            "accounts": int(exposed.sum()),
            "prevalence": exposed.sum() / entered_by_stage[STAGES[order]],
            "conversion_exposed": np.nan if undecidable[STAGES[order]] else _conversion(stage[exposed]),
            "conversion_unexposed": np.nan if undecidable[STAGES[order]] else _conversion(stage[~exposed]),
            "estimated_effect": np.nan,
            "score": np.nan,
        })
    return pd.DataFrame(rows, columns=list(PAIN_POINTS_COLUMNS))


def _conversion(group: pd.DataFrame) -> float:
    decided = group["decided"].sum()
    return float(group["progressed"].sum() / decided) if decided else np.nan
