"""Run settings. Defaults are the field defaults below, and nowhere else.

Order of precedence: command-line flags > the TOML config file > these defaults.
"""

import difflib
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Self

from recommender.contract import LOST, OBJECTIVES, STAGES
from recommender.errors import UserError

CONFIG_NAME = "journeyrec.toml"  # looked for inside the export folder when --config is not given
AUTO_SCALE = "auto"  # score_scale: guessed from the scores, see features.feedback.score_sentiment
SCORE_SCALES: dict[str, tuple[float, float]] = {"0..10": (0.0, 10.0), "1..5": (1.0, 5.0), "-1..1": (-1.0, 1.0)}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What one run is told: CLI flags override the config file, which overrides these defaults."""

    stale_after_days: int = 90
    target_stage: str = "onboarding"
    objective: str | None = None  # None: "value" when accounts carry a value, else "conversions"
    stage_map: dict[str, str] = field(default_factory=dict)  # input stage name (lower case) -> canonical stage
    # feedback table: pain point tag -> phrases or regular expressions (Python re, case-insensitive), in tag order
    feedback_patterns: dict[str, list[str]] = field(default_factory=dict)
    score_scale: str = AUTO_SCALE  # feedback scores: one of SCORE_SCALES, mapped linearly onto sentiment -1..1
    capacity: dict[str, float] = field(default_factory=dict)  # team -> person-weeks this quarter
    seed: int = 0
    bootstrap: int = 30  # refits over resampled accounts, for the intervals
    periods: int = 3  # the quarter is planned in this many periods (months)
    period_capacity: dict[str, list[float]] = field(default_factory=dict)  # team -> person-weeks per period
    constraints: dict[str, dict[str, int]] = field(default_factory=dict)  # min_items / max_items -> stage -> K
    time_limit: float = 60.0  # seconds the solver may take per solve
    gap: float = 0.0  # relative MIP gap accepted (0: proven optimum)
    tracking_uri: str | None = None  # None: MLFLOW_TRACKING_URI, else a local store in the working directory
    experiment: str = "journeyrec"

    def __post_init__(self) -> None:
        stages = ", ".join(STAGES)
        _require(isinstance(self.stale_after_days, int) and not isinstance(self.stale_after_days, bool)
                 and self.stale_after_days >= 0,
                 f"stale_after_days must be a whole number of days >= 0, got {self.stale_after_days!r}")
        _require(self.target_stage in STAGES[1:],
                 f"target_stage {self.target_stage!r} is not a stage after awareness; stages are {stages}")
        _require(self.objective in (None, *OBJECTIVES),
                 f"objective must be 'conversions' or 'value', got {self.objective!r}")
        _require(isinstance(self.stage_map, dict), f"stage_map must be a table, got {self.stage_map!r}")
        unknown = {name: stage for name, stage in self.stage_map.items()
                   if not isinstance(stage, str) or stage.lower() not in (*STAGES, LOST)}
        _require(not unknown, f"stage_map sends {unknown} to unknown stages; stages are {stages} (or 'lost')")
        _validate_feedback_settings(self.feedback_patterns, self.score_scale)
        _require(isinstance(self.capacity, dict), f"capacity must be a table, got {self.capacity!r}")
        bad = {team: weeks for team, weeks in self.capacity.items()
               if isinstance(weeks, bool) or not isinstance(weeks, int | float) or not weeks >= 0}
        _require(not bad, f"capacity must be person-weeks >= 0 per team, got {bad}")
        _require(isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
                 f"seed must be a whole number >= 0, got {self.seed!r}")
        _require(isinstance(self.bootstrap, int) and not isinstance(self.bootstrap, bool)
                 and 0 <= self.bootstrap <= 1000,
                 f"bootstrap must be a whole number of refits from 0 to 1000, got {self.bootstrap!r}")
        _require(isinstance(self.periods, int) and not isinstance(self.periods, bool) and 1 <= self.periods <= 12,
                 f"periods must be a whole number from 1 to 12, got {self.periods!r}")
        _require(isinstance(self.period_capacity, dict) and all(
            isinstance(weeks, list) and len(weeks) == self.periods
            and all(isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weeks)
            for weeks in self.period_capacity.values()),
            f"period_capacity must give each team {self.periods} person-week amounts >= 0, got {self.period_capacity!r}")
        _require(isinstance(self.constraints, dict) and set(self.constraints) <= {"min_items", "max_items"},
                 f"constraints takes min_items and max_items tables, got {sorted(self.constraints)!r}")
        for kind, limits in self.constraints.items():
            _require(isinstance(limits, dict) and all(
                stage in STAGES and isinstance(k, int) and not isinstance(k, bool) and k >= 0
                for stage, k in limits.items()),
                f"constraints.{kind} must map stages ({stages}) to whole numbers >= 0, got {limits!r}")
        _require(isinstance(self.time_limit, int | float) and not isinstance(self.time_limit, bool)
                 and self.time_limit > 0, f"time_limit must be seconds > 0, got {self.time_limit!r}")
        _require(isinstance(self.gap, int | float) and not isinstance(self.gap, bool) and 0 <= self.gap < 1,
                 f"gap must be a fraction from 0 to 1, got {self.gap!r}")
        _require(isinstance(self.experiment, str) and self.experiment.strip() != "",
                 f"experiment must be a non-empty name, got {self.experiment!r}")
        # Normalised forms: stage and team names match case-insensitively, capacities are floats.
        object.__setattr__(self, "stage_map", {str(k).strip().lower(): v.lower() for k, v in self.stage_map.items()})
        object.__setattr__(self, "capacity", {str(k).strip().lower(): float(v) for k, v in self.capacity.items()})
        object.__setattr__(self, "period_capacity", {str(k).strip().lower(): [float(w) for w in v]
                                                     for k, v in self.period_capacity.items()})

    def override(self, **flags: Any) -> Self:
        """A copy with every flag that was given (not None) applied."""
        return replace(self, **{name: value for name, value in flags.items() if value is not None})


def load_settings(path: Path | None, *, data_dir: Path | None = None) -> Settings:
    """Read a TOML settings file: ``path``, else ``data_dir/journeyrec.toml`` if present, else the defaults."""
    if path is None and data_dir is not None and (data_dir / CONFIG_NAME).is_file():
        path = data_dir / CONFIG_NAME
    if path is None:
        return Settings()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"cannot read settings ({error})", path=path) from error

    known = [f.name for f in fields(Settings)]
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known settings: {', '.join(known)}"
            raise UserError(f"unknown setting {key!r}; {hint}", path=path)
    try:
        return Settings(**table)
    except UserError as error:
        raise error.located(path) from error


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise UserError(problem)


def _validate_feedback_settings(patterns: object, scale: object) -> None:
    """Every pattern a non-empty string that compiles, so matching feedback text later cannot fail."""
    scales = ", ".join(map(repr, (AUTO_SCALE, *SCORE_SCALES)))
    _require(scale in (AUTO_SCALE, *SCORE_SCALES), f"score_scale must be one of {scales}, got {scale!r}")
    _require(isinstance(patterns, dict),
             f"feedback_patterns must be a table of pain point tag -> list of phrases, got {patterns!r}")
    for tag, phrases in patterns.items():
        _require(isinstance(phrases, list) and all(isinstance(phrase, str) for phrase in phrases),
                 f"feedback_patterns {tag!r} must be a list of phrases (strings), e.g. [\"too expensive\", "
                 f"\"pric(e|ing)\"], got {phrases!r}")
        for phrase in phrases:
            _require(phrase.strip() != "", f"feedback_patterns {tag!r} has an empty phrase, which would match any text")
            try:
                re.compile(phrase, re.IGNORECASE)
            except re.error as error:
                raise UserError(f"feedback_patterns {tag!r}: {phrase!r} is not a valid regular expression "
                                f"({error}); escape special characters such as ( [ + ? * with \\") from error
