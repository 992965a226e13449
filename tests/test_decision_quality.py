"""benchmarks/decision_quality.py: its limit checks, baselines, local search and one tiny scenario end to end."""

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.decision_quality import (
    CASES, Case, Outcome, Rules, best_of, drop_off_order, evaluate, greedy, polish, rice_order, truth_valuation,
    value_of, verdict,
)
from models.impact import CandidateEffects
from recommender import io
from recommender.errors import UserError
from recommender.optimize import Limits, select_roadmap
from recommender.selection import Valuation, choose_roadmap
from recommender.simulate import default_scenario, simulate_export
from rules import validate_catalog

TEAMS = ("sales", "marketing", "ops")  # ops has no capacity: bounded by the budget alone


def frame(rows: list[dict]) -> pd.DataFrame:
    """Candidates from short rows: the columns the rules and the baselines read, the rest defaulted."""
    defaults = {"team": "sales", "stage": "decision", "lever": "drop_off", "target": np.nan, "effect": 0.1,
                "depends_on": (), "excludes": (), "expected_uplift": 0.0}
    return pd.DataFrame([{**defaults, **row} for row in rows])


def additive(values: dict[str, float]) -> Valuation:
    """A valuation that sums fixed per-id values (ids in the dict's order)."""
    ids = tuple(values)
    effects = CandidateEffects(ids, keys=(), effects=np.zeros((1, len(ids))), fixed=np.full(len(ids), np.nan))
    return Valuation(lambda chosen: np.array([sum(values[ids[n]] for n in chosen)]), effects, target_order=4)


@st.composite
def requests(draw) -> tuple[pd.DataFrame, Limits]:
    """Up to six candidates with prerequisites on earlier ids, exclusions one side only, and one-period limits."""
    n = draw(st.integers(1, 6))
    ids = [f"c{i}" for i in range(n)]
    pairs = list(itertools.combinations(ids, 2))
    excluded = draw(st.lists(st.sampled_from(pairs), max_size=2, unique=True)) if pairs else []
    candidates = frame([{
        "id": identifier,
        "team": draw(st.sampled_from(TEAMS)),
        "effort": draw(st.integers(1, 8)),
        "depends_on": tuple(sorted(draw(st.sets(st.sampled_from(ids[:i]), max_size=1)))) if i else (),
        "excludes": tuple(b for a, b in excluded if a == identifier),
    } for i, identifier in enumerate(ids)])
    limits = Limits(budget=draw(st.integers(0, 30)), periods=1,
                    capacity=draw(st.dictionaries(st.sampled_from(TEAMS[:2]), st.integers(0, 12), max_size=2)))
    return candidates, limits


@settings(deadline=None, max_examples=60)
@given(request=requests(), data=st.data())
def test_rules_agree_with_the_optimizer_on_which_roadmaps_fit(request, data):
    candidates, limits = request
    chosen = data.draw(st.sets(st.sampled_from(list(candidates["id"]))))
    others = tuple(sorted(set(candidates["id"]) - chosen))

    try:
        select_roadmap(candidates, replace(limits, require=tuple(sorted(chosen)), forbid=others))
        optimizer_fits = True
    except UserError:
        optimizer_fits = False

    assert Rules.of(candidates, limits).fits(chosen) == optimizer_fits


def test_rules_are_those_of_one_period_only():
    with pytest.raises(ValueError, match="the rules here are those of one period, got periods=3"):
        Rules.of(frame([{"id": "a", "effort": 1}]), Limits(budget=5, periods=3))


def test_greedy_takes_each_candidate_in_order_that_still_fits():
    candidates = frame([
        {"id": "a", "effort": 3, "team": "sales"},
        {"id": "b", "effort": 3, "team": "sales"},  # sales capacity 5: no room after a
        {"id": "c", "effort": 2, "team": "marketing", "excludes": ("a",)},
        {"id": "d", "effort": 1, "team": "marketing", "depends_on": ("a",)},  # a prerequisite: never at one period
        {"id": "e", "effort": 2, "team": "marketing"},
        {"id": "f", "effort": 1, "team": "ops"},  # the budget of 5 is spent by then
    ])
    rules = Rules.of(candidates, Limits(budget=5, capacity={"sales": 5}, periods=1))

    assert greedy(["a", "b", "c", "d", "e", "f"], rules) == ("a", "e")


