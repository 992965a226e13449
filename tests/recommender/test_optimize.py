"""recommender.optimize: optimal against brute force, every limit kept, one exact line per impossible request."""

import itertools
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.errors import UserError
from recommender.optimize import Limits, ValueCurve, budget_frontier, select_roadmap

TEAMS = ("sales", "marketing", "product")
STAGES = ("research", "decision")


def catalog(*rows: tuple) -> pd.DataFrame:
    """Candidates from (id, team, stage, effort, expected_uplift, depends_on, excludes) tuples."""
    return pd.DataFrame(rows, columns=["id", "team", "stage", "effort", "expected_uplift", "depends_on", "excludes"])


def random_catalog(n: int, *, seed: int) -> pd.DataFrame:
    """n candidates with integer efforts and values (many ties), some chained, some excluding each other."""
    rng = np.random.default_rng(seed)
    ids = [f"item{i:02d}" for i in range(n)]
    return pd.DataFrame({
        "id": ids,
        "team": rng.choice(TEAMS, n),
        "stage": rng.choice(STAGES, n),
        "effort": rng.integers(1, 6, n).astype(float),
        "expected_uplift": rng.integers(0, 10, n).astype(float),
        "depends_on": [(ids[i - 1],) if i % 5 == 4 else () for i in range(n)],
        "excludes": [(ids[i + 3],) if i % 7 == 0 and i + 3 < n else () for i in range(n)],
    })


# --- an oracle that knows the rules, not the model ------------------------------------------------

def per_period_weeks(limits: Limits, team: str) -> tuple[float, ...] | None:
    if team in limits.period_capacity:
        return limits.period_capacity[team]
    if team in limits.capacity:
        return (limits.capacity[team] / limits.periods,) * limits.periods
    return None


def broken_set_rules(chosen: set[str], rows: dict[str, tuple], limits: Limits) -> list[str]:
    """Every rule the chosen set breaks whatever the start periods; ``rows`` are the candidates by id."""
    broken = ["budget"] if sum(rows[i].effort for i in chosen) > limits.budget else []
    for i in chosen:
        broken += [f"{i} without {needed}" for needed in rows[i].depends_on if needed not in chosen]
        broken += [f"{i} with {other}" for other in rows[i].excludes if other in chosen]
    for stage in STAGES:
        count = sum(rows[i].stage == stage for i in chosen)
        if not limits.stage_min.get(stage, 0) <= count <= limits.stage_max.get(stage, len(rows)):
            broken.append(f"{count} in {stage}")
    broken += [f"{i} not chosen" for i in limits.require if i not in chosen]
    broken += [f"{i} chosen" for i in limits.forbid if i in chosen]
    return broken


def broken_timing_rules(plan: dict[str, int], rows: dict[str, tuple], limits: Limits) -> list[str]:
    """Every rule the start periods (id -> period) of a chosen set break."""
    broken = [f"{i} starts in period {p}" for i, p in plan.items() if not 1 <= p <= limits.periods]
    for team in TEAMS:
        weeks = per_period_weeks(limits, team)
        for p in range(1, limits.periods + 1) if weeks else ():
            if sum(rows[i].effort for i, q in plan.items() if q == p and rows[i].team == team) > weeks[p - 1] + 1e-9:
                broken.append(f"{team} capacity in period {p}")
    for i, p in plan.items():
        broken += [f"{i} not after {needed}" for needed in rows[i].depends_on if plan.get(needed, p) >= p]
    return broken


def curve_value(curve: ValueCurve, strength: float) -> float:
    """Interpolate the curve's points; past the last one, carry on along the last segment."""
    for (t0, v0), (t1, v1) in zip(curve.points, curve.points[1:]):
        if strength <= t1 or (t1, v1) == curve.points[-1]:
            return v0 + (v1 - v0) * (strength - t0) / (t1 - t0)
    raise AssertionError("unreachable: the last segment always returns")


def set_value(live: set[str], rows: dict[str, tuple], curves: tuple[ValueCurve, ...]) -> float:
    on_curves = {member for curve in curves for member in curve.members}
    return sum(rows[i].expected_uplift for i in live - on_curves) + sum(
        curve_value(curve, sum(s for m, s in zip(curve.members, curve.strengths) if m in live)) for curve in curves)


