"""Does the roadmap the engine picks come close to the best possible roadmap, on journeys whose truth is known?

Per scenario and seed: simulate an export with planted effects, run ``pipeline.plan_roadmap`` on it with the
starter catalog, and value every roadmap by the simulator's exact truth (``TrueJourney.uplift``). The *best*
roadmap is ``choose_roadmap`` run against the truth instead of the model, then polished by a local search
(add, drop or swap one item while the roadmap still fits and gets better); the search also starts from the
engine's and the baselines' picks, and the best end wins. *Regret* = 1 - true value of a roadmap / true
value of the best one, under the same limits. "truth-MILP short of best" says how much the polish added.

Two naive baselines choose greedily under exactly the same limits, among the candidates acting before the
target stage (a planner knows a post-sale fix brings no extra deals):

- **RICE-like**: reach (accounts entering the stage, or meeting the pain point) x claimed ``effect`` / effort;
- **drop-off first**: the stages with the highest drop-off rate first, within one best claimed effect / effort.

One period (``periods=1``) values the set, not a schedule: the limits are the budget, the team capacities,
the exclusions and the dependencies — at one period an item with a prerequisite can never be chosen, since
its prerequisite would have to start a period earlier (recommender/optimize.py).

Targets: regret <= 5% in every scenario (its mean over the seeds) and <= 3% on average over the scenarios;
the whole run under 10 minutes on 2 cores.

Run: ``.venv/bin/python benchmarks/decision_quality.py``
"""

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.impact import candidate_effects
from recommender import io, pipeline
from recommender.config import Settings
from recommender.contract import STAGE_ORDER
from recommender.optimize import Limits
from recommender.selection import Valuation, choose_roadmap
from recommender.simulate import (Scenario, TrueJourney, confounded_scenario, default_scenario, post_won_scenario,
                                  shuffled_scenario, simulate_export)

LIMITS = Limits(budget=25, capacity={"marketing": 10, "sales": 8, "customer_success": 8, "product": 8, "revops": 5},
                periods=1)
ACCOUNTS = 4000
BOOTSTRAP = 10
SEEDS = (1, 2, 3, 4, 5)  # every scenario is simulated and planned once per seed: one draw can be lucky or not
REGRET_TARGET, MEAN_REGRET_TARGET = 0.05, 0.03  # per scenario (mean over its seeds), and over all scenarios
EXPLAIN_ABOVE = 0.01  # runs with more model regret than this list the candidates the engine got wrong
_BETTER = 1e-9  # relative gain a local-search move needs to count as an improvement
_TOLERANCE = 1e-9  # person-weeks: sums this close to a limit fit it, as in recommender/optimize.py


@dataclass(frozen=True)
class Case:
    """One simulated world and the question asked of it."""

    name: str
    scenario: Scenario
    target_stage: str
    objective: str


CASES: tuple[Case, ...] = (
    Case("default", default_scenario(), "onboarding", "conversions"),
    Case("shuffled(7)", shuffled_scenario(7), "onboarding", "conversions"),
    Case("post_won", post_won_scenario(), "advocacy", "value"),
    Case("confounded", confounded_scenario(), "onboarding", "conversions"),
    Case("default, value", default_scenario(), "onboarding", "value"),
)


@dataclass(frozen=True)
class Rules:
    """The limits a one-period roadmap must keep, read once from the candidates so checks are cheap."""

    effort: Mapping[str, float]
    team: Mapping[str, str]
    blocked: frozenset[str]  # items with a prerequisite: never choosable at one period
    excludes: Mapping[str, frozenset[str]]
    budget: float
    capacity: Mapping[str, float]

    @classmethod
    def of(cls, candidates: pd.DataFrame, limits: Limits) -> "Rules":
        """From candidates ``id, team, effort, depends_on, excludes`` (tuples of ids) and one-period ``limits``."""
        if limits.periods != 1:
            raise ValueError(f"the rules here are those of one period, got periods={limits.periods}")
        excludes = {identifier: set(others) for identifier, others in zip(candidates["id"], candidates["excludes"])}
        for identifier, others in list(excludes.items()):
            for other in others & excludes.keys():
                excludes[other].add(identifier)  # either way round
        return cls(effort=dict(zip(candidates["id"], candidates["effort"].astype(float))),
                   team=dict(zip(candidates["id"], candidates["team"])),
                   blocked=frozenset(candidates.loc[candidates["depends_on"].map(len) > 0, "id"]),
                   excludes={identifier: frozenset(others) for identifier, others in excludes.items()},
                   budget=limits.budget, capacity=dict(limits.capacity))

    def fits(self, chosen: Collection[str]) -> bool:
        """Whether the roadmap ``chosen`` (ids) keeps the budget, every capacity, dependencies and exclusions."""
        if self.blocked & set(chosen) or any(self.excludes[i] & set(chosen) for i in chosen):
            return False
        if sum(self.effort[i] for i in chosen) > self.budget + _TOLERANCE:
            return False
        spent: dict[str, float] = {}
        for i in chosen:
            spent[self.team[i]] = spent.get(self.team[i], 0.0) + self.effort[i]
        return all(weeks <= self.capacity.get(team, np.inf) + _TOLERANCE for team, weeks in spent.items())


