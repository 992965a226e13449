"""Choosing the roadmap: which candidates to fund, and in which period of the quarter each one starts.

The only module that imports pulp. The model, as the rules it encodes (``P`` periods, ``i`` a candidate):

- An item starts at most once, in one period ``p`` (``x[i, p] = 1``), and is chosen when it starts at
  all (``chosen[i] = sum_p x[i, p]``); its whole effort is spent in its start period. The model holds
  the running sums ``started[i, p] = x[i, 1] + ... + x[i, p]`` as its binaries (non-decreasing in
  ``p``, ``chosen[i] = started[i, P]``): the same rules, but HiGHS solves this form about 4x faster
  than the ``x`` form on 2,000 candidates (benchmarks/optimizer.py).
- **Budget**: the chosen items' effort is at most ``budget`` person-weeks.
- **Capacity**: in each period, the effort of a team's items starting then is at most that period's
  capacity (``capacity[team] / P``, or ``period_capacity[team][p - 1]``). A team without a capacity is
  bounded by the budget alone.
- **Dependencies**: an item is chosen only with its prerequisites, and starts at least one period after
  each of them (a prerequisite runs through its start period): ``started[i, p] <= started[j, p - 1]``
  for every ``p``, one row per period (one row summed over the periods is valid too, but slower). So the
  k-th item of a dependency chain
  starts in period k at the earliest, a chain longer than ``P`` cannot be finished, and an item whose
  prerequisite is not a candidate (or is forbidden) cannot be chosen.
- **Exclusions**: two items that exclude each other (either way round) are never both chosen; an
  excluded id that is not a candidate is ignored.
- **Stages**: at least ``stage_min[s]`` and at most ``stage_max[s]`` chosen items in stage ``s``.
- **Require / forbid**: a required item is chosen, a forbidden one is not.
- **Value**: ``V(S)`` of a set of live items is the sum of ``value_column`` over the items on no value
  curve, plus, for each curve, its concave piecewise-linear value of the summed strengths of its live
  members (their own ``value_column`` is then not added). Beyond its last point a curve continues its
  last segment. Maximising a concave function needs no binaries: one variable per curve and period,
  held under every segment's line.
- **Objective**: the value realised in the quarter, ``(1/P) * sum_{p=1..P} V(items started by p)`` —
  an item starting in period p earns ``(P - p + 1) / P`` of its value. With ``P = 1`` this is ``V`` of
  the chosen set. ``full_value`` is ``V`` of the whole chosen set, once everything is live.

Candidates are sorted by ``id`` first (same input, same model) and constraint names use positions, not
ids: ids and team names are user text, and PuLP rewrites some characters in names. ``_solve`` is the one
function that reads a solver status, the one place to change for PuLP 4.
"""

import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import pandas as pd
import pulp

from recommender.contract import require_columns
from recommender.errors import UserError

_TOLERANCE = 1e-9  # person-weeks: sums this close to a limit fit it
_FAMILIES: tuple[tuple[str, str], ...] = (  # constraint family -> what a user calls it, in message order
    ("require", "the required items"),
    ("stage_min", "the stage minimums"),
    ("stage_max", "the stage maximums"),
    ("budget", "the budget"),
    ("capacity", "the team capacities per period"),
    ("dependencies", "the dependencies (a prerequisite starts a period earlier)"),
    ("exclusions", "the exclusions"),
    ("forbid", "the forbidden items"),
)


