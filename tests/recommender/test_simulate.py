"""recommender.simulate: the export is what was planted, the truth is what Monte Carlo finds, the funnel looks B2B."""

import functools
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.journeys import visit_ids
from features.stages import stage_metrics
from recommender.contract import CHANNELS, EVENTS, STAGE_ORDER, STAGES
from recommender.errors import UserError
from recommender.simulate import (
    EXPORT_TIME, confounded_scenario, default_scenario, post_won_scenario, shuffled_scenario, simulate_export,
)
from rules.catalog import PAIN_POINTS
from tests.conftest import journey_of

MONTE_CARLO_ACCOUNTS = 20_000


def improvement(stage: str, lever: str, effect: float, target: str | float = np.nan) -> dict:
    return {"stage": stage, "lever": lever, "target": target, "effect": effect}


def reached(simulation, target_stage: str) -> np.ndarray:
    """1.0 for each account (in account order) whose planted journey entered ``target_stage`` or later."""
    visits = simulation.visits
    furthest = visits["stage"].map(STAGE_ORDER).groupby(visits["account_id"].to_numpy(), sort=True).max()
    return (furthest.to_numpy() >= STAGE_ORDER[target_stage]).astype(float)


def within_three_standard_errors(per_account: np.ndarray, expected_total: float) -> bool:
    standard_error = per_account.std(ddof=1) * np.sqrt(len(per_account))
    return abs(per_account.sum() - expected_total) <= 3 * standard_error


def resolved_visits_with_tags(simulation) -> pd.DataFrame:
    """The contract's visits that ended (not censored), with ``forward`` and one 0/1 column per pain tag met."""
    canonical, visits, _ = journey_of(simulation.export.events, simulation.export.accounts)
    tagged = canonical.assign(visit_id=visit_ids(canonical)).dropna(subset=["pain_point"])
    tags = pd.crosstab(tagged["visit_id"], tagged["pain_point"]).clip(upper=1).reindex(visits.index, fill_value=0)
    segment = simulation.export.accounts.set_index("account_id")["segment"]
    return pd.concat([visits, tags], axis=1).assign(
        forward=visits["next_stage_order"] > visits["stage_order"],
        segment=visits["account_id"].map(segment),
    )[lambda frame: ~frame["censored"]]


@pytest.fixture(scope="module")
def small():
    return simulate_export(1500, seed=3)


@pytest.fixture(scope="module")
def monte_carlo():
    return simulate_export(MONTE_CARLO_ACCOUNTS, seed=2, censor=False)


@pytest.fixture(scope="module")
def demo_sized():
    return simulate_export(5000, seed=4)


@pytest.fixture(scope="module")
def demo_visits(demo_sized):
    return resolved_visits_with_tags(demo_sized)


@functools.cache
def small_truth():
    return simulate_export(500, seed=9).truth


# --- determinism ------------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames_and_another_seed_does_not(small):
    again = simulate_export(1500, seed=3)
    other = simulate_export(1500, seed=4)

    pd.testing.assert_frame_equal(again.export.events, small.export.events)
    pd.testing.assert_frame_equal(again.export.accounts, small.export.accounts)
    pd.testing.assert_frame_equal(again.visits, small.visits)
    assert not other.export.events.equals(small.export.events)
    assert not other.export.accounts.equals(small.export.accounts)


def test_an_improvement_with_no_effect_changes_no_draw(small):
    idle = simulate_export(1500, seed=3, applied=pd.DataFrame([
        improvement("evaluation", "pain_point", 0.0, "slow_demo_booking"), improvement("decision", "loop_back", 0.0)]))

    pd.testing.assert_frame_equal(idle.export.events, small.export.events)
    pd.testing.assert_frame_equal(idle.visits, small.visits)


def test_catalog_is_passed_through_unchanged():
    catalog = pd.DataFrame({"id": ["a"], "stage": ["research"]})

    assert simulate_export(10, seed=0, catalog=catalog).export.improvements is catalog
    assert simulate_export(10, seed=0).export.improvements is None


# --- the export is what was planted --------------------------------------------------------------------