def realised_value(plan: dict[str, int], rows: dict[str, tuple], periods: int, curves: tuple[ValueCurve, ...]) -> float:
    return sum(set_value({i for i, q in plan.items() if q <= p}, rows, curves) for p in range(1, periods + 1)) / periods


def best_by_brute_force(rows: dict[str, tuple], limits: Limits, curves: tuple[ValueCurve, ...]) -> float | None:
    """The most value any plan realises, over every set and choice of start periods; None if no plan fits."""
    sets = (set(chosen) for size in range(len(rows) + 1) for chosen in itertools.combinations(rows, size))
    plans = (dict(zip(chosen, starts)) for chosen in sets if not broken_set_rules(chosen, rows, limits)
             for starts in itertools.product(range(1, limits.periods + 1), repeat=len(chosen)))
    return max((realised_value(plan, rows, limits.periods, curves)
                for plan in plans if not broken_timing_rules(plan, rows, limits)), default=None)


def by_id(candidates: pd.DataFrame) -> dict[str, tuple]:
    return {row.id: row for row in candidates.itertuples(index=False)}


@st.composite
def requests(draw, *, crowded: bool = False) -> tuple[pd.DataFrame, Limits, tuple[ValueCurve, ...]]:
    """Up to six candidates in any row order, integer efforts and values, every kind of limit, maybe a curve.

    ``crowded``: three periods and every team short of weeks in each, so plans spread over the periods.
    """
    n = draw(st.integers(1, 6))
    ids = [f"c{i}" for i in range(n)]
    pairs = list(itertools.combinations(ids, 2))
    excluded = draw(st.lists(st.sampled_from(pairs), max_size=2, unique=True)) if pairs else []
    candidates = pd.DataFrame({
        "id": ids,
        "team": draw(st.lists(st.sampled_from(TEAMS), min_size=n, max_size=n)),
        "stage": draw(st.lists(st.sampled_from(STAGES), min_size=n, max_size=n)),
        "effort": draw(st.lists(st.integers(1, 8), min_size=n, max_size=n)),
        "expected_uplift": draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)),
        "depends_on": [tuple(sorted(draw(st.sets(st.sampled_from(ids[:i]), max_size=2)))) if i else ()
                       for i in range(n)],  # on earlier ids only: no cycles
        "excludes": [tuple(b for a, b in excluded if a == i) for i in ids],  # one side only: the rule is symmetric
    }).iloc[draw(st.permutations(range(n)))]
    if crowded:
        limits = Limits(budget=int(candidates["effort"].sum()), periods=3,
                        period_capacity={team: draw(st.tuples(*[st.integers(2, 8)] * 3)) for team in TEAMS})
    else:
        periods = draw(st.sampled_from((1, 2, 3)))
        one_in_four = st.integers(0, 3).map(lambda k: k == 0)
        stage_min = {draw(st.sampled_from(STAGES)): draw(st.integers(1, 2))} if draw(one_in_four) else {}
        stage_max = {stage: max(most, stage_min.get(stage, 0)) for stage, most
                     in draw(st.dictionaries(st.sampled_from(STAGES), st.integers(1, 4), max_size=1)).items()}
        require = (draw(st.sampled_from(ids)),) if draw(one_in_four) else ()
        others = [i for i in ids if i not in require]
        limits = Limits(
            budget=round(candidates["effort"].sum() * draw(st.sampled_from((0.3, 0.5, 0.7, 1.0, 0.0)))),
            capacity=draw(st.dictionaries(st.sampled_from(TEAMS), st.integers(0, 24), max_size=3)),
            period_capacity=draw(st.dictionaries(st.sampled_from(TEAMS), st.tuples(*[st.integers(0, 10)] * periods),
                                                 max_size=2)),
            periods=periods, stage_min=stage_min, stage_max=stage_max,
            require=require, forbid=(draw(st.sampled_from(others)),) if others and draw(one_in_four) else (),
        )
    curves = ()
    if n >= 2 and draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=min(3, n), unique=True))
        widths = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
        slopes = sorted(draw(st.lists(st.integers(0, 10), min_size=len(widths), max_size=len(widths))), reverse=True)
        points = [(0, 0)]
        for width, slope in zip(widths, slopes):
            points.append((points[-1][0] + width, points[-1][1] + width * slope))
        curves = (ValueCurve(tuple(members), tuple(draw(st.lists(st.integers(1, 3), min_size=len(members),
                                                                 max_size=len(members)))), tuple(points)),)
    return candidates, limits, curves