def greedy(order: Sequence[str], rules: Rules) -> tuple[str, ...]:
    """Take the candidates in ``order``, each one that still fits; the roadmap in the order taken."""
    chosen: list[str] = []
    for identifier in order:
        if rules.fits([*chosen, identifier]):
            chosen.append(identifier)
    return tuple(chosen)


def rice_order(candidates: pd.DataFrame, stage_metrics: pd.DataFrame, pain_points: pd.DataFrame) -> list[str]:
    """Ids best RICE-like score first: reach x claimed ``effect`` / ``effort``, ties by id.

    Reach is the accounts that met the pain point at its stage (``pain_points.accounts``) for a pain
    point lever, else the accounts that entered the stage (``stage_metrics.entered``).
    """
    entered = stage_metrics.set_index("stage")["entered"].astype(float)
    met = pain_points.assign(key=pain_points["pain_point"].str.strip().str.lower()).set_index(["stage", "key"])
    met = met["accounts"].astype(float)
    pains = candidates["lever"] == "pain_point"
    pain_keys = pd.MultiIndex.from_arrays([candidates["stage"], candidates["target"].str.strip().str.lower()])
    reach = np.where(pains, met.reindex(pain_keys).fillna(0.0).to_numpy(),
                     entered.reindex(candidates["stage"]).fillna(0.0).to_numpy())
    score = reach * candidates["effect"].to_numpy() / candidates["effort"].to_numpy()
    return _ranked(candidates.assign(score=score), ["score"])


def drop_off_order(candidates: pd.DataFrame, stage_metrics: pd.DataFrame) -> list[str]:
    """Ids of the stage with the highest ``drop_off_rate`` first (none last), then best claimed effect / effort."""
    rate = stage_metrics.set_index("stage")["drop_off_rate"].astype(float)
    return _ranked(candidates.assign(rate=rate.reindex(candidates["stage"]).fillna(-1.0).to_numpy(),
                                     per_week=candidates["effect"] / candidates["effort"]), ["rate", "per_week"])


def _ranked(candidates: pd.DataFrame, by: list[str]) -> list[str]:
    """Ids by the ``by`` columns descending, ties by id."""
    ranked = candidates.sort_values([*by, "id"], ascending=[*(False for _ in by), True], kind="stable")
    return ranked["id"].tolist()


def truth_valuation(truth: TrueJourney, candidates: pd.DataFrame, *, target_stage: str, objective: str,
                    seed: int) -> Valuation:
    """A Valuation of roadmaps by the simulator's truth, for ``choose_roadmap`` and for scoring any roadmap.

    Every candidate is valued by its lever and catalog ``effect`` (none by a user's figure: the truth
    does not know claims); replicate 0 is the only one.
    """
    effects = candidate_effects(candidates.assign(expected_uplift=np.nan), replicates=1, seed=seed)

    def uplift(positions: tuple[int, ...]) -> np.ndarray:
        return np.array([truth.uplift(candidates.iloc[list(positions)], target_stage=target_stage,
                                      objective=objective)])

    return Valuation(uplift, effects, STAGE_ORDER[target_stage])


def value_of(valuation: Valuation, chosen: Collection[str]) -> float:
    """The valuation of the roadmap ``chosen`` (ids)."""
    return valuation.of([valuation.effects.ids.index(identifier) for identifier in chosen])