@dataclass(frozen=True)
class ValueCurve:
    """The joint value of a group of candidates with diminishing returns (e.g. several on one lever and stage).

    ``value(group)`` is the concave piecewise-linear function through ``points`` of the summed
    ``strengths`` of the group's chosen members; past the last point its last segment continues.
    """

    members: tuple[str, ...]  # candidate ids
    strengths: tuple[float, ...]  # one per member, > 0 (the caller uses -log(1 - effect))
    points: tuple[tuple[float, float], ...]  # (total strength, value) from (0, 0), strength increasing, concave

    def __post_init__(self) -> None:
        name = f"the value curve over {', '.join(map(repr, self.members))}"
        _require(len(self.members) > 0 and len(set(self.members)) == len(self.members),
                 f"{name} must have distinct members, at least one")
        _require(len(self.strengths) == len(self.members) and all(s > 0 for s in self.strengths),
                 f"{name} needs one strength > 0 per member, got {self.strengths!r}")
        _require(len(self.points) >= 2 and tuple(self.points[0]) == (0, 0),
                 f"{name} needs points starting at (0, 0) and at least one more, got {self.points!r}")
        _require(all(b[0] > a[0] for a, b in zip(self.points, self.points[1:])),
                 f"{name} needs points in increasing strength, got {self.points!r}")
        slopes = [slope for _, slope in _segments(self)]
        _require(all(later <= earlier + _TOLERANCE for earlier, later in zip(slopes, slopes[1:])),
                 f"{name} must be concave (diminishing returns), got {self.points!r}")


@dataclass(frozen=True)
class Limits:
    """What a roadmap must respect this quarter, and how hard the solver may try."""

    budget: float  # person-weeks over the quarter
    capacity: Mapping[str, float] = field(default_factory=dict)  # team -> person-weeks over the quarter
    period_capacity: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # team -> weeks per period
    periods: int = 3
    stage_min: Mapping[str, int] = field(default_factory=dict)  # at least K chosen items in that stage
    stage_max: Mapping[str, int] = field(default_factory=dict)
    require: tuple[str, ...] = ()  # ids that must be chosen
    forbid: tuple[str, ...] = ()
    time_limit: float = 60.0  # seconds
    gap: float = 0.0  # relative MIP gap accepted (0 = proven optimum)

    def __post_init__(self) -> None:
        _require(isinstance(self.periods, int) and not isinstance(self.periods, bool) and self.periods >= 1,
                 f"periods must be a whole number >= 1, got {self.periods!r}")
        _require(math.isfinite(self.budget) and self.budget >= 0,
                 f"the budget must be >= 0 person-weeks, got {self.budget:g}")
        for team, weeks in self.capacity.items():
            _require(math.isfinite(weeks) and weeks >= 0,
                     f"the capacity of team {team!r} must be >= 0 person-weeks, got {weeks:g}")
        for team, weeks in self.period_capacity.items():
            _require(len(weeks) == self.periods and all(math.isfinite(w) and w >= 0 for w in weeks),
                     f"the period_capacity of team {team!r} must be {self.periods} weeks >= 0, one per period, "
                     f"got {tuple(weeks)!r}")
        for limit, counts in (("stage_min", self.stage_min), ("stage_max", self.stage_max)):
            for stage, count in counts.items():
                _require(isinstance(count, int) and count >= 0,
                         f"{limit} of stage {stage!r} must be a whole number >= 0, got {count!r}")
        for stage, least in self.stage_min.items():
            most = self.stage_max.get(stage, least)
            _require(least <= most, f"stage {stage!r} asks for at least {least} items but at most {most}")
        _require(self.time_limit > 0, f"time_limit must be > 0 seconds, got {self.time_limit:g}")
        _require(0 <= self.gap < 1, f"gap must be a share in [0, 1), got {self.gap:g}")


@dataclass(frozen=True)
class Selection:
    """The chosen roadmap and how it was found.

    ``chosen``: the chosen candidate rows, all columns kept, plus ``period`` (1-based start period), in
    ``id`` order. ``objective``: the value realised in the quarter; ``full_value``: the chosen set's value
    once everything is live. ``gap`` is the solver's achieved relative gap, None when it does not say.
    """

    chosen: pd.DataFrame
    objective: float
    full_value: float
    solver: str
    status: str
    gap: float | None
    seconds: float
    proven_optimal: bool