@settings(deadline=None, max_examples=150)
@given(request=st.one_of(requests(), requests(crowded=True)))
def test_roadmap_is_as_good_as_brute_force_and_keeps_every_rule(request):
    candidates, limits, curves = request
    rows = by_id(candidates)
    best = best_by_brute_force(rows, limits, curves)

    if best is None:
        with pytest.raises(UserError, match="^no roadmap fits: "):
            select_roadmap(candidates, limits, curves=curves)
        return
    selection = select_roadmap(candidates, limits, curves=curves)
    plan = dict(zip(selection.chosen["id"], selection.chosen["period"]))

    assert broken_set_rules(set(plan), rows, limits) + broken_timing_rules(plan, rows, limits) == []
    assert selection.objective == pytest.approx(best)
    assert selection.objective == pytest.approx(realised_value(plan, rows, limits.periods, curves))
    assert selection.full_value == pytest.approx(set_value(set(plan), rows, curves))
    assert list(selection.chosen.columns) == [*candidates.columns, "period"]
    assert list(selection.chosen["id"]) == sorted(plan)
    assert selection.proven_optimal


# --- curves --------------------------------------------------------------------------------------

def test_two_members_of_a_curve_are_worth_less_together_and_the_solver_knows():
    candidates = catalog(("a", "sales", "decision", 1.0, 10.0, (), ()),
                         ("b", "sales", "decision", 1.0, 9.0, (), ()),
                         ("c", "sales", "decision", 1.0, 8.0, (), ()))
    curve = ValueCurve(("a", "b"), (1.0, 0.9), ((0.0, 0.0), (1.0, 10.0), (2.0, 15.0)))
    limits = Limits(budget=2, periods=1)

    together = select_roadmap(candidates, Limits(budget=2, periods=1, require=("a", "b")), curves=[curve])
    with_curve = select_roadmap(candidates, limits, curves=[curve])
    additive = select_roadmap(candidates, limits)

    assert together.full_value == pytest.approx(14.5)  # 10 + 0.9 * 5, less than 10 + 9 alone
    assert list(with_curve.chosen["id"]) == ["a", "c"] and with_curve.full_value == pytest.approx(18)
    assert list(additive.chosen["id"]) == ["a", "b"] and additive.full_value == pytest.approx(19)


def test_an_earlier_start_realises_more_of_the_quarter():
    candidates = catalog(("a", "sales", "decision", 2.0, 6.0, (), ()),
                         ("b", "sales", "decision", 2.0, 3.0, ("a",), ()))

    selection = select_roadmap(candidates, Limits(budget=10, periods=3))

    pd.testing.assert_frame_equal(selection.chosen, candidates.assign(period=[1, 2]))
    assert selection.objective == pytest.approx(6 + 3 * 2 / 3)
    assert selection.full_value == pytest.approx(9)


# --- impossible and malformed requests ------------------------------------------------------------

PLAYBOOKS = catalog(
    ("a", "sales", "decision", 3.0, 5.0, (), ("b",)),
    ("b", "sales", "decision", 3.0, 4.0, (), ()),
    ("c", "marketing", "research", 2.0, 3.0, ("a",), ()),
    ("d", "marketing", "research", 2.0, 1.0, ("c", "z"), ()),
    ("e", "sales", "research", 3.0, 2.0, ("b",), ()),
    ("f", "marketing", "decision", 4.0, 2.0, ("e",), ("c",)),
    ("poc_playbook", "sales", "evaluation", 6.0, 9.0, (), ()),
)


