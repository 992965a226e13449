"""Choosing the roadmap against the journey model, not against a sum of single gains.

Improvements on the same stage, lever and target combine as 1 - prod(1 - e): in strength
t = -log(1 - e) they add up, so each such group's value is a concave curve of its summed strength,
which the MILP (recommender/optimize.py) takes piecewise-linearly. Improvements in different stages
compound through the chain; that is caught by re-drawing every group's curve given the rest of the
current roadmap and solving again, until the roadmap stops changing. Every roadmap met on the way is
valued exactly by the model, and the best one is kept.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from models.impact import CandidateEffects, JourneyModel, set_uplift
from recommender.optimize import Limits, Selection, ValueCurve, select_roadmap

MAX_ROUNDS = 6
CURVE_POINTS = 10  # strength grid points of a group curve with many members


@dataclass(frozen=True)
class Valuation:
    """Values roadmaps (sets of candidate positions, in ``effects`` order), per replicate.

    ``uplift`` maps a sorted tuple of positions to the roadmap's uplift per replicate (replicate 0
    the point estimate): the journey model's by default (:meth:`of_model`), or any other, e.g. a
    simulator's truth in a benchmark. ``risk`` None scores a roadmap by its point estimate; a
    number q in (0, 0.5] by the q-quantile over the bootstrap replicates (a risk-averse roadmap).
    """

    uplift: Callable[[tuple[int, ...]], np.ndarray]
    effects: CandidateEffects
    target_order: int
    risk: float | None = None
    _memo: dict = field(default_factory=dict, compare=False, repr=False)  # the same set is asked for often

    @classmethod
    def of_model(cls, model: JourneyModel, effects: CandidateEffects, *, risk: float | None = None) -> "Valuation":
        return cls(lambda chosen: set_uplift(model, effects, chosen), effects, model.target_order, risk)

    def per_replicate(self, chosen: Sequence[int]) -> np.ndarray:
        key = tuple(sorted(chosen))
        if key not in self._memo:
            self._memo[key] = self.uplift(key)
        return self._memo[key]

    def of(self, chosen: Sequence[int]) -> float:
        """The statistic of the uplift of the roadmap ``chosen``."""
        return self.statistic(self.per_replicate(chosen))

    def statistic(self, per_replicate: np.ndarray) -> float:
        if self.risk is None or len(per_replicate) < 2:
            return float(per_replicate[0])
        return float(np.quantile(per_replicate[1:], self.risk))

    def realised(self, periods: Sequence[int], *, n_periods: int) -> float:
        """Value realised in the quarter: the mean over periods of the value of what is live by then."""
        live = [[n for n, start in enumerate(periods) if 0 < start <= p] for p in range(1, n_periods + 1)]
        return float(np.mean([self.of(items) for items in live]))


def choose_roadmap(candidates: pd.DataFrame, valuation: Valuation, limits: Limits) -> Selection:
    """The roadmap with the best value (as ``valuation`` measures it) that keeps every limit.

    Parameters
    ----------
    candidates
        One row per candidate in ``valuation.effects`` order: ``id, team, stage, effort, depends_on,
        excludes, expected_uplift``.

    Returns
    -------
    Selection
        From recommender.optimize, with ``objective``/``full_value`` re-valued exactly by the model.
        A risk-averse valuation also weighs the mean-optimal roadmap and keeps whichever has the
        better quantile, so asking for less risk never returns a worse low end.
    """
    best = _best_against(candidates, valuation, limits)
    if valuation.risk is None:
        return best
    mean_optimal = _best_against(candidates, replace(valuation, risk=None), limits)
    positions = {identifier: n for n, identifier in enumerate(valuation.effects.ids)}
    rescored = _exactly(mean_optimal, valuation, positions, limits.periods)
    return rescored if rescored.objective > best.objective + 1e-12 else best


def _best_against(candidates: pd.DataFrame, valuation: Valuation, limits: Limits) -> Selection:
    """Iterate MILP solves, each against curves re-drawn around the last roadmap; keep the best one met."""
    positions = {identifier: n for n, identifier in enumerate(valuation.effects.ids)}
    current: tuple[int, ...] = ()
    best: Selection | None = None
    seen: set[tuple[int, ...]] = set()
    for _ in range(MAX_ROUNDS):
        curves, additive = _curves_given(current, candidates, valuation)
        solved = select_roadmap(candidates.assign(expected_uplift=additive), limits, curves=curves)
        chosen = tuple(sorted(positions[i] for i in solved.chosen["id"]))
        exact = _exactly(solved, valuation, positions, limits.periods)
        if best is None or exact.objective > best.objective + 1e-12:
            best = exact
        if chosen in seen:
            break
        seen.add(chosen)
        current = chosen
    return best


def _exactly(solved: Selection, valuation: Valuation, positions: dict[str, int], n_periods: int) -> Selection:
    periods = [0] * len(positions)
    for identifier, period in zip(solved.chosen["id"], solved.chosen["period"]):
        periods[positions[identifier]] = int(period)
    chosen = [n for n, start in enumerate(periods) if start]
    return replace(solved, objective=valuation.realised(periods, n_periods=n_periods),
                   full_value=valuation.of(chosen))


def _curves_given(current: Sequence[int], candidates: pd.DataFrame,
                  valuation: Valuation) -> tuple[list[ValueCurve], np.ndarray]:
    """Each lever group's value curve given the rest of ``current``; other candidates valued one by one.

    Returns the curves, and the additive value of every candidate (0 for curve members: their value
    is in their curve).
    """
    effects = valuation.effects
    groups: dict[tuple[int, str, str], list[int]] = {}
    for n, key in enumerate(effects.keys):
        if np.isnan(effects.fixed[n]) and key[0] < valuation.target_order:
            groups.setdefault(key, []).append(n)
    additive = np.where(np.isnan(effects.fixed), 0.0, effects.fixed)
    curves = []
    for members in groups.values():
        rest = [n for n in current if n not in members]
        points = _group_points(members, rest, valuation)
        if len(points) > 1:
            ids = tuple(effects.ids[n] for n in members)
            curves.append(ValueCurve(ids, tuple(_strength(effects, n) for n in members), tuple(points)))
    return curves, additive


def _strength(effects: CandidateEffects, n: int) -> float:
    return float(-np.log1p(-min(effects.effects[0, n], 1.0 - 1e-9)))


def _group_points(members: Sequence[int], rest: Sequence[int], valuation: Valuation) -> list[tuple[float, float]]:
    """The upper concave hull of the group's value at its members' subset strengths (or a grid)."""
    effects = valuation.effects
    strengths = [_strength(effects, n) for n in members]
    if len(members) <= 4:
        subsets = [[m for k, m in enumerate(members) if mask >> k & 1] for mask in range(1 << len(members))]
    else:
        order = sorted(members, key=lambda n: -_strength(effects, n))
        subsets = [order[:k] for k in range(len(order) + 1)]
    base = valuation.of(rest)
    raw = {0.0: 0.0}
    for subset in subsets[1:]:  # subsets[0] is the empty one
        t = round(sum(strengths[members.index(n)] for n in subset), 12)
        raw[t] = max(raw.get(t, -np.inf), valuation.of([*rest, *subset]) - base)
    return _concave_hull(sorted(raw.items()))


def _concave_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Upper concave, non-decreasing envelope through (0, 0) of the points (x ascending)."""
    hull: list[tuple[float, float]] = []
    running = 0.0
    for x, y in points:
        y = max(y, running)  # a value never falls when more is done: the optimizer can always do less
        running = y
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], (x, y)) >= 0:
            hull.pop()
        hull.append((x, y))
    return hull if hull[-1][1] > 0 else [(0.0, 0.0)]


def _cross(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