def select_roadmap(candidates: pd.DataFrame, limits: Limits, *, curves: Sequence[ValueCurve] = (),
                   value_column: str = "expected_uplift") -> Selection:
    """Choose the candidates, and each one's start period, that realise the most value within ``limits``.

    Parameters
    ----------
    candidates
        One row per candidate improvement: ``id`` (unique), ``team``, ``stage``, ``effort`` (> 0),
        ``value_column`` (>= 0, objective units), ``depends_on`` and ``excludes`` (tuples of ids).
    limits
        Budget, capacities, periods, stage counts, required and forbidden ids, solver limits.
    curves
        Groups of candidates valued jointly with diminishing returns; a candidate is on one curve at most.

    Returns
    -------
    Selection
        ``chosen`` holds the chosen rows, all columns kept, plus ``period``, in ``id`` order.

    Raises
    ------
    UserError
        When no roadmap fits the limits (one line naming the conflicting limits), or the request is malformed.
    """
    catalog = _catalog(candidates, limits, curves, value_column)
    _check_request(catalog, limits)
    problem, started = _model(catalog, limits, families=frozenset(name for name, _ in _FAMILIES))
    if not started:
        nothing = _Outcome(solver="none", status="nothing can be chosen", gap=0.0, seconds=0.0, proven_optimal=True,
                           has_solution=True, infeasible=False)
        return _selection(catalog, limits, {}, nothing)
    outcome = _solve(problem, limits)
    if outcome.infeasible:
        raise UserError(f"no roadmap fits: {_conflict(catalog, limits)} cannot all hold")
    if not outcome.has_solution:
        raise UserError(f"no roadmap found within {limits.time_limit:g} s (solver status {outcome.status!r}); "
                        "allow more time or a larger gap")
    periods: dict[int, int] = {}
    for (i, p), live in started.items():  # in period order for each item: the first live one is its start
        if live.value() > 0.5:
            periods.setdefault(i, p)
    return _selection(catalog, limits, periods, outcome)


def budget_frontier(limits: Limits, choose: Callable[[Limits], Selection], *,
                    shares: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0),
                    request: Selection | None = None) -> pd.DataFrame:
    """What each budget would buy: the roadmap re-chosen by ``choose`` with ``limits.budget`` scaled by each share.

    ``choose`` is ``select_roadmap`` on fixed values, or a chooser that re-values sets by a model;
    ``request`` is the selection at ``limits`` when the caller already has it (not solved again).
    Capacities and every other limit stay as they are. A share whose budget cannot fit the required
    items gets empty values; the request itself (share 1) must fit.

    Returns
    -------
    pd.DataFrame
        One row per share, in the given order: ``share``, ``budget``, ``full_value``, ``objective``,
        ``items`` (chosen count) and ``effort`` (their person-weeks).
    """
    request = choose(limits) if request is None else request  # must fit
    rows = []
    for share in shares:
        budget = limits.budget * share
        try:
            selection = request if share == 1 else choose(replace(limits, budget=budget))
        except UserError:  # a smaller budget than the required items need
            rows.append({"share": share, "budget": budget, "full_value": math.nan, "objective": math.nan,
                         "items": pd.NA, "effort": math.nan})
            continue
        rows.append({"share": share, "budget": budget, "full_value": selection.full_value,
                     "objective": selection.objective, "items": len(selection.chosen),
                     "effort": float(selection.chosen["effort"].sum())})
    return pd.DataFrame(rows, columns=["share", "budget", "full_value", "objective", "items", "effort"]).astype(
        {"share": "float64", "budget": "float64", "full_value": "float64", "objective": "float64",
         "items": "Int64", "effort": "float64"})


@dataclass(frozen=True)
class _Catalog:
    """The candidates sorted by id, as positions: what the model and the checks read."""

    rows: pd.DataFrame  # the candidates in id order, RangeIndex = position
    ids: tuple[str, ...]
    teams: tuple[str, ...]
    stages: tuple[str, ...]
    efforts: tuple[float, ...]
    values: tuple[float, ...]
    position: dict[str, int]
    prerequisites: tuple[tuple[str, ...], ...]  # depends_on as given (ids, maybe not candidates)
    excluded_pairs: tuple[tuple[int, int], ...]  # (i, j) with i < j
    curves: tuple[ValueCurve, ...]
    curve_of: dict[int, int]  # position -> index of its curve

    def requires(self, i: int) -> tuple[int, ...] | None:
        """Positions of item i's prerequisites; None when one of them is not a candidate."""
        if any(needed not in self.position for needed in self.prerequisites[i]):
            return None
        return tuple(sorted({self.position[needed] for needed in self.prerequisites[i]}))