def test_rice_order_ranks_reach_times_claimed_effect_per_week():
    candidates = frame([
        {"id": "wide", "stage": "research", "lever": "drop_off", "effect": 0.1, "effort": 2},  # 500 * 0.1 / 2 = 25
        {"id": "pain", "stage": "research", "lever": "pain_point", "target": "Unclear_Pricing ",
         "effect": 0.5, "effort": 3},  # 120 * 0.5 / 3 = 20
        {"id": "deep", "stage": "decision", "lever": "loop_back", "effect": 0.4, "effort": 1},  # 100 * 0.4 / 1 = 40
        {"id": "unmet", "stage": "decision", "lever": "pain_point", "target": "no_roi_case",
         "effect": 0.9, "effort": 1},  # nobody met it: 0
        {"id": "also_25", "stage": "research", "lever": "time_in_stage", "effect": 0.05, "effort": 1},  # 25, tie
    ])
    metrics = pd.DataFrame({"stage": ["research", "decision"], "entered": [500, 100]})
    pains = pd.DataFrame({"stage": ["research", "decision"], "pain_point": ["unclear_pricing", "legal_redlines"],
                          "accounts": [120, 40]})

    assert rice_order(candidates, metrics, pains) == ["deep", "also_25", "wide", "pain", "unmet"]


def test_drop_off_order_takes_the_leakiest_stage_first_then_claimed_effect_per_week():
    candidates = frame([
        {"id": "r1", "stage": "research", "effect": 0.2, "effort": 1},
        {"id": "d1", "stage": "decision", "effect": 0.1, "effort": 1},
        {"id": "d2", "stage": "decision", "effect": 0.4, "effort": 2},
        {"id": "o1", "stage": "onboarding", "effect": 0.9, "effort": 1},  # no drop-off rate: last
    ])
    metrics = pd.DataFrame({"stage": ["research", "decision", "onboarding"], "drop_off_rate": [0.3, 0.4, np.nan]})

    assert drop_off_order(candidates, metrics) == ["d2", "d1", "r1", "o1"]


def test_polish_swaps_when_one_better_item_fits_in_place_of_another():
    candidates = frame([{"id": "a", "effort": 2}, {"id": "b", "effort": 3}, {"id": "c", "effort": 1}])
    rules = Rules.of(candidates, Limits(budget=4, periods=1))

    assert polish(["a"], additive({"a": 3.0, "b": 5.0, "c": 1.0}), rules) == ("b", "c")


@settings(deadline=None, max_examples=60)
@given(request=requests(), values=st.lists(st.integers(-3, 10), min_size=6, max_size=6))
def test_polish_ends_on_a_fitting_roadmap_no_single_move_improves(request, values):
    candidates, limits = request
    valuation = additive(dict(zip(candidates["id"], map(float, values))))
    rules = Rules.of(candidates, limits)

    polished = set(polish([], valuation, rules))

    ids = set(candidates["id"])
    neighbours = ([polished | {j} for j in ids - polished] + [polished - {i} for i in polished]
                  + [(polished - {i}) | {j} for i in polished for j in ids - polished])
    assert rules.fits(polished)
    assert all(value_of(valuation, move) <= value_of(valuation, polished) for move in neighbours if rules.fits(move))


def test_truth_valuation_is_the_simulators_uplift_of_those_rows():
    simulation = simulate_export(300, seed=4)
    catalog, source = io.read_starter_catalog()
    candidates = validate_catalog(catalog, source=source)
    valuation = truth_valuation(simulation.truth, candidates, target_stage="onboarding", objective="value", seed=0)

    chosen = ["demo_booking", "pricing_page", "poc_playbook"]
    rows = candidates[candidates["id"].isin(chosen)]
    assert value_of(valuation, chosen) == pytest.approx(
        simulation.truth.uplift(rows, target_stage="onboarding", objective="value"), rel=1e-12)


