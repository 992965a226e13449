"""The optional feedback table (surveys, NPS/CSAT, call notes, tickets) as events of the journey.

Each feedback row becomes an event in its stage (mapped as events' stages are), touchpoint ``feedback``:
its score becomes ``sentiment`` and its text is tagged with pain points by the config's phrase patterns
(Python ``re``, case-insensitive; never ``eval``, never the network). The journey then treats them
like any other event, so stage sentiment and pain points include what customers said.
"""

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from features.journeys import canonical_events
from recommender.config import AUTO_SCALE, SCORE_SCALES
from recommender.contract import LOST, STAGE_ORDER, WON_STAGE, require_columns
from recommender.errors import UserError, file_row

FEEDBACK_TOUCHPOINT = "feedback"
THEMES_COLUMNS: tuple[str, ...] = ("stage", "theme", "mentions", "accounts")
_AFTER_WON, _BEFORE_WON = "customer_success", "owned"  # the channel feedback arrives through


def feedback_events(feedback: pd.DataFrame, events: pd.DataFrame, *, patterns: Mapping[str, Sequence[str]],
                    score_scale: str, stage_map: Mapping[str, str], source: str | None) -> pd.DataFrame:
    """Turn each feedback row of an account that has events into contract events.

    Parameters
    ----------
    feedback
        The feedback table in file order: ``account_id, timestamp, stage``, optional ``score``, ``text``.
    events
        The export's events (``account_id``): feedback of an account without events is no journey and is
        left out (see :func:`feedback_without_journey`).
    patterns
        Pain point tag -> phrases or regular expressions, in the order tags are given.
    score_scale
        ``auto`` or one of recommender.config.SCORE_SCALES (see :func:`score_sentiment`).

    Returns
    -------
    pd.DataFrame
        One row per kept feedback row and matching tag, in journey order: ``account_id, timestamp, stage``
        (canonical), ``channel`` (``customer_success`` from the won stage on, else ``owned``),
        ``touchpoint`` (``feedback``), ``sentiment`` (from the score), ``pain_point`` (the first matching
        tag; each further tag is one more row at the same moment with no sentiment, so a score counts
        once). A row repeated exactly counts once.

    Raises
    ------
    UserError
        Naming the feedback file, row and column of an unknown stage, a stage mapped to ``lost``, or a
        score outside the scale.
    """
    require_columns(feedback, ["account_id", "timestamp", "stage"], table="feedback")
    _refuse_lost_stages(feedback, stage_map=stage_map, source=source)
    no_score = pd.Series(np.nan, index=feedback.index)
    rows = pd.DataFrame({
        "account_id": feedback["account_id"],
        "timestamp": feedback["timestamp"],
        "stage": feedback["stage"],
        "sentiment": score_sentiment(feedback["score"] if "score" in feedback.columns else no_score,
                                     scale=score_scale, source=source),
        "tags": pain_tags(feedback["text"] if "text" in feedback.columns else no_score, patterns),
    })
    journey = canonical_events(rows, stage_map=stage_map, source=source)  # file order still: errors name rows
    journey = journey[journey["account_id"].isin(events["account_id"])]
    one_per_tag = journey.assign(pain_point=journey["tags"].map(lambda tags: tags or (None,))).explode("pain_point")
    further_tag = one_per_tag.index.duplicated()
    return pd.DataFrame({
        "account_id": one_per_tag["account_id"].astype("str"),
        "timestamp": one_per_tag["timestamp"],
        "stage": one_per_tag["stage"],
        "channel": np.where(one_per_tag["stage_order"] >= STAGE_ORDER[WON_STAGE], _AFTER_WON, _BEFORE_WON),
        "touchpoint": FEEDBACK_TOUCHPOINT,
        "sentiment": one_per_tag["sentiment"].where(~further_tag),
        "pain_point": one_per_tag["pain_point"].astype("str"),
    }).reset_index(drop=True).astype({"channel": "str", "touchpoint": "str"})