@pytest.mark.parametrize("censor", [True, False], ids=["censored", "run_to_the_end"])
def test_contract_visits_reproduce_the_planted_visits(censor):
    simulation = simulate_export(800, seed=5, censor=censor)
    _, visits, _ = journey_of(simulation.export.events, simulation.export.accounts)
    planted = simulation.visits[simulation.visits["observed"]].reset_index(drop=True)
    columns = ["account_id", "visit", "stage", "started_at", "censored"]

    pd.testing.assert_frame_equal(visits[columns].astype({"account_id": "str"}), planted[columns])  # ids are categorical inside
    finished = ~planted["censored"]
    assert visits["days"][finished].tolist() == planted["days"][finished].tolist()  # exactly, not approximately
    was_cut = planted.groupby("account_id", sort=True)["censored"].any()
    is_open = simulation.export.accounts.set_index("account_id")["status"].eq("open")
    pd.testing.assert_series_equal(is_open, was_cut, check_names=False)
    assert was_cut.any() == censor


def test_events_follow_the_contract(small):
    events, accounts = small.export.events, small.export.accounts
    last = events.groupby("account_id").tail(1).set_index("account_id")
    lost_before_won = accounts.set_index("account_id")["status"].eq("closed") & last["stage"].map(STAGE_ORDER).lt(
        STAGE_ORDER["onboarding"])
    per_stage_tags = {tag: stage for stage, tags in PAIN_POINTS.items() for tag in tags}

    assert list(events.columns) == [column.name for column in EVENTS]
    assert events["timestamp"].dt.tz is not None and events["timestamp"].max() <= EXPORT_TIME
    assert (events["timestamp"].dt.microsecond == 0).all()
    assert set(events["channel"]) <= set(CHANNELS) and set(events["stage"]) == set(STAGES)
    assert 7 <= len(events) / len(accounts) <= 12
    assert (last.loc[lost_before_won, "touchpoint"] == "closed_lost").all()
    assert (events["touchpoint"] == "closed_lost").sum() == lost_before_won.sum()
    assert (events["stakeholder_id"].str.rsplit("-p", n=1).str[0] == events["account_id"]).all()
    tagged = events.dropna(subset=["pain_point"])
    assert (tagged["pain_point"].map(per_stage_tags) == tagged["stage"]).all()
    sentiment = events["sentiment"].dropna()
    assert 0.3 <= len(sentiment) / len(events) <= 0.4
    assert sentiment.between(-1, 1).all() and (sentiment == sentiment.round(2)).all()
    assert accounts["segment"].value_counts(normalize=True).to_dict() == pytest.approx(
        {"smb": 0.55, "mid_market": 0.30, "enterprise": 0.15}, abs=0.04)
    assert (accounts["value"] == accounts["value"].round()).all()


def test_every_planted_pain_shows_in_the_tags_at_its_prevalence(demo_visits):
    visits = demo_visits
    segments = [segment.name for segment in default_scenario().segments]

    for pain in default_scenario().pains:
        at_stage = visits[visits["stage"] == pain.stage]
        expected = at_stage["segment"].map(dict(zip(segments, pain.prevalence, strict=True))).mean()
        standard_error = np.sqrt(expected * (1 - expected) / len(at_stage))
        assert abs(at_stage[pain.name].mean() - expected) <= 4 * standard_error, pain.name


# --- planted structure visible in raw data ---------------------------------------------------------------


def test_strong_pain_cuts_progress_and_harmless_frequent_pain_does_not(demo_visits):
    visits = demo_visits
    evaluation, research = visits[visits["stage"] == "evaluation"], visits[visits["stage"] == "research"]
    strong = evaluation.groupby("slow_demo_booking")["forward"].mean()
    harmless = research.groupby("thin_content")["forward"].mean()

    assert strong[1] < strong[0] - 0.15
    assert abs(harmless[1] - harmless[0]) < 0.05


def test_confounded_pain_is_far_more_prevalent_in_enterprise(demo_visits):
    evaluation = demo_visits.query("stage == 'evaluation'")
    prevalence = evaluation.groupby("segment")["security_review"].mean()

    assert prevalence["enterprise"] > 4 * max(prevalence["smb"], prevalence["mid_market"])


