"""Ranking the chosen improvements and saying why each is there."""

import numpy as np
import pandas as pd

from models.impact import INTERVAL
from recommender.contract import ROADMAP_COLUMNS
from recommender.selection import Valuation

_LEVER_PHRASE = {
    "pain_point": "relieves {effect:.0%} of the accounts meeting {target!r}",
    "drop_off": "cuts {stage} drop-off by {effect:.0%}",
    "time_in_stage": "cuts days in {stage} by {effect:.0%}",
    "loop_back": "cuts loop-backs out of {stage} by {effect:.0%}",
}


def rank_roadmap(chosen: pd.DataFrame, valuation: Valuation) -> pd.DataFrame:
    """Order the roadmap as it should be built, and value each item given those ranked above it.

    Rank 1 is done first: items go by start period, and within a period the item adding the most to
    what is already ranked comes next. Each item's ``expected_uplift`` (and interval) is that marginal
    contribution, so the column adds up to the roadmap's total.

    Parameters
    ----------
    chosen
        The selected candidates with ``period`` and the estimate columns (``diagnosis``, ``basis``,
        ``evidence``, ``evidence_accounts``, ``effect``), any order.

    Returns
    -------
    pd.DataFrame
        The contract's ROADMAP_COLUMNS in rank order, then ``period``, ``evidence``, ``evidence_accounts``.
    """
    positions = {identifier: n for n, identifier in enumerate(valuation.effects.ids)}
    remaining = chosen.sort_values("id").to_dict("records")
    ranked, placed, gains = [], [], []
    before = valuation.per_replicate([])
    while remaining:
        period = min(row["period"] for row in remaining)
        options = [row for row in remaining if row["period"] == period]
        scored = [(valuation.per_replicate([*placed, positions[row["id"]]]), row) for row in options]
        after, row = max(scored, key=lambda pair: (valuation.statistic(pair[0]), -pair[1]["effort"]))
        gains.append(after - before)
        before = after
        placed.append(positions[row["id"]])
        ranked.append(row)
        remaining.remove(row)
    table = pd.DataFrame(ranked, columns=[*chosen.columns])
    marginal = np.array([gain[0] for gain in gains])
    low_high = np.array([np.quantile(gain[1:], INTERVAL) if len(gain) > 1 else (gain[0], gain[0]) for gain in gains])
    table = table.assign(
        rank=np.arange(1, len(table) + 1),
        expected_uplift=marginal,
        uplift_low=np.minimum(low_high[:, 0], marginal) if len(table) else [],
        uplift_high=np.maximum(low_high[:, 1], marginal) if len(table) else [],
        cumulative_effort=table["effort"].cumsum(),
    )
    table = table.assign(rationale=[_rationale(row) for row in table.to_dict("records")])
    return table[[*ROADMAP_COLUMNS, "period", "evidence", "evidence_accounts"]].reset_index(drop=True)


def _rationale(row: dict) -> str:
    """One line: the diagnosis it answers, what it changes, and what the estimate rests on."""
    change = _LEVER_PHRASE[row["lever"]].format(effect=row["effect"], target=row["target"], stage=row["stage"])
    return f"{row['diagnosis']}; {change}; {row['evidence']} evidence ({row['basis']})"
