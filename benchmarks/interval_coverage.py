"""Are the pain-point estimates unbiased, and do their 90% intervals hold the truth 90% of the time?

Per seed: simulate the default scenario, fit the journey model with its bootstrap, and estimate fully
relieving each planted harmful pain point (effect 1, so the interval is the model's own); compare with the
simulator's exact truth. Prints each draw, then per pain point the pooled estimate / truth (bias), the
share of draws whose interval holds the truth (coverage), and the seed-to-seed spread of the estimate
against the bootstrap's (a ratio above 1 means intervals too narrow).

Run: ``.venv/bin/python benchmarks/interval_coverage.py`` (about a minute; ``--seeds 1-24`` for more).
"""

import argparse
import time

import numpy as np
import pandas as pd

from models.impact import INTERVAL, candidate_effects, estimate_uplift, fit_journey_model, set_uplift
from recommender.config import Settings
from recommender.pipeline import build_journey
from recommender.simulate import simulate_export

HARMFUL = (("awareness", "irrelevant_messaging"), ("research", "unclear_pricing"),
           ("evaluation", "slow_demo_booking"), ("decision", "procurement_delay"), ("decision", "no_roi_case"))
TARGET, OBJECTIVE = "onboarding", "conversions"


def relief(stage: str, pain_point: str) -> dict:
    return {"id": pain_point, "stage": stage, "lever": "pain_point", "target": pain_point, "effect": 1.0,
            "effect_low": 1.0, "effect_high": 1.0, "expected_uplift": np.nan}


def draw(seed: int, *, accounts: int, refits: int) -> list[dict]:
    """One simulated export: estimate, interval, bootstrap spread and truth for each harmful pain point."""
    simulation = simulate_export(accounts, seed=seed)
    journey = build_journey(simulation.export, Settings(objective=OBJECTIVE))
    model = fit_journey_model(journey.visits_x, target_stage=TARGET, objective=OBJECTIVE, seed=0, bootstrap=refits)
    candidates = pd.DataFrame([relief(stage, pain) for stage, pain in HARMFUL])
    effects = candidate_effects(candidates, replicates=model.replicates, seed=0)
    scored = estimate_uplift(model, candidates, effects).set_index("id")
    rows = []
    for k, (stage, pain) in enumerate(HARMFUL):
        truth = simulation.truth.uplift(candidates.iloc[[k]], target_stage=TARGET, objective=OBJECTIVE)
        rows.append({"seed": seed, "pain_point": pain, "truth": truth,
                     "estimate": scored.loc[pain, "expected_uplift"], "low": scored.loc[pain, "uplift_low"],
                     "high": scored.loc[pain, "uplift_high"],
                     "bootstrap_sd": float(np.std(set_uplift(model, effects, [k])[1:]))})
    return rows


def summary(draws: pd.DataFrame) -> pd.DataFrame:
    """Per pain point: bias (pooled estimate / truth), coverage, and seed-to-seed sd / bootstrap sd."""
    by_pain = draws.groupby("pain_point", sort=False)
    return pd.DataFrame({
        "estimate / truth": by_pain["estimate"].sum() / by_pain["truth"].sum(),
        "coverage": by_pain.apply(lambda d: ((d["low"] <= d["truth"]) & (d["truth"] <= d["high"])).mean()),
        "sd across seeds / bootstrap sd": by_pain["estimate"].std() / by_pain["bootstrap_sd"].mean(),
    })


def seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds, default=seeds("1-12"), help="e.g. 1-12")
    parser.add_argument("--accounts", type=int, default=4000)
    parser.add_argument("--refits", type=int, default=30)
    options = parser.parse_args()
    began = time.perf_counter()
    draws = pd.DataFrame([row for seed in options.seeds
                          for row in draw(seed, accounts=options.accounts, refits=options.refits)])
    level = f"{INTERVAL[1] - INTERVAL[0]:.0%}"
    print(f"{len(options.seeds)} seeds, {options.accounts:,} accounts, {options.refits} refits, {level} intervals\n")
    print(draws.round(2).to_string(index=False))
    print(f"\n{summary(draws).round(2).to_string()}")
    print(f"\nwall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