def test_in_the_confounded_world_a_harmless_pain_looks_harmful_but_is_worth_nothing():
    simulation = simulate_export(5000, seed=6, scenario=confounded_scenario())
    evaluation = resolved_visits_with_tags(simulation).query("stage == 'evaluation'")
    naive = evaluation.groupby("security_review")["forward"].mean()
    relieved = pd.DataFrame([improvement("evaluation", "pain_point", 1.0, "security_review")])

    assert naive[1] < naive[0] - 0.1
    assert simulation.truth.uplift(relieved) == pytest.approx(0, abs=1e-9)
    assert (simulation.export.accounts["segment"] == "enterprise").mean() == pytest.approx(0.35, abs=0.03)


def test_post_won_world_rewards_fixing_onboarding_over_the_strong_pre_won_pain():
    truth = simulate_export(2000, seed=8, scenario=post_won_scenario()).truth
    onboarding = pd.DataFrame([improvement("onboarding", "pain_point", 1.0, "slow_time_to_value")])
    evaluation = pd.DataFrame([improvement("evaluation", "pain_point", 1.0, "slow_demo_booking")])

    gain = functools.partial(truth.uplift, target_stage="advocacy", objective="value")
    assert gain(onboarding) > 3 * gain(evaluation) > 0


def test_funnel_is_calibrated_like_b2b(demo_sized):
    canonical, visits, outcomes = journey_of(demo_sized.export.events, demo_sized.export.accounts)
    metrics = stage_metrics(visits, canonical, outcomes).set_index("stage")
    won_at = visits[visits["stage"] == "onboarding"].groupby("account_id")["started_at"].min()
    created = demo_sized.export.accounts.set_index("account_id")["created_at"]
    days_to_won = (won_at - created.reindex(won_at.index)) / pd.Timedelta(days=1)

    assert 0.60 <= metrics.at["awareness", "conversion_rate"] <= 0.70
    for stage in ("evaluation", "decision"):
        assert 0.40 <= metrics.at[stage, "conversion_rate"] <= 0.60, stage
        assert 0.15 <= metrics.at[stage, "loop_back_rate"] <= 0.30, stage
    for stage in ("onboarding", "adoption"):
        assert 0.10 <= metrics.at[stage, "drop_off_rate"] <= 0.25, stage
    assert 0.12 <= outcomes["converted"].mean() <= 0.20
    assert 60 <= days_to_won.median() <= 180


# --- the truth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target_stage", ["onboarding", "advocacy"])
@pytest.mark.parametrize("objective", ["conversions", "value"])
def test_truth_reach_agrees_with_monte_carlo(monte_carlo, target_stage, objective):
    weight = monte_carlo.export.accounts["value"].to_numpy() if objective == "value" else 1.0

    assert within_three_standard_errors(reached(monte_carlo, target_stage) * weight,
                                        monte_carlo.truth.reach(None, target_stage=target_stage, objective=objective))


@pytest.mark.parametrize("row", [
    improvement("evaluation", "pain_point", 0.6, "slow_demo_booking"),
    improvement("decision", "drop_off", 0.3),
    improvement("evaluation", "time_in_stage", 0.4),
    improvement("decision", "loop_back", 0.5),
], ids=["pain_point", "drop_off", "time_in_stage", "loop_back"])
def test_truth_uplift_agrees_with_monte_carlo(monte_carlo, row):
    applied = pd.DataFrame([row])
    improved = simulate_export(MONTE_CARLO_ACCOUNTS, seed=2, censor=False, applied=applied)
    paired = reached(improved, "onboarding") - reached(monte_carlo, "onboarding")  # common random numbers

    assert within_three_standard_errors(paired, monte_carlo.truth.uplift(applied))
    assert paired.sum() > 0