@pytest.mark.parametrize(("limits", "message"), [
    pytest.param(dict(require=("a",), forbid=("a",)), "no roadmap fits: 'a' is both required and forbidden",
                 id="required and forbidden"),
    pytest.param(dict(require=("d",)), "no roadmap fits: required 'd' needs 'z', which is not a candidate",
                 id="prerequisite not a candidate"),
    pytest.param(dict(require=("c",), forbid=("a",)), "no roadmap fits: required 'c' needs 'a', which is forbidden",
                 id="prerequisite forbidden"),
    pytest.param(dict(require=("f",), periods=2),
                 "no roadmap fits: required 'f' needs the chain 'b' -> 'e' -> 'f', one period per item, "
                 "but there are 2 periods", id="chain longer than the periods"),
    pytest.param(dict(require=("a", "b")), "no roadmap fits: required 'a' and 'b' exclude each other",
                 id="required items exclude each other"),
    pytest.param(dict(require=("a", "e")),
                 "no roadmap fits: required 'a' and prerequisite 'b' of required 'e' exclude each other",
                 id="a prerequisite excludes a required item"),
    pytest.param(dict(require=("f",), stage_max={"decision": 1}),
                 "no roadmap fits: at most 1 item in stage 'decision' but 2 of the required items and their "
                 "prerequisites are there", id="stage maximum"),
    pytest.param(dict(require=("b", "poc_playbook"), budget=8),
                 "no roadmap fits: required items need 9 person-weeks, the budget is 8", id="budget"),
    pytest.param(dict(require=("poc_playbook",), capacity={"sales": 12}),
                 "no roadmap fits: required 'poc_playbook' (6 weeks, sales) exceeds sales capacity 4 weeks per period",
                 id="capacity per period"),
    pytest.param(dict(require=("e",), period_capacity={"sales": (3, 2)}, periods=2),
                 "no roadmap fits: required 'e' (3 weeks, sales) exceeds sales capacity 2 weeks per period",
                 id="capacity in the periods after the prerequisite"),
    pytest.param(dict(require=("a", "poc_playbook"), period_capacity={"sales": (6, 2)}, periods=2),
                 "no roadmap fits: required items need 9 weeks of sales, its capacity is 8 weeks over the quarter",
                 id="team capacity over the quarter"),
    pytest.param(dict(stage_min={"evaluation": 2}),
                 "no roadmap fits: at least 2 items in stage 'evaluation' but only 1 candidate there",
                 id="stage minimum"),
    pytest.param(dict(stage_min={"research": 3}),
                 "no roadmap fits: at least 3 items in stage 'research' but only 2 of its 3 candidates can be chosen "
                 "(the others are forbidden or their prerequisites cannot be met)", id="stage minimum of choosable"),
    pytest.param(dict(stage_min={"decision": 2}, forbid=("f",)),
                 "no roadmap fits: the stage minimums, the exclusions and the forbidden items cannot all hold",
                 id="solver: stage minimum, exclusions, forbid"),
    pytest.param(dict(require=("e", "poc_playbook"), period_capacity={"sales": (6, 6)}, periods=2),
                 "no roadmap fits: the required items, the team capacities per period and "
                 "the dependencies (a prerequisite starts a period earlier) cannot all hold",
                 id="solver: capacity and dependencies"),
])
def test_an_impossible_request_names_the_conflict_in_one_line(limits, message):
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        select_roadmap(PLAYBOOKS, Limits(**{"budget": 40, **limits}))


@pytest.mark.parametrize(("limits", "curves", "message"), [
    pytest.param(dict(budget=-1), (), "the budget must be >= 0 person-weeks, got -1", id="negative budget"),
    pytest.param(dict(capacity={"sales": -2}), (), "the capacity of team 'sales' must be >= 0 person-weeks, got -2",
                 id="negative capacity"),
    pytest.param(dict(period_capacity={"sales": (1, 2)}), (),
                 "the period_capacity of team 'sales' must be 3 weeks >= 0, one per period, got (1, 2)",
                 id="period capacity of the wrong length"),
    pytest.param(dict(periods=0), (), "periods must be a whole number >= 1, got 0", id="no periods"),
    pytest.param(dict(stage_min={"decision": 2}, stage_max={"decision": 1}), (),
                 "stage 'decision' asks for at least 2 items but at most 1", id="stage minimum above maximum"),
    pytest.param(dict(require=("zz", "a", "yy")), (), "require names 'yy', 'zz', not among the candidates",
                 id="unknown required ids"),
    pytest.param(dict(forbid=("zz",)), (), "forbid names 'zz', not among the candidates", id="unknown forbidden id"),
    pytest.param({}, (ValueCurve(("a", "zz"), (1, 1), ((0, 0), (1, 1))),),
                 "value curve member 'zz' is not a candidate", id="unknown curve member"),
    pytest.param({}, (ValueCurve(("a",), (1,), ((0, 0), (1, 1))), ValueCurve(("a", "b"), (1, 1), ((0, 0), (1, 1)))),
                 "candidate 'a' is on more than one value curve", id="member of two curves"),
])
def test_a_malformed_request_is_a_user_error(limits, curves, message):
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        select_roadmap(PLAYBOOKS, Limits(**{"budget": 40, **limits}), curves=curves)