@dataclass(frozen=True)
class _Outcome:
    """What one solve achieved, read from the solver once."""

    solver: str
    status: str
    gap: float | None
    seconds: float
    proven_optimal: bool
    has_solution: bool
    infeasible: bool


def _catalog(candidates: pd.DataFrame, limits: Limits, curves: Sequence[ValueCurve], value_column: str) -> _Catalog:
    """Check the candidates and the ids the request names, and index them by position in id order."""
    require_columns(candidates, ["id", "team", "stage", "effort", value_column, "depends_on", "excludes"],
                    table="candidates")
    rows = candidates.sort_values("id", ignore_index=True)
    ids = tuple(rows["id"])
    efforts = tuple(float(effort) for effort in rows["effort"])
    values = tuple(float(value) for value in rows[value_column])
    for n, candidate in enumerate(ids):
        _require(n == 0 or ids[n - 1] != candidate, f"candidate id {candidate!r} appears more than once")
        _require(math.isfinite(efforts[n]) and efforts[n] > 0,
                 f"candidate {candidate!r} needs an effort > 0 person-weeks, got {efforts[n]:g}")
        _require(math.isfinite(values[n]) and values[n] >= 0,
                 f"candidate {candidate!r} needs a {value_column} >= 0, got {values[n]:g}")
    position = {candidate: n for n, candidate in enumerate(ids)}
    for name, listed in (("require", limits.require), ("forbid", limits.forbid)):
        unknown = sorted(set(listed) - set(position))
        _require(not unknown, f"{name} names {', '.join(map(repr, unknown))}, not among the candidates")
    curve_of: dict[int, int] = {}
    for c, curve in enumerate(curves):
        for member in curve.members:
            _require(member in position, f"value curve member {member!r} is not a candidate")
            _require(position[member] not in curve_of, f"candidate {member!r} is on more than one value curve")
            curve_of[position[member]] = c
    excluded_pairs = {
        (min(i, position[other]), max(i, position[other]))
        for i, others in enumerate(rows["excludes"]) for other in others
        if other in position and position[other] != i
    }
    return _Catalog(rows, ids, tuple(rows["team"]), tuple(rows["stage"]), efforts, values, position,
                    tuple(tuple(needed) for needed in rows["depends_on"]), tuple(sorted(excluded_pairs)),
                    tuple(curves), curve_of)


def _earliest_starts(catalog: _Catalog, periods: int, *, forbidden: frozenset[int],
                     dependencies: bool) -> dict[int, int]:
    """The first period each item that can be chosen can start in; items that cannot are left out.

    With dependencies, an item starts a period after its latest-starting prerequisite, so it is left
    out when that is past the last period or a prerequisite is left out or not a candidate.
    """
    if not dependencies:
        return {i: 1 for i in range(len(catalog.ids)) if i not in forbidden}
    requires = {i: catalog.requires(i) for i in range(len(catalog.ids))}
    start = {i: 1 for i, needed in requires.items() if i not in forbidden and needed is not None}
    changed = True
    while changed:  # starts only rise, up to `periods`, or items drop out: this ends
        changed = False
        for i in list(start):
            earliest = 1 + max((start.get(j, periods + 1) for j in requires[i]), default=0)
            if earliest > periods:
                del start[i]
                changed = True
            elif earliest > start[i]:
                start[i] = earliest
                changed = True
    return start