def test_nobody_drops_before_the_won_deal_means_everybody_wins():
    simulation = simulate_export(300, seed=1)
    no_drop = pd.DataFrame([improvement(stage, "drop_off", 1.0) for stage in STAGES[:4]])

    assert simulation.truth.reach(no_drop) == pytest.approx(300, rel=1e-9)
    assert simulation.truth.reach(no_drop, objective="value") == pytest.approx(
        simulation.export.accounts["value"].sum(), rel=1e-9)
    assert simulation.truth.uplift(pd.DataFrame(columns=["stage", "lever", "target", "effect"])) == 0
    assert simulation.truth.uplift(pd.DataFrame([improvement("research", "pain_point", 1.0, "not_planted")])) == 0


@st.composite
def stage_levers(draw) -> tuple[str, str, str | float]:
    stage = draw(st.sampled_from(STAGES[:6]))
    lever = draw(st.sampled_from(["pain_point", "drop_off", "time_in_stage"]))
    target = draw(st.sampled_from(PAIN_POINTS[stage])) if lever == "pain_point" else np.nan
    return stage, lever, target


@settings(max_examples=60, deadline=None)
@given(where=stage_levers(), first=st.floats(0, 1), second=st.floats(0, 1),
       target_stage=st.sampled_from(["decision", "onboarding", "advocacy"]))
def test_improvements_on_one_lever_combine_as_one_minus_the_product_and_never_hurt(where, first, second,
                                                                                   target_stage):
    truth = small_truth()
    both = pd.DataFrame([improvement(where[0], where[1], first, where[2]),
                         improvement(where[0], where[1], second, where[2])])
    combined = pd.DataFrame([improvement(where[0], where[1], 1 - (1 - first) * (1 - second), where[2])])

    assert truth.reach(both, target_stage=target_stage) == pytest.approx(
        truth.reach(combined, target_stage=target_stage), rel=1e-12)
    assert truth.uplift(both, target_stage=target_stage) >= -1e-9  # every planted pain hurts or is harmless


def test_pain_effects_list_the_planted_pains():
    effects = simulate_export(50, seed=0).truth.pain_effects()

    assert list(effects.columns) == ["stage", "pain_point", "beta", "days_shift",
                                     "prevalence_smb", "prevalence_mid_market", "prevalence_enterprise"]
    assert list(zip(effects["stage"], effects["pain_point"], strict=True)) == [
        (stage, tag) for stage, tags in PAIN_POINTS.items() for tag in tags]
    headline = effects.set_index("pain_point").loc[
        ["slow_demo_booking", "procurement_delay", "thin_content", "security_review"],
        ["beta", "days_shift", "prevalence_smb", "prevalence_enterprise"]]
    assert headline.to_numpy().tolist() == [[-1.2, 0.3, 0.35, 0.35], [-0.9, 0.4, 0.25, 0.45],
                                            [0.0, 0.0, 0.55, 0.55], [0.0, 0.0, 0.10, 0.70]]


def test_shuffled_scenario_permutes_the_betas_of_stages_with_an_outcome():
    default, shuffled = default_scenario(), shuffled_scenario(0)
    betas = {pain.name: pain.beta for pain in default.pains}
    moved = {pain.name: pain.beta for pain in shuffled.pains}

    assert shuffled == shuffled_scenario(0) and shuffled != shuffled_scenario(1)
    assert sorted(moved.values()) == sorted(betas.values()) and moved != betas
    assert moved["no_referral_ask"] == betas["no_referral_ask"]
    assert [pain.prevalence for pain in shuffled.pains] == [pain.prevalence for pain in default.pains]


# --- errors ------------------------------------------------------------------------------------------


def test_bad_requests_are_user_errors():
    truth = small_truth()

    with pytest.raises(UserError, match=re.escape("the number of accounts must be at least 1, got 0")):
        simulate_export(0, seed=0)
    with pytest.raises(UserError, match=re.escape(
            "an improvement needs a stage, a lever (pain_point, drop_off, time_in_stage, loop_back) and an effect "
            "in [0, 1], got stage 'research', lever 'discount', effect 0.5")):
        truth.reach(pd.DataFrame([improvement("research", "discount", 0.5)]))
    with pytest.raises(UserError, match=re.escape(
            "target stage 'won' is not a stage; stages are " + ", ".join(STAGES))):
        truth.reach(None, target_stage="won")