def feedback_without_journey(feedback: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Which feedback rows (file order) name an account that has no events, so have no journey to join."""
    return ~feedback["account_id"].isin(events["account_id"])


def pain_tags(texts: pd.Series, patterns: Mapping[str, Sequence[str]]) -> pd.Series:
    """The pain point tags each text matches: a tag matches when any of its patterns is found (``re.search``).

    Returns
    -------
    pd.Series
        Aligned with ``texts``: a tuple of tags in ``patterns`` order, empty for no match or no text.
    """
    compiled = [(tag, [re.compile(phrase, re.IGNORECASE) for phrase in phrases]) for tag, phrases in patterns.items()]
    tags = [() if pd.isna(text) else tuple(tag for tag, found in compiled if any(p.search(text) for p in found))
            for text in texts]
    return pd.Series(tags, index=texts.index, dtype="object", name="tags")


def score_sentiment(scores: pd.Series, *, scale: str, source: str | None) -> pd.Series:
    """Scores mapped linearly onto sentiment -1..1 (the scale's low end -1, its middle 0, its top +1).

    ``0..10`` (NPS/CSAT likelihood): 5 is neutral; ``1..5`` (CSAT, Likert): 3 is neutral; ``-1..1``:
    kept as is. ``auto`` guesses from the scores themselves: ``-1..1`` when all lie in it and some is
    negative or a fraction, else ``1..5`` when all lie in 1..5, else ``0..10`` when all lie in 0..10.
    A small or one-sided file can fool the guess (only 1s and 2s on a 0..10 survey read as 1..5): set
    ``score_scale`` then.

    Returns
    -------
    pd.Series
        ``sentiment`` aligned with ``scores``; NaN where there is no score.

    Raises
    ------
    UserError
        Naming the row and column ``score`` of the first score outside the scale (or, for ``auto``, of
        the first that fits no scale with the others).
    """
    given = scores.dropna()
    name = _guessed_scale(given) if scale == AUTO_SCALE else scale
    low, high = SCORE_SCALES[name or "0..10"]
    outside = scores.notna() & ~scores.between(low, high)
    if outside.any():
        index = int(outside.to_numpy().argmax())
        known = ", ".join(SCORE_SCALES)
        problem = (f"score {scores.iat[index]:g} is outside the score_scale {name} (expected {low:g} to {high:g})"
                   if name else f"score {scores.iat[index]:g} fits no score scale ({known}) together with the "
                                f"other scores; set score_scale in the config")
        raise UserError(problem, path=source, row=file_row(index, source), column="score")
    return ((scores - low) / (high - low) * 2 - 1).rename("sentiment")


def _guessed_scale(scores: pd.Series) -> str | None:
    """The ``auto`` rule of :func:`score_sentiment`; None when no scale holds every score."""
    if scores.empty:
        return "-1..1"  # nothing to map
    inside = {name: bool(scores.between(low, high).all()) for name, (low, high) in SCORE_SCALES.items()}
    if inside["-1..1"] and ((scores < 0).any() or (scores != scores.round()).any()):
        return "-1..1"
    return next((name for name in ("1..5", "0..10") if inside[name]), None)


def _refuse_lost_stages(feedback: pd.DataFrame, *, stage_map: Mapping[str, str], source: str | None) -> None:
    """A stage mapped to ``lost`` ends a deal; feedback needs the stage it was given in."""
    lost = feedback["stage"].str.strip().str.lower().map(dict(stage_map)).eq(LOST)
    if lost.any():
        index = int(lost.to_numpy().argmax())
        raise UserError(f"stage {feedback['stage'].iat[index]!r} maps to 'lost', the end of a lost deal, not a stage "
                        "feedback can be placed in; give the journey stage the deal had reached (e.g. decision)",
                        path=source, row=file_row(index, source), column="stage")


def feedback_themes(feedback_events: pd.DataFrame) -> pd.DataFrame:
    """What customers talk about in each stage: the pain point tags of the feedback events, counted.

    Parameters
    ----------
    feedback_events
        From :func:`feedback_events` (one row per feedback row and tag).

    Returns
    -------
    pd.DataFrame
        One row per (stage, tag) mentioned, columns THEMES_COLUMNS: ``stage``, ``theme`` (the tag),
        ``mentions`` (feedback rows with it), ``accounts`` (distinct accounts); in stage order, then most
        mentioned first, then by theme.
    """
    tagged = feedback_events.dropna(subset=["pain_point"])
    grouped = tagged.groupby(["stage", "pain_point"], sort=True)
    themes = pd.DataFrame({"mentions": grouped.size(), "accounts": grouped["account_id"].nunique()},
                          dtype="int64").reset_index().rename(columns={"pain_point": "theme"})
    themes = themes.astype({"stage": "str", "theme": "str"})
    order = themes["stage"].map(STAGE_ORDER)
    return (themes.assign(order=order).sort_values(["order", "mentions", "theme"], ascending=[True, False, True],
                                                   kind="stable")
            .drop(columns="order").reset_index(drop=True)[list(THEMES_COLUMNS)])

