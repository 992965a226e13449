"""Choosing against the model: a risk-averse roadmap never has a worse low end than the mean-optimal one."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from models.impact import CandidateEffects
from recommender.optimize import Limits
from recommender.selection import Valuation, choose_roadmap


@st.composite
def worlds(draw):
    """Up to six candidates with random per-replicate gains: some sure and small, some big and uncertain."""
    n = draw(st.integers(2, 6))
    replicates = 21
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    means = rng.uniform(0, 10, n)
    spreads = rng.uniform(0, 8, n)
    gains = means + spreads * rng.standard_normal((replicates, n))
    candidates = pd.DataFrame({
        "id": [f"c{i}" for i in range(n)], "team": "sales", "stage": "research",
        "effort": draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)),
        "expected_uplift": np.nan, "depends_on": [()] * n, "excludes": [()] * n,
    })
    effects = CandidateEffects(tuple(candidates["id"]), tuple((i % 2, "drop_off", "") for i in range(n)),
                               np.full((replicates, n), 0.2), np.full(n, np.nan))
    return candidates, effects, gains, draw(st.integers(1, 12))


@settings(max_examples=40, deadline=None)
@given(worlds(), st.sampled_from([0.1, 0.25]))
def test_risk_averse_roadmap_never_has_a_lower_low_quantile_than_the_mean_optimal_one(world, risk):
    candidates, effects, gains, budget = world
    uplift = lambda chosen: gains[:, list(chosen)].sum(axis=1) if chosen else np.zeros(len(gains))  # noqa: E731
    limits = Limits(budget=budget, periods=1)
    mean_optimal = choose_roadmap(candidates, Valuation(uplift, effects, target_order=4), limits)
    careful = choose_roadmap(candidates, Valuation(uplift, effects, target_order=4, risk=risk), limits)

    def low_end(selection):
        chosen = [int(i[1:]) for i in selection.chosen["id"]]
        return np.quantile(uplift(chosen)[1:], risk)

    assert low_end(careful) >= low_end(mean_optimal) - 1e-9
    assert careful.chosen["effort"].sum() <= budget