@pytest.mark.parametrize(("points", "message"), [
    pytest.param(((0, 0), (1, 5), (2, 12)), "the value curve over 'a', 'b' must be concave (diminishing returns), "
                 "got ((0, 0), (1, 5), (2, 12))", id="convex"),
    pytest.param(((0, 1), (1, 5)), "the value curve over 'a', 'b' needs points starting at (0, 0) and at least one "
                 "more, got ((0, 1), (1, 5))", id="not from the origin"),
    pytest.param(((0, 0), (2, 5), (1, 6)), "the value curve over 'a', 'b' needs points in increasing strength, "
                 "got ((0, 0), (2, 5), (1, 6))", id="strength going back"),
])
def test_a_curve_must_start_at_the_origin_and_bend_down(points, message):
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        ValueCurve(("a", "b"), (1.0, 1.0), points)


def test_with_nothing_required_an_empty_roadmap_always_fits():
    selection = select_roadmap(PLAYBOOKS, Limits(budget=0, stage_max={"decision": 0}))

    pd.testing.assert_frame_equal(selection.chosen, PLAYBOOKS.iloc[:0].assign(period=pd.Series(dtype="int64")))
    assert (selection.objective, selection.full_value, selection.proven_optimal) == (0, 0, True)


# --- frontier, determinism, solver --------------------------------------------------------------

def test_frontier_never_falls_with_more_budget_and_its_full_budget_is_the_roadmap():
    candidates = random_catalog(40, seed=7)
    limits = Limits(budget=20, capacity={"sales": 12, "marketing": 9}, periods=3)

    frontier = budget_frontier(limits, lambda scaled: select_roadmap(candidates, scaled))
    selection = select_roadmap(candidates, limits)

    assert list(frontier.columns) == ["share", "budget", "full_value", "objective", "items", "effort"]
    assert list(frontier["budget"]) == [10, 15, 20, 25, 30, 35, 40]
    assert frontier["objective"].is_monotonic_increasing
    full = frontier.loc[frontier["share"] == 1.0].iloc[0]
    assert (full["objective"], full["full_value"], full["items"], full["effort"]) == (
        selection.objective, selection.full_value, len(selection.chosen), selection.chosen["effort"].sum())


def test_frontier_leaves_a_budget_too_small_for_the_required_items_empty():
    frontier = budget_frontier(Limits(budget=8, require=("poc_playbook",)),
                               lambda scaled: select_roadmap(PLAYBOOKS, scaled), shares=(0.5, 1.0))

    assert frontier["objective"].isna().tolist() == [True, False]
    assert frontier["items"].tolist() == [pd.NA, 1]


def test_the_same_catalog_in_any_row_order_gives_the_same_roadmap():
    candidates = random_catalog(60, seed=3)
    limits = Limits(budget=30, capacity={"sales": 9, "product": 12}, periods=3, stage_min={"research": 4})

    first = select_roadmap(candidates, limits).chosen
    shuffled = select_roadmap(candidates.sample(frac=1, random_state=11), limits).chosen

    assert list(zip(first["id"], first["period"])) == list(zip(shuffled["id"], shuffled["period"]))


@pytest.mark.filterwarnings("ignore:PULP_CBC_CMD is deprecated:DeprecationWarning")  # the fallback, by design
def test_without_highspy_cbc_finds_the_same_roadmap(monkeypatch):
    candidates = random_catalog(12, seed=5)
    limits = Limits(budget=15, capacity={"sales": 6}, periods=2)
    with_highs = select_roadmap(candidates, limits)
    monkeypatch.setattr("pulp.HiGHS.available", lambda solver: False)

    with_cbc = select_roadmap(candidates, limits)

    assert (with_cbc.solver, with_cbc.gap, with_cbc.proven_optimal) == ("PULP_CBC_CMD", None, True)
    assert with_cbc.objective == pytest.approx(with_highs.objective)


def test_highs_prints_nothing_on_stdout():
    script = ("import pandas as pd; from recommender.optimize import Limits, select_roadmap; "
              "print('before'); select_roadmap(pd.DataFrame({'id': ['a'], 'team': ['sales'], 'stage': ['decision'], "
              "'effort': [1.0], 'expected_uplift': [1.0], 'depends_on': [()], 'excludes': [()]}), Limits(budget=1)); "
              "print('after')")

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    assert result.stdout == "before\nafter\n"