def _check_request(catalog: _Catalog, limits: Limits) -> None:
    """Raise the UserError of the first conflict direct checks can name, before any solve.

    Required items, and their prerequisites (needed just the same), against forbid, the candidates,
    the periods, exclusions, stage maximums, budget and capacities; stage minimums against what can
    be chosen there.
    """
    both = sorted(set(limits.require) & set(limits.forbid))
    if both:
        raise UserError(f"no roadmap fits: {both[0]!r} is both required and forbidden")
    required = sorted(catalog.position[r] for r in set(limits.require))
    forbidden = frozenset(catalog.position[f] for f in limits.forbid)
    needed_by = {i: i for i in required}  # every item the required ones need -> the required item needing it
    frontier = list(required)
    while frontier:
        i = frontier.pop()
        for prerequisite in catalog.prerequisites[i]:
            why = ("not a candidate" if prerequisite not in catalog.position
                   else "forbidden" if catalog.position[prerequisite] in forbidden else None)
            if why:
                raise UserError(f"no roadmap fits: required {catalog.ids[needed_by[i]]!r} needs {prerequisite!r}, "
                                f"which is {why}")
            if catalog.position[prerequisite] not in needed_by:
                needed_by[catalog.position[prerequisite]] = needed_by[i]
                frontier.append(catalog.position[prerequisite])

    start = _earliest_starts(catalog, limits.periods, forbidden=forbidden, dependencies=True)
    for i in required:
        if i not in start:  # forbid and missing prerequisites are ruled out above: the chain is too long
            raise UserError(f"no roadmap fits: required {catalog.ids[i]!r} needs the chain "
                            f"{_chain(catalog, i, start, limits.periods)}, one period per item, but there "
                            f"{'is' if limits.periods == 1 else 'are'} {_count(limits.periods, 'period')}")

    def described(i: int) -> str:
        if needed_by[i] == i:
            return f"required {catalog.ids[i]!r}"
        return f"prerequisite {catalog.ids[i]!r} of required {catalog.ids[needed_by[i]]!r}"

    for i, j in catalog.excluded_pairs:
        if i in needed_by and j in needed_by:
            pair = (f"required {catalog.ids[i]!r} and {catalog.ids[j]!r}" if needed_by[i] == i and needed_by[j] == j
                    else f"{described(i)} and {described(j)}")
            raise UserError(f"no roadmap fits: {pair} exclude each other")

    needed = sorted(needed_by)
    what = "required items" if len(needed) == len(required) else "required items and their prerequisites"
    for stage, most in sorted(limits.stage_max.items()):
        there = sum(catalog.stages[i] == stage for i in needed)
        if there > most:
            raise UserError(f"no roadmap fits: at most {_count(most, 'item')} in stage {stage!r} "
                            f"but {there} of the {what} are there")
    total = sum(catalog.efforts[i] for i in needed)
    if total > limits.budget + _TOLERANCE:
        raise UserError(f"no roadmap fits: {what} need {total:g} person-weeks, the budget is {limits.budget:g}")
    for i in needed:
        team, weeks = catalog.teams[i], _team_weeks(limits, catalog.teams[i])
        if weeks is not None and catalog.efforts[i] > max(weeks[start[i] - 1:]) + _TOLERANCE:
            raise UserError(f"no roadmap fits: {described(i)} ({catalog.efforts[i]:g} weeks, {team}) "
                            f"exceeds {team} capacity {max(weeks[start[i] - 1:]):g} weeks per period")
    for team in sorted({catalog.teams[i] for i in needed}):
        weeks = _team_weeks(limits, team)
        team_total = sum(catalog.efforts[i] for i in needed if catalog.teams[i] == team)
        if weeks is not None and team_total > sum(weeks) + _TOLERANCE:
            raise UserError(f"no roadmap fits: {what} need {team_total:g} weeks of {team}, "
                            f"its capacity is {sum(weeks):g} weeks over the quarter")
    for stage, least in sorted(limits.stage_min.items()):
        there = catalog.stages.count(stage)
        choosable = sum(catalog.stages[i] == stage for i in start)
        if there < least:
            raise UserError(f"no roadmap fits: at least {_count(least, 'item')} in stage {stage!r} "
                            f"but only {_count(there, 'candidate')} there")
        if choosable < least:
            raise UserError(f"no roadmap fits: at least {_count(least, 'item')} in stage {stage!r} "
                            f"but only {choosable} of its {_count(there, 'candidate')} can be chosen "
                            "(the others are forbidden or their prerequisites cannot be met)")


def _chain(catalog: _Catalog, i: int, start: dict[int, int], periods: int) -> str:
    """The dependency chain that keeps item i out of the quarter, first prerequisite first: 'a' -> 'b' -> 'c'."""
    chain = [i]
    while needed := catalog.requires(chain[-1]):
        latest = max(needed, key=lambda j: start.get(j, periods + 1))  # left out, else the latest starting
        chain.append(latest)
        if latest in chain[:-1]:  # a cycle: show it closed
            break
    return " -> ".join(repr(catalog.ids[j]) for j in reversed(chain))