def polish(start: Collection[str], valuation: Valuation, rules: Rules) -> tuple[str, ...]:
    """Local search from ``start``: the best single add, drop or swap that fits and raises the value, until none does.

    Returns the roadmap reached, in id order.
    """
    ids = valuation.effects.ids
    current, value = frozenset(start), value_of(valuation, start)
    while True:
        outside = [j for j in ids if j not in current]
        moves = ([current | {j} for j in outside] + [current - {i} for i in current]
                 + [(current - {i}) | {j} for i in current for j in outside])
        scored = [(value_of(valuation, move), sorted(move)) for move in moves if rules.fits(move)]
        best_value, best = max(scored, default=(value, sorted(current)))
        if best_value <= value + _BETTER * max(abs(value), 1.0):
            return tuple(sorted(current))
        current, value = frozenset(best), best_value


def best_of(starts: Sequence[Collection[str]], valuation: Valuation, rules: Rules) -> tuple[str, ...]:
    """The most valuable of the roadmaps :func:`polish` reaches from each start, in id order."""
    return max((polish(start, valuation, rules) for start in starts), key=lambda roadmap: value_of(valuation, roadmap))


@dataclass(frozen=True)
class Outcome:
    """One run's roadmaps (ids) and their true values."""

    case: Case
    seed: int
    model: tuple[str, ...]
    rice: tuple[str, ...]
    drop_off: tuple[str, ...]
    best: tuple[str, ...]
    values: Mapping[str, float]  # roadmap name (model, rice, drop_off, best, truth_milp) -> true value
    items: pd.DataFrame  # per candidate: id, stage, lever, target, team, effort, model_uplift, true_uplift, ...
    seconds: float

    def regret(self, name: str) -> float:
        return 1.0 - self.values[name] / self.values["best"]


def evaluate(case: Case, *, seed: int, catalog: pd.DataFrame, catalog_source: str, accounts: int = ACCOUNTS,
             bootstrap: int = BOOTSTRAP, limits: Limits = LIMITS) -> Outcome:
    """Simulate the case, plan its roadmap with the engine, and value it, the baselines and the best by the truth.

    ``seed`` seeds the simulation and the engine's run alike.

    ``items`` holds one row per candidate: ``id, stage, lever, target, team, effort, model_uplift`` (the
    engine's estimate alone), ``true_uplift`` (the truth's, alone), ``model, best`` (chosen there).
    """
    began = time.perf_counter()
    simulation = simulate_export(accounts, seed=seed, scenario=case.scenario)
    export = simulation.export
    plan = pipeline.plan_roadmap(
        export, Settings(target_stage=case.target_stage, objective=case.objective, seed=seed,
                         bootstrap=bootstrap),
        catalog=catalog, catalog_source=catalog_source, limits=limits, now=export.export_time)
    candidates, metrics = plan.candidates, plan.diagnosis.stage_metrics
    valuation = truth_valuation(simulation.truth, candidates, target_stage=case.target_stage,
                                objective=case.objective, seed=seed)
    rules = Rules.of(candidates, limits)
    before_target = candidates[candidates["stage"].map(STAGE_ORDER) < STAGE_ORDER[case.target_stage]]
    roadmaps = {"model": tuple(plan.roadmap["id"]),
                "rice": greedy(rice_order(before_target, metrics, plan.diagnosis.pain_points), rules),
                "drop_off": greedy(drop_off_order(before_target, metrics), rules),
                "truth_milp": tuple(choose_roadmap(candidates, valuation, limits).chosen["id"])}
    best = roadmaps["best"] = best_of(list(roadmaps.values()), valuation, rules)
    items = candidates[["id", "stage", "lever", "target", "team", "effort"]].assign(
        model_uplift=candidates["expected_uplift"],
        true_uplift=[value_of(valuation, [identifier]) for identifier in candidates["id"]],
        model=candidates["id"].isin(roadmaps["model"]), best=candidates["id"].isin(best))
    return Outcome(case, seed, roadmaps["model"], roadmaps["rice"], roadmaps["drop_off"], best,
                   {name: value_of(valuation, roadmap) for name, roadmap in roadmaps.items()}, items,
                   time.perf_counter() - began)