def test_the_best_roadmap_is_the_brute_force_optimum_of_the_truth_on_a_small_catalog():
    simulation = simulate_export(300, seed=4)
    catalog, source = io.read_starter_catalog()
    small = ["demo_booking", "speed_to_lead", "poc_playbook", "pricing_page", "price_ranges", "mutual_action_plan",
             "procurement_pack", "deal_desk", "intent_data", "lead_scoring"]
    candidates = validate_catalog(catalog, source=source).query("id in @small").reset_index(drop=True)
    limits = Limits(budget=14, capacity={"sales": 7, "revops": 5, "marketing": 3}, periods=1)  # 204 roadmaps fit
    valuation = truth_valuation(simulation.truth, candidates, target_stage="onboarding", objective="conversions",
                                seed=0)
    rules = Rules.of(candidates, limits)
    start = tuple(choose_roadmap(candidates, valuation, limits).chosen["id"])

    best = best_of([start], valuation, rules)

    feasible = (subset for size in range(len(small) + 1) for subset in itertools.combinations(small, size)
                if rules.fits(subset))
    assert value_of(valuation, best) == pytest.approx(max(value_of(valuation, subset) for subset in feasible),
                                                      rel=1e-12)


def outcomes_with(regrets: dict[str, list[float]]) -> list[Outcome]:
    """Runs with the given model regrets, per scenario name, one run per regret."""
    return [Outcome(replace(CASES[0], name=name), seed, (), (), (), (),
                    {"model": 1.0 - regret, "rice": 0.5, "drop_off": 0.5, "best": 1.0}, pd.DataFrame(), 0.0)
            for name, runs in regrets.items() for seed, regret in enumerate(runs)]


@pytest.mark.parametrize(("regrets", "expected"), [
    ({"a": [0.0], "b": [0.049], "c": [0.04]},
     "targets met: worst scenario 4.90% (target <= 5%), mean 2.97% (target <= 3%); worst single run 4.90%"),
    ({"a": [0.0], "b": [0.06], "c": [0.0]},
     "targets missed: worst scenario 6.00% (target <= 5%), mean 2.00% (target <= 3%); worst single run 6.00%"),
    ({"a": [0.04], "b": [0.04], "c": [0.04]},
     "targets missed: worst scenario 4.00% (target <= 5%), mean 4.00% (target <= 3%); worst single run 4.00%"),
    ({"a": [0.0, 0.08, 0.0], "b": [0.0, 0.0, 0.0]},
     "targets met: worst scenario 2.67% (target <= 5%), mean 1.33% (target <= 3%); worst single run 8.00%"),
], ids=["met just inside", "one scenario too far", "mean too high", "a scenario is the mean over its seeds"])
def test_verdict_checks_each_scenarios_mean_regret_and_the_mean_over_scenarios(regrets, expected):
    assert verdict(outcomes_with(regrets)) == expected


def test_a_tiny_scenario_end_to_end_values_every_roadmap_by_the_truth():
    catalog, source = io.read_starter_catalog()
    case = Case("tiny", default_scenario(), "onboarding", "conversions")
    limits = Limits(budget=10, capacity={"sales": 4, "marketing": 4}, periods=1)

    outcome = evaluate(case, seed=3, catalog=catalog, catalog_source=source, accounts=1200, bootstrap=2, limits=limits)

    items = outcome.items.set_index("id")
    after_target = items.index[items["stage"].isin(["onboarding", "adoption", "advocacy"])]
    assert (items.loc[after_target, "true_uplift"] == 0).all()  # nothing after the target adds to it
    for roadmap in (outcome.model, outcome.rice, outcome.drop_off, outcome.best):
        assert items.loc[list(roadmap), "effort"].sum() <= 10
        per_team = items.loc[list(roadmap)].groupby("team")["effort"].sum()
        assert per_team.reindex(["sales", "marketing"]).fillna(0).le(4).all()
    assert not set(after_target) & {*outcome.rice, *outcome.drop_off}
    assert outcome.values["best"] > 0
    assert all(0.0 <= outcome.regret(name) < 1.0 for name in ("model", "rice", "drop_off", "truth_milp"))
    assert list(items.index[items["best"]]) == sorted(outcome.best)