def _model(catalog: _Catalog, limits: Limits, *, families: frozenset[str]) -> tuple[pulp.LpProblem, dict]:
    """The roadmap MIP with the given constraint families; returns it and its ``started[(i, p)]`` binaries.

    ``started[i, p]`` (item i has started by period p) exists from the item's earliest period on;
    the item starts in period p when ``started[i, p] - started[i, p - 1]`` is 1.
    """
    periods = limits.periods
    forbidden = frozenset(catalog.position[f] for f in limits.forbid) if "forbid" in families else frozenset()
    earliest = _earliest_starts(catalog, periods, forbidden=forbidden, dependencies="dependencies" in families)
    problem = pulp.LpProblem("roadmap", pulp.LpMaximize)
    started = problem.add_variable_dicts(
        "started", [(i, p) for i in sorted(earliest) for p in range(earliest[i], periods + 1)], cat=pulp.LpBinary)

    def started_by(i: int, p: int) -> pulp.LpAffineExpression:
        return pulp.lpSum([started[i, p]] if (i, p) in started else [])

    def starts_in(i: int, p: int) -> pulp.LpAffineExpression:
        return started_by(i, p) - started_by(i, p - 1)

    chosen = {i: started[i, periods] for i in sorted(earliest)}
    curve_value = problem.add_variable_dicts(
        "curve_value", [(c, p) for c in range(len(catalog.curves)) for p in range(1, periods + 1)])
    problem += (  # each period an item is live earns 1/P of its value
        pulp.lpSum(catalog.values[i] / periods * live for (i, _), live in started.items() if i not in catalog.curve_of)
        + pulp.lpSum(curve_value.values()) / periods
    ), "realised_value"

    for c, curve in enumerate(catalog.curves):
        members = [(catalog.position[m], s) for m, s in zip(curve.members, curve.strengths)]
        for p in range(1, periods + 1):
            strength = pulp.lpSum(s * started_by(i, p) for i, s in members)
            for k, (intercept, slope) in enumerate(_segments(curve)):
                problem += curve_value[c, p] <= intercept + slope * strength, f"curve_{c}_{p}_{k}"
    for (i, p), live in started.items():
        if (i, p - 1) in started:
            problem += started[i, p - 1] <= live, f"stays_started_{i}_{p}"
    if "budget" in families:
        problem += pulp.lpSum(catalog.efforts[i] * taken for i, taken in chosen.items()) <= limits.budget, "budget"
    if "capacity" in families:
        for t, team in enumerate(sorted(set(catalog.teams))):
            weeks = _team_weeks(limits, team)
            members = [i for i in chosen if catalog.teams[i] == team]
            for p in range(1, periods + 1) if weeks is not None else ():
                effort = pulp.lpSum(catalog.efforts[i] * starts_in(i, p) for i in members)
                problem += effort <= weeks[p - 1], f"capacity_{t}_{p}"
    if "dependencies" in families:
        for i in chosen:
            for j in catalog.requires(i):
                for p in range(earliest[i], periods + 1):
                    problem += started[i, p] <= started_by(j, p - 1), f"needs_{i}_{j}_{p}"
    if "exclusions" in families:
        for i, j in catalog.excluded_pairs:
            if i in chosen and j in chosen:
                problem += chosen[i] + chosen[j] <= 1, f"excludes_{i}_{j}"
    for family, sense, counts in (("stage_min", pulp.LpConstraintGE, limits.stage_min),
                                  ("stage_max", pulp.LpConstraintLE, limits.stage_max)):
        for s, (stage, count) in enumerate(sorted(counts.items()) if family in families else ()):
            in_stage = pulp.lpSum(taken for i, taken in chosen.items() if catalog.stages[i] == stage)
            problem += pulp.LpConstraint(in_stage, sense, rhs=count), f"{family}_{s}"
    if "require" in families:
        for r, i in enumerate(sorted({catalog.position[r] for r in limits.require})):
            problem += chosen[i] == 1, f"require_{r}"
    return problem, started


