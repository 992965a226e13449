"""shared/contract.md in code: stage and lever names, table specs, output columns, and the one column check.

Every contract name is spelled here once; other modules import it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from recommender.errors import UserError

STAGES: tuple[str, ...] = (
    "awareness", "research", "evaluation", "decision", "onboarding", "adoption", "advocacy",
)
STAGE_ORDER: dict[str, int] = {stage: order for order, stage in enumerate(STAGES)}
WON_STAGE = "onboarding"
LOST = "lost"  # a stage-map value: the end of a lost deal, not a journey stage
LEVERS: tuple[str, ...] = ("pain_point", "drop_off", "time_in_stage", "loop_back")
CHANNELS: tuple[str, ...] = ("owned", "earned", "paid", "direct_sales", "customer_success")
OBJECTIVES: tuple[str, ...] = ("conversions", "value")


@dataclass(frozen=True)
class Column:
    """One column of an input table: its name, how to parse it, and whether the table must have it."""

    name: str
    kind: Literal["string", "datetime", "float"]
    required: bool = False
    bounds: tuple[float, float] | None = None  # for a float: the closed range a value must lie in


EVENTS: tuple[Column, ...] = (
    Column("account_id", "string", required=True),
    Column("timestamp", "datetime", required=True),
    Column("stage", "string", required=True),
    Column("channel", "string"),
    Column("touchpoint", "string"),
    Column("stakeholder_role", "string"),
    Column("stakeholder_id", "string"),
    Column("sentiment", "float", bounds=(-1.0, 1.0)),
    Column("pain_point", "string"),
)
ACCOUNTS: tuple[Column, ...] = (
    Column("account_id", "string", required=True),
    Column("segment", "string"),
    Column("value", "float"),
    Column("status", "string"),
    Column("created_at", "datetime"),
)
IMPROVEMENTS: tuple[Column, ...] = (
    Column("id", "string", required=True),
    Column("title", "string", required=True),
    Column("stage", "string", required=True),
    Column("team", "string", required=True),
    Column("effort", "float", required=True),
    Column("lever", "string", required=True),
    Column("target", "string"),
    Column("effect", "float", required=True),
    Column("effect_low", "float"),
    Column("effect_high", "float"),
    Column("depends_on", "string"),
    Column("excludes", "string"),
    Column("expected_uplift", "float"),
)
FEEDBACK: tuple[Column, ...] = (  # optional: surveys, NPS/CSAT, call notes, tickets
    Column("account_id", "string", required=True),
    Column("timestamp", "datetime", required=True),
    Column("stage", "string", required=True),
    Column("score", "float"),
    Column("text", "string"),
)

STAGE_METRICS_COLUMNS: tuple[str, ...] = (
    "stage", "entered", "progressed", "dropped", "open", "conversion_rate", "drop_off_rate",
    "median_days", "p90_days", "loop_back_rate", "stakeholders_mean", "sentiment_mean",
)
PAIN_POINTS_COLUMNS: tuple[str, ...] = (
    "stage", "pain_point", "accounts", "prevalence", "conversion_exposed", "conversion_unexposed",
    "estimated_effect", "score",
)
ESTIMATE_COLUMNS: tuple[str, ...] = ("expected_uplift", "uplift_low", "uplift_high")
ROADMAP_COLUMNS: tuple[str, ...] = (
    "rank", "id", "title", "stage", "team", "effort", "lever", "target", "expected_uplift",
    "uplift_low", "uplift_high", "cumulative_effort", "rationale",
)


def stage_names(orders) -> pd.api.extensions.ExtensionArray:
    """The canonical stage name (``str``) of each stage order, built in one Arrow take rather than a Python map."""
    import pyarrow  # pandas' own string backend; imported here so that the CLI starts without it

    return pd.array(pyarrow.array(STAGES, pyarrow.large_string()).take(pyarrow.array(orders, pyarrow.int64())),
                    dtype="str")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, table: str) -> None:
    """Raise UserError naming the columns ``frame`` lacks, and the ones it has."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise UserError(
            f"{table} table is missing column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(repr, frame.columns)) or 'no columns'}"
        )


@dataclass(frozen=True)
class Export:
    """One journey export as read: contract columns parsed, stage names still as the export spells them.

    ``events`` and ``accounts`` keep their file order (RangeIndex) so later checks can name rows;
    ``improvements`` is None when the export brings no catalog (the starter catalog applies).
    """

    events: pd.DataFrame
    accounts: pd.DataFrame | None = None
    improvements: pd.DataFrame | None = None
    events_path: str | None = None
    accounts_path: str | None = None
    improvements_path: str | None = None
    feedback: pd.DataFrame | None = None  # the optional feedback table (FEEDBACK), in file order
    feedback_path: str | None = None

    @property
    def export_time(self) -> pd.Timestamp:
        """The latest timestamp in ``events``: the moment the export was taken."""
        return self.events["timestamp"].max()