def runs_table(outcomes: Sequence[Outcome]) -> str:
    """Markdown, one row per run: the regrets, the best roadmap's true value, and the item counts."""
    lines = ["| scenario | seed | objective/target | model regret | RICE-like regret | drop-off-first regret | "
             "best true value | items (model / best, shared) | truth-MILP short of best | seconds |",
             "|---|---:|---|---:|---:|---:|---:|---|---:|---:|"]
    for outcome in outcomes:
        shared = len(set(outcome.model) & set(outcome.best))
        lines.append(f"| {outcome.case.name} | {outcome.seed} | {outcome.case.objective}/{outcome.case.target_stage} | "
                     f"{outcome.regret('model'):.2%} | {outcome.regret('rice'):.2%} | "
                     f"{outcome.regret('drop_off'):.2%} | {outcome.values['best']:,.1f} | "
                     f"{len(outcome.model)} / {len(outcome.best)}, {shared} | "
                     f"{outcome.regret('truth_milp'):.2%} | {outcome.seconds:.0f} |")
    return "\n".join(lines)


def scenario_regrets(outcomes: Sequence[Outcome]) -> pd.DataFrame:
    """One row per scenario (first-seen order): ``scenario, objective_target, runs``, the mean ``model``,
    ``rice``, ``drop_off`` regret over its runs, ``worst_model`` (the worst run's) and ``best_value`` (mean)."""
    runs = pd.DataFrame([{"scenario": outcome.case.name,
                          "objective_target": f"{outcome.case.objective}/{outcome.case.target_stage}",
                          **{name: outcome.regret(name) for name in ("model", "rice", "drop_off")},
                          "best_value": outcome.values["best"]} for outcome in outcomes])
    return runs.groupby(["scenario", "objective_target"], sort=False).agg(
        runs=("model", "size"), model=("model", "mean"), rice=("rice", "mean"), drop_off=("drop_off", "mean"),
        worst_model=("model", "max"), best_value=("best_value", "mean")).reset_index()


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """Markdown, one row per scenario (regrets averaged over its seeds), then the average over the scenarios."""
    regrets = scenario_regrets(outcomes)
    lines = ["| scenario | objective/target | model regret | RICE-like regret | drop-off-first regret | "
             "best true value | model regret, worst seed |", "|---|---|---:|---:|---:|---:|---:|"]
    for row in regrets.itertuples(index=False):
        lines.append(f"| {row.scenario} | {row.objective_target} | {row.model:.2%} | {row.rice:.2%} | "
                     f"{row.drop_off:.2%} | {row.best_value:,.1f} | {row.worst_model:.2%} |")
    mean = regrets[["model", "rice", "drop_off"]].mean()
    lines.append(f"| **average** | | {mean['model']:.2%} | {mean['rice']:.2%} | {mean['drop_off']:.2%} | | "
                 f"{regrets['worst_model'].max():.2%} |")
    return "\n".join(lines)


def disagreements(outcome: Outcome) -> pd.DataFrame:
    """The candidates the engine and the best roadmap disagree on, with the engine's and the truth's uplift."""
    items = outcome.items
    return items.loc[items["model"] != items["best"]].drop(columns=["team"])


def verdict(outcomes: Sequence[Outcome]) -> str:
    """One line: whether every scenario's mean regret and the mean over the scenarios meet the targets."""
    regrets = scenario_regrets(outcomes)
    worst, mean = regrets["model"].max(), regrets["model"].mean()
    met = worst <= REGRET_TARGET and mean <= MEAN_REGRET_TARGET
    return (f"targets {'met' if met else 'missed'}: worst scenario {worst:.2%} (target <= {REGRET_TARGET:.0%}), "
            f"mean {mean:.2%} (target <= {MEAN_REGRET_TARGET:.0%}); "
            f"worst single run {regrets['worst_model'].max():.2%}")


def main() -> None:
    began = time.perf_counter()
    catalog, source = io.read_starter_catalog()
    print(f"{len(CASES)} scenarios x seeds {SEEDS}, {ACCOUNTS:,} accounts, bootstrap {BOOTSTRAP}, budget "
          f"{LIMITS.budget:g} person-weeks, capacities {dict(LIMITS.capacity)}, one period\n")
    outcomes = [evaluate(case, seed=seed, catalog=catalog, catalog_source=source) for case in CASES for seed in SEEDS]
    print(f"{summary_table(outcomes)}\n\n{verdict(outcomes)}\n\n{runs_table(outcomes)}")
    for outcome in outcomes:
        if outcome.regret("model") > EXPLAIN_ABOVE:
            print(f"\n{outcome.case.name}, seed {outcome.seed}: regret {outcome.regret('model'):.2%}; the candidates "
                  f"the engine and the best roadmap disagree on (uplift of each alone, {outcome.case.objective})\n"
                  f"{disagreements(outcome).to_string(index=False, float_format=lambda x: f'{x:,.2f}')}")
    print(f"\nwall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