def _conflict(catalog: _Catalog, limits: Limits) -> str:
    """Name a minimal set of constraint families that cannot all hold, found by deletion filtering.

    Drop each family in turn and re-solve: a family whose removal leaves the model infeasible is not
    needed for the conflict, so it stays dropped. What remains is a conflict no family can leave.
    Only feasibility matters here, so the re-solves have no objective and stop at the first plan.
    """
    kept = {name for name, _ in _FAMILIES}
    for name, _ in _FAMILIES:
        problem, _ = _model(catalog, limits, families=frozenset(kept - {name}))
        problem.setObjective(pulp.LpAffineExpression())
        if _solve(problem, limits).infeasible:
            kept.discard(name)
    words = [words for name, words in _FAMILIES if name in kept]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _solve(problem: pulp.LpProblem, limits: Limits) -> _Outcome:
    """Solve with HiGHS in-process (CBC when highspy is missing) and read the status: the only place that does.

    Only ``sol_status == LpSolutionOptimal`` is an optimum, and with a gap > 0 only one within the gap:
    a time-limited "Optimal" status may hold a merely feasible solution.
    """
    solver = pulp.HiGHS(msg=False, timeLimit=limits.time_limit, gapRel=limits.gap)
    if not solver.available():
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=limits.time_limit, gapRel=limits.gap)
    began = time.perf_counter()
    with _quiet_stdout():
        problem.solve(solver)
    seconds = time.perf_counter() - began
    has_solution = problem.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    gap = problem.solverModel.getInfo().mip_gap if isinstance(solver, pulp.HiGHS) and has_solution else None
    optimal = problem.sol_status == pulp.LpSolutionOptimal
    return _Outcome(
        solver=solver.name, status=pulp.LpSolution[problem.sol_status], gap=gap, seconds=seconds,
        proven_optimal=optimal and (limits.gap == 0 or gap == 0),
        has_solution=has_solution, infeasible=problem.status == pulp.LpStatusInfeasible,
    )


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Point file descriptor 1 at os.devnull: highspy prints a banner there, past sys.stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _selection(catalog: _Catalog, limits: Limits, periods: dict[int, int], outcome: _Outcome) -> Selection:
    """The chosen rows with their start periods, and the value they realise, computed from the plan itself."""
    order = sorted(periods)
    chosen = (catalog.rows.iloc[order]
              .assign(period=pd.array([periods[i] for i in order], dtype="int64")).reset_index(drop=True))
    realised = sum(_value(catalog, [i for i in order if periods[i] <= p]) for p in range(1, limits.periods + 1))
    return Selection(chosen=chosen, objective=realised / limits.periods, full_value=_value(catalog, order),
                     solver=outcome.solver, status=outcome.status, gap=outcome.gap, seconds=outcome.seconds,
                     proven_optimal=outcome.proven_optimal)


def _value(catalog: _Catalog, live: Sequence[int]) -> float:
    """V of a set of live items: additive off the curves, each curve's value of its members' summed strength."""
    strength = [0.0] * len(catalog.curves)
    additive = 0.0
    for i in live:
        if i in catalog.curve_of:
            curve = catalog.curves[catalog.curve_of[i]]
            strength[catalog.curve_of[i]] += curve.strengths[curve.members.index(catalog.ids[i])]
        else:
            additive += catalog.values[i]
    return additive + sum(min(a + b * t for a, b in _segments(curve)) for curve, t in zip(catalog.curves, strength))


def _segments(curve: ValueCurve) -> list[tuple[float, float]]:
    """(intercept, slope) of each segment of the curve's line, first to last."""
    lines = []
    for (t0, v0), (t1, v1) in zip(curve.points, curve.points[1:]):
        slope = (v1 - v0) / (t1 - t0)
        lines.append((v0 - slope * t0, slope))
    return lines


def _team_weeks(limits: Limits, team: str) -> tuple[float, ...] | None:
    """The team's capacity in each period, or None when only the budget bounds it."""
    if team in limits.period_capacity:
        return tuple(limits.period_capacity[team])
    if team in limits.capacity:
        return (limits.capacity[team] / limits.periods,) * limits.periods
    return None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise UserError(problem)
