"""Realistic B2B journey exports with planted effects, and the exact truth of any set of improvements.

The generating process, one stage *visit* at a time (every active account makes one visit per step):

1. **Pains.** Each planted pain ``p`` of the visited stage ``s`` is met independently with probability
   ``prevalence[p][segment]``.
2. **Days.** ``log(days) ~ Normal(mu_s + sum of the met pains' days_shift, sigma_s)``, with
   ``mu_s = log(median_days_s)``.
3. **Outcome.** A multinomial logit over forward / back / drop, drop the reference::

       eta_forward = alpha_s + delta[segment, s] + sum of the met pains' beta
                     + gamma_s * (log(days) - mu_s) + kappa * (coverage - 0.5)
       eta_back    = lambda_s          (only stages with a ``loop``; elsewhere no loop-back)

   ``coverage``, the share of the buying committee engaged in the visit, is drawn from a Beta with
   the segment's mean. ``gamma_s < 0``: a stalled deal dies. Forward goes to the next stage (from
   ``research`` a share ``skip_share`` goes straight to ``decision``); back goes to ``research``. An
   ``advocacy`` visit ends the journey (completed); a drop after ``onboarding`` (the won deal) is churn.
4. **Levers**, exactly as the contract defines them, applied when asked (``applied=``) and in the truth:
   ``pain_point`` relieves each met target pain with probability ``effect`` (as if not met: no beta, no
   days_shift); ``time_in_stage`` multiplies days by ``1 - effect`` (at least ``_MIN_DAYS_FACTOR``), which
   moves ``eta_forward`` through ``gamma_s``; then ``drop_off`` multiplies P(drop) by ``1 - effect``, the
   freed mass going forward, and ``loop_back`` multiplies P(back) by ``1 - effect``, the freed mass split
   between forward and drop in proportion. Improvements on one (stage, lever, target) combine as
   ``1 - prod(1 - effect)``.

Accounts are created uniformly over the ``window_days`` before ``EXPORT_TIME``; 80% start at
``awareness``, the rest at ``research``. Visits follow each other without gaps. Each visit emits an
event at its start and 1-3 more inside it; an account's final visit (dropped, churned or completed) has
its last event at its end, so the contract's visit days are the planted days. A met pain is tagged on
one event of its visit (never the last one); a deal lost before it was won ends on one more event, at
touchpoint ``closed_lost``, a churned one on ``cancellation``. With ``censor``, events after ``EXPORT_TIME`` are cut
and an account whose journey was still running is ``open``.

The truth (:class:`TrueJourney`) is exact: per segment and stage, the expected transition row is the
sum over the stage's pain combinations, Gauss-Hermite nodes in log(days) and Gauss-Jacobi nodes in
coverage, chained with :func:`models.chain.cohort_reach` over the export's own accounts.
"""

import itertools
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd
from scipy.special import roots_jacobi

from models.chain import cohort_reach
from recommender.contract import LEVERS, OBJECTIVES, STAGE_ORDER, STAGES, WON_STAGE, Export, require_columns
from recommender.errors import UserError
from rules.catalog import PAIN_POINTS

EXPORT_TIME = pd.Timestamp("2026-11-30T00:00:00Z")

# Where each pain shows up in an export: the (channel, touchpoint) of the event it is tagged on.
_PAIN_TOUCHPOINTS: dict[str, tuple[str, str]] = {
    "irrelevant_messaging": ("paid", "ad_click"),
    "unclear_pricing": ("owned", "pricing_page"),
    "no_peer_reviews": ("earned", "review_site"),
    "thin_content": ("owned", "blog_post"),
    "slow_demo_booking": ("direct_sales", "demo"),
    "missing_integration": ("direct_sales", "poc"),
    "security_review": ("direct_sales", "security_questionnaire"),
    "procurement_delay": ("direct_sales", "procurement_review"),
    "no_roi_case": ("direct_sales", "business_case"),
    "legal_redlines": ("direct_sales", "contract_review"),
    "slow_time_to_value": ("customer_success", "kickoff"),
    "data_migration": ("customer_success", "data_import"),
    "low_feature_discovery": ("owned", "in_app_guide"),
    "support_wait": ("customer_success", "support_ticket"),
    "no_referral_ask": ("customer_success", "nps_survey"),
}
# The (channel, touchpoint) pairs an ordinary event of each stage is drawn from, uniformly.
_TOUCHPOINTS: dict[str, tuple[tuple[str, str], ...]] = {
    "awareness": (("paid", "ad_click"), ("paid", "paid_social"), ("owned", "blog_post"), ("owned", "webinar"),
                  ("earned", "press_mention"), ("earned", "social_post")),
    "research": (("owned", "pricing_page"), ("owned", "case_study"), ("owned", "whitepaper"), ("owned", "webinar"),
                 ("earned", "review_site"), ("earned", "peer_community"), ("paid", "retargeting_ad")),
    "evaluation": (("direct_sales", "discovery_call"), ("direct_sales", "demo"), ("direct_sales", "poc"),
                   ("owned", "free_trial"), ("owned", "documentation")),
    "decision": (("direct_sales", "proposal"), ("direct_sales", "negotiation"), ("direct_sales", "business_case"),
                 ("direct_sales", "contract_review")),
    "onboarding": (("customer_success", "kickoff"), ("customer_success", "training"),
                   ("customer_success", "data_import"), ("owned", "onboarding_email")),
    "adoption": (("customer_success", "qbr"), ("customer_success", "support_ticket"), ("customer_success", "training"),
                 ("owned", "in_app_guide"), ("owned", "product_update")),
    "advocacy": (("customer_success", "nps_survey"), ("customer_success", "referral"),
                 ("customer_success", "case_study_interview"), ("earned", "review_site"), ("earned", "community_post")),
}
_LOST = ("direct_sales", "closed_lost")  # the last event of a deal lost before it was won
_CHURNED = ("customer_success", "cancellation")  # the last event of a churned customer
# The buying committee, by person number: small committees are the first roles only.
_ROLES: tuple[str, ...] = ("champion", "user", "cto", "cfo", "it_admin", "procurement", "security", "legal",
                           "ceo", "ops_lead")

_SECONDS_PER_DAY = 86_400
_MIN_VISIT_SECONDS = 3_600  # room for distinct whole-second events inside every visit
_MIN_DAYS_FACTOR = 0.01  # a time_in_stage effect of 1 cannot make a stage instantaneous
_EXTRA_EVENTS = (1, 3)  # events after a visit's first one, before pain tags ask for more
_SENTIMENT_SHARE = 0.35  # events that carry a sentiment
_PAIN_SENTIMENT = 0.4  # how much lower sentiment is in a visit that met a pain
_SENTIMENT_NOISE = 0.25
_HERMITE_NODES = 16  # log(days)
_JACOBI_NODES = 6  # coverage
_LOOP_TARGET = STAGE_ORDER["research"]
_FORWARD, _BACK, _DROP, _COMPLETED = 0, 1, 2, 3
_OUTCOMES = ("forward", "back", "drop", "completed")


@dataclass(frozen=True)
class StageDynamics:
    """How visits of one stage last and end; ``alpha``, ``gamma`` and ``loop`` are unused for the last stage."""

    stage: str
    median_days: float
    sigma: float  # sd of log(days)
    alpha: float  # forward-vs-drop log-odds at the median days and coverage 0.5
    gamma: float  # forward log-odds per unit of log(days) above the median (< 0: stalled deals die)
    sentiment: float  # the baseline sentiment of the stage's events
    loop: float | None = None  # lambda, back-vs-drop log-odds; None: no loop-back from this stage


@dataclass(frozen=True)
class SegmentProfile:
    """One segment of the ideal customer profile."""

    name: str
    share: float  # of accounts
    committee: tuple[int, int]  # smallest and largest buying committee, inclusive
    value_median: float  # deal value, lognormal
    coverage_mean: float  # mean share of the committee engaged in a visit
    delta: tuple[float, ...]  # forward log-odds shift, per stage in contract order


@dataclass(frozen=True)
class PlantedPain:
    """A pain point of one stage: its effect and how often each segment meets it."""

    stage: str
    name: str
    beta: float  # on eta_forward when met
    days_shift: float  # on log(days) when met
    prevalence: tuple[float, ...]  # per segment, in Scenario.segments order
    channel: str  # where the tagged event happens
    touchpoint: str


@dataclass(frozen=True)
class Scenario:
    """The planted world: every parameter of the generating process in the module docstring."""

    stages: tuple[StageDynamics, ...]  # all of STAGES, in order
    segments: tuple[SegmentProfile, ...]
    pains: tuple[PlantedPain, ...]
    kappa: float = 0.5  # forward log-odds per unit of committee coverage
    coverage_concentration: float = 12.0  # a + b of the coverage Beta
    value_sigma: float = 0.7  # sd of log(value)
    inbound_share: float = 0.2  # accounts that start at research
    skip_share: float = 0.05  # research -> decision among forward moves
    window_days: int = 540  # accounts are created over this many days before EXPORT_TIME


def default_scenario() -> Scenario:
    """The demo's world: two strong pains, a frequent harmless one, one confounded by segment."""
    return Scenario(stages=_DEFAULT_STAGES, segments=_DEFAULT_SEGMENTS, pains=_pains(_DEFAULT_PAINS))


def shuffled_scenario(seed: int) -> Scenario:
    """The default world with the pains' betas permuted at random among the stages that have an outcome.

    Pains of the last stage keep their beta: a visit there has no outcome for a beta to act on.
    """
    scenario = default_scenario()
    movable = [n for n, pain in enumerate(scenario.pains) if pain.stage != STAGES[-1]]
    betas = np.random.default_rng(np.random.SeedSequence(seed)).permutation([scenario.pains[n].beta for n in movable])
    pains = list(scenario.pains)
    for n, beta in zip(movable, betas, strict=True):
        pains[n] = replace(pains[n], beta=float(beta))
    return replace(scenario, pains=tuple(pains))


def confounded_scenario() -> Scenario:
    """Enterprise is 35% of accounts and converts much worse; harmless pains cling to it, a harmful one to smb."""
    smb, mid_market, enterprise = _DEFAULT_SEGMENTS
    segments = (
        replace(smb, share=0.40), replace(mid_market, share=0.25),
        replace(enterprise, share=0.35, delta=_per_stage(-0.8, decision=-1.4, evaluation=-1.1)),
    )
    pains = {**_DEFAULT_PAINS,
             "thin_content": (0.0, 0.0, (0.30, 0.35, 0.85)),
             "security_review": (0.0, 0.0, (0.05, 0.10, 0.85)),
             "legal_redlines": (0.0, 0.0, (0.05, 0.10, 0.75)),
             "unclear_pricing": (-0.8, 0.1, (0.55, 0.30, 0.08))}
    return replace(default_scenario(), stages=_with_alpha(_DEFAULT_STAGES, awareness=1.0, research=1.35,
                                                          evaluation=0.95, decision=1.3),
                   segments=segments, pains=_pains(pains))


def post_won_scenario() -> Scenario:
    """Strong pains in onboarding and adoption, weak ones before the won deal: for target advocacy, objective value."""
    pains = {tag: (0.2 * beta, 0.2 * days_shift, prevalence) for tag, (beta, days_shift, prevalence)
             in _DEFAULT_PAINS.items()}
    pains |= {"slow_time_to_value": (-1.8, 0.3, (0.40, 0.45, 0.50)),
              "data_migration": (-1.0, 0.3, (0.20, 0.35, 0.55)),
              "low_feature_discovery": (-1.4, 0.2, (0.40, 0.40, 0.40)),
              "support_wait": (-0.9, 0.1, (0.35, 0.30, 0.25))}
    stages = _with_alpha(_DEFAULT_STAGES, awareness=0.76, research=0.98, evaluation=0.42, decision=0.85,
                         onboarding=2.75, adoption=2.65)
    return replace(default_scenario(), stages=stages, pains=_pains(pains))


@dataclass(frozen=True, eq=False)
class TrueJourney:
    """The exact expected outcome of the simulated accounts under any set of improvements.

    ``starts`` and ``start_values`` hold, per segment (rows, Scenario.segments order) and start stage
    (columns, contract order), the export's account count and summed value.
    """

    scenario: Scenario
    starts: np.ndarray
    start_values: np.ndarray
    _world: "_World" = field(repr=False)
    _nodes: "_Nodes" = field(repr=False)

    def reach(self, improvements: pd.DataFrame | None, *, target_stage: str = WON_STAGE,
              objective: str = "conversions") -> float:
        """Expected accounts (or summed ``value``) that eventually reach ``target_stage`` had ``improvements``
        (rows with ``lever, stage, target, effect``; None or empty for none) been in place from the start."""
        if target_stage not in STAGE_ORDER:
            raise UserError(f"target stage {target_stage!r} is not a stage; stages are {', '.join(STAGES)}")
        if objective not in OBJECTIVES:
            raise UserError(f"objective must be 'conversions' or 'value', got {objective!r}")
        weights = self.start_values if objective == "value" else self.starts
        transitions = self._transitions(_levers(improvements, self._world))
        return float(cohort_reach(transitions, weights, target_order=STAGE_ORDER[target_stage]).sum())

    def uplift(self, improvements: pd.DataFrame | None, *, target_stage: str = WON_STAGE,
               objective: str = "conversions") -> float:
        """``reach(improvements) - reach(none)``: what the improvements add."""
        return (self.reach(improvements, target_stage=target_stage, objective=objective)
                - self.reach(None, target_stage=target_stage, objective=objective))

    def pain_effects(self) -> pd.DataFrame:
        """The planted pains: one row per pain, ``stage, pain_point, beta, days_shift, prevalence_<segment>...``."""
        segments = [segment.name for segment in self.scenario.segments]
        return pd.DataFrame(
            [(pain.stage, pain.name, pain.beta, pain.days_shift, *pain.prevalence) for pain in self.scenario.pains],
            columns=["stage", "pain_point", "beta", "days_shift", *(f"prevalence_{name}" for name in segments)],
        ).astype({"stage": "str", "pain_point": "str"})

    def _transitions(self, levers: "_Levers") -> np.ndarray:
        """Expected transition rows, shape (segments, S, S + 1), in the layout of models.chain."""
        world, nodes = self._world, self._nodes
        decided = slice(0, len(STAGES) - 1)  # stages whose visits have an outcome
        eta = nodes.eta + (world.gamma * levers.log_days)[decided, None, None]
        forward, back, drop = _apply_rate_levers(
            *_softmax(eta, world.exp_loop[decided, None, None]),
            levers.drop_keep[decided, None, None], levers.loop_keep[decided, None, None])
        combos = _combo_weights(world.prevalence[:, decided] * (1 - levers.relief[decided]), nodes.bits)
        weight = combos[..., None] * nodes.weight[:, None, None, :]
        expected = np.stack([(p * weight).sum(axis=(-2, -1)) for p in (forward, back, drop)], axis=-1)
        transitions = np.zeros((len(world.segments), len(STAGES), len(STAGES) + 1))
        transitions[:, decided] = np.einsum("gso,sot->gst", expected, world.destinations[decided])
        transitions[:, -1, -1] = 1.0  # the journey ends after the last stage
        return transitions


@dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated export, its exact truth, and the planted visits behind it.

    ``visits``: one row per planted visit (also those after the export time), by account then visit:
    ``account_id, visit, stage, started_at, days, outcome`` (forward, back, drop, completed), ``observed``
    (its first event is in the export), ``censored`` (observed but still running at the export time).
    """

    export: Export
    truth: TrueJourney
    visits: pd.DataFrame


def simulate_export(n_accounts: int, *, seed: int, catalog: pd.DataFrame | None = None,
                    scenario: Scenario | None = None, censor: bool = True,
                    applied: pd.DataFrame | None = None) -> Simulation:
    """Simulate ``n_accounts`` journeys of ``scenario`` (default: :func:`default_scenario`).

    Parameters
    ----------
    catalog
        Passed through unchanged as ``export.improvements``.
    censor
        Cut the journeys at ``EXPORT_TIME`` (False: every journey runs to its end).
    applied
        Improvements (``lever, stage, target, effect``) in place during the simulation. The random
        draws do not depend on them: the same seed with and without gives common random numbers.

    Returns
    -------
    Simulation
        ``export.events``: one row per event, by account then time: ``account_id, timestamp`` (UTC, whole
        seconds), ``stage, channel, touchpoint, stakeholder_role, stakeholder_id, sentiment, pain_point``.
        ``export.accounts``: one row per account, by ``account_id``: ``account_id, segment, value, status,
        created_at``.
    """
    if n_accounts < 1:
        raise UserError(f"the number of accounts must be at least 1, got {n_accounts}")
    scenario = scenario if scenario is not None else default_scenario()
    world = _world(scenario)
    account_seed, journey_seed, event_seed = np.random.SeedSequence(seed).spawn(3)
    accounts = _draw_accounts(world, n_accounts, np.random.default_rng(account_seed))
    visits = _walk(world, accounts, _levers(applied, world), np.random.default_rng(journey_seed))
    end_of_export = int(EXPORT_TIME.timestamp())
    journey_end = np.zeros(n_accounts, dtype=np.int64)
    np.maximum.at(journey_end, visits.account, visits.start + visits.duration)
    is_open = censor & (journey_end > end_of_export)
    width = max(5, len(str(n_accounts - 1)))
    ids = pd.Series([f"acc-{n:0{width}d}" for n in range(n_accounts)], dtype="str")
    events = _events(world, accounts, visits, ids, np.random.default_rng(event_seed),
                     until=end_of_export if censor else None)
    export = Export(
        events=events,
        accounts=pd.DataFrame({
            "account_id": ids,
            "segment": pd.Series(np.array(world.segments)[accounts.segment], dtype="str"),
            "value": accounts.value,
            "status": pd.Series(np.where(is_open, "open", "closed"), dtype="str"),
            "created_at": _timestamps(accounts.created),
        }),
        improvements=catalog,
    )
    truth = _true_journey(scenario, world, accounts)
    return Simulation(export=export, truth=truth, visits=_planted_visits(visits, ids, censor, end_of_export))


# --- the default world ------------------------------------------------------------------------------


def _per_stage(default: float = 0.0, **stages: float) -> tuple[float, ...]:
    """One value per stage in contract order: ``default`` except the stages named."""
    return tuple(stages.get(stage, default) for stage in STAGES)


def _with_alpha(stages: tuple[StageDynamics, ...], **alpha: float) -> tuple[StageDynamics, ...]:
    return tuple(replace(dynamics, alpha=alpha.get(dynamics.stage, dynamics.alpha)) for dynamics in stages)


def _pains(effects: dict[str, tuple[float, float, tuple[float, ...]]]) -> tuple[PlantedPain, ...]:
    """Planted pains for the whole tag vocabulary, from ``tag -> (beta, days_shift, prevalence per segment)``."""
    pains = []
    for stage, tags in PAIN_POINTS.items():
        for tag in tags:
            beta, days_shift, prevalence = effects[tag]
            channel, touchpoint = _PAIN_TOUCHPOINTS[tag]
            pains.append(PlantedPain(stage, tag, beta, days_shift, prevalence, channel, touchpoint))
    return tuple(pains)


_DEFAULT_STAGES = (
    StageDynamics("awareness", median_days=10, sigma=0.5, alpha=0.85, gamma=-0.4, sentiment=0.2),
    StageDynamics("research", median_days=14, sigma=0.5, alpha=1.15, gamma=-0.4, sentiment=0.35),
    StageDynamics("evaluation", median_days=21, sigma=0.5, alpha=0.80, gamma=-0.6, sentiment=0.3, loop=-0.6),
    StageDynamics("decision", median_days=18, sigma=0.5, alpha=1.15, gamma=-0.6, sentiment=0.2, loop=-0.25),
    StageDynamics("onboarding", median_days=30, sigma=0.4, alpha=2.10, gamma=-0.4, sentiment=0.25),
    StageDynamics("adoption", median_days=60, sigma=0.4, alpha=2.05, gamma=-0.3, sentiment=0.3),
    StageDynamics("advocacy", median_days=45, sigma=0.4, alpha=0.0, gamma=0.0, sentiment=0.45),
)
_DEFAULT_SEGMENTS = (
    SegmentProfile("smb", share=0.55, committee=(5, 6), value_median=15_000, coverage_mean=0.6,
                   delta=_per_stage(0.0)),
    SegmentProfile("mid_market", share=0.30, committee=(6, 8), value_median=60_000, coverage_mean=0.5,
                   delta=_per_stage(0.1)),
    SegmentProfile("enterprise", share=0.15, committee=(8, 10), value_median=250_000, coverage_mean=0.4,
                   delta=_per_stage(-0.3, decision=-0.8)),
)
_EVERYWHERE = (0.30, 0.30, 0.30)
_DEFAULT_PAINS: dict[str, tuple[float, float, tuple[float, ...]]] = {  # tag -> beta, days_shift, prevalence
    "irrelevant_messaging": (-0.4, 0.1, _EVERYWHERE),
    "unclear_pricing": (-0.6, 0.1, (0.30, 0.25, 0.20)),
    "no_peer_reviews": (-0.3, 0.1, (0.25, 0.20, 0.15)),
    "thin_content": (0.0, 0.0, (0.55, 0.55, 0.55)),
    "slow_demo_booking": (-1.2, 0.3, (0.35, 0.35, 0.35)),
    "missing_integration": (-0.5, 0.1, (0.15, 0.20, 0.30)),
    "security_review": (0.0, 0.0, (0.10, 0.10, 0.70)),
    "procurement_delay": (-0.9, 0.4, (0.25, 0.30, 0.45)),
    "no_roi_case": (-0.7, 0.1, (0.20, 0.25, 0.25)),
    "legal_redlines": (0.0, 0.0, (0.10, 0.20, 0.40)),
    "slow_time_to_value": (-0.8, 0.2, (0.25, 0.30, 0.35)),
    "data_migration": (-0.5, 0.2, (0.15, 0.25, 0.40)),
    "low_feature_discovery": (-0.6, 0.1, _EVERYWHERE),
    "support_wait": (-0.5, 0.1, (0.25, 0.20, 0.15)),
    "no_referral_ask": (0.0, 0.0, (0.50, 0.50, 0.50)),
}


# --- the scenario as arrays, and the levers -----------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _World:
    """A Scenario as arrays: ``G`` segments, ``S`` stages, up to ``K`` pains per stage (padded, prevalence 0)."""

    segments: tuple[str, ...]
    share: np.ndarray  # (G,)
    committee: np.ndarray  # (G, 2)
    value_median: np.ndarray  # (G,)
    coverage_a: np.ndarray  # (G,) Beta parameters of coverage
    coverage_b: np.ndarray
    delta: np.ndarray  # (G, S)
    mu: np.ndarray  # (S,) log median days
    sigma: np.ndarray
    alpha: np.ndarray
    gamma: np.ndarray
    exp_loop: np.ndarray  # (S,) exp(lambda), 0 where no loop-back
    sentiment: np.ndarray
    prevalence: np.ndarray  # (G, S, K)
    beta: np.ndarray  # (S, K)
    days_shift: np.ndarray  # (S, K)
    pain_slot: dict[tuple[int, str], int]  # (stage order, tag) -> k
    pain_names: np.ndarray  # (S, K) tag, "" for padding
    pain_touchpoints: np.ndarray  # (S, K) index into ``touchpoints``
    destinations: np.ndarray  # (S, 3, S + 1) where forward, back and drop lead, as chain columns
    touchpoints: tuple[tuple[str, str], ...]  # every (channel, touchpoint) an event can carry
    menu_start: np.ndarray  # (S,) the stage's ordinary options are touchpoints[start:start + size]
    menu_size: np.ndarray
    value_sigma: float
    kappa: float
    inbound_share: float
    skip_share: float
    window_days: int


def _world(scenario: Scenario) -> _World:
    if tuple(dynamics.stage for dynamics in scenario.stages) != STAGES:
        raise UserError(f"a scenario needs stage dynamics for {', '.join(STAGES)}, in that order")
    n_stages = len(STAGES)
    by_stage = [[pain for pain in scenario.pains if pain.stage == stage] for stage in STAGES]
    n_slots = max(1, *(len(pains) for pains in by_stage))
    prevalence = np.zeros((len(scenario.segments), n_stages, n_slots))
    beta, days_shift = np.zeros((n_stages, n_slots)), np.zeros((n_stages, n_slots))
    pain_names = np.full((n_stages, n_slots), "", dtype=object)
    touchpoints = [option for stage in STAGES for option in _TOUCHPOINTS[stage]]
    menu_size = np.array([len(_TOUCHPOINTS[stage]) for stage in STAGES])
    pain_touchpoints = np.zeros((n_stages, n_slots), dtype=np.int64)
    for s, pains in enumerate(by_stage):
        for k, pain in enumerate(pains):
            prevalence[:, s, k], beta[s, k], days_shift[s, k] = pain.prevalence, pain.beta, pain.days_shift
            pain_names[s, k] = pain.name
            if (pain.channel, pain.touchpoint) not in touchpoints:
                touchpoints.append((pain.channel, pain.touchpoint))
            pain_touchpoints[s, k] = touchpoints.index((pain.channel, pain.touchpoint))
    destinations = np.zeros((n_stages, 3, n_stages + 1))
    for s in range(n_stages - 1):
        destinations[s, _FORWARD, s + 1] = 1.0
        destinations[s, _BACK, _LOOP_TARGET] = 1.0
        destinations[s, _DROP, n_stages] = 1.0
    skip_from, skip_to = STAGE_ORDER["research"], STAGE_ORDER["decision"]
    destinations[skip_from, _FORWARD, skip_from + 1] = 1 - scenario.skip_share
    destinations[skip_from, _FORWARD, skip_to] = scenario.skip_share
    coverage_mean = np.array([segment.coverage_mean for segment in scenario.segments])
    return _World(
        segments=tuple(segment.name for segment in scenario.segments),
        share=np.array([segment.share for segment in scenario.segments]),
        committee=np.array([segment.committee for segment in scenario.segments]),
        value_median=np.array([segment.value_median for segment in scenario.segments]),
        coverage_a=coverage_mean * scenario.coverage_concentration,
        coverage_b=(1 - coverage_mean) * scenario.coverage_concentration,
        delta=np.array([segment.delta for segment in scenario.segments]),
        mu=np.log([dynamics.median_days for dynamics in scenario.stages]),
        sigma=np.array([dynamics.sigma for dynamics in scenario.stages]),
        alpha=np.array([dynamics.alpha for dynamics in scenario.stages]),
        gamma=np.array([dynamics.gamma for dynamics in scenario.stages]),
        exp_loop=np.array([0.0 if d.loop is None else np.exp(d.loop) for d in scenario.stages]),
        sentiment=np.array([dynamics.sentiment for dynamics in scenario.stages]),
        prevalence=prevalence, beta=beta, days_shift=days_shift,
        pain_slot={(s, name): k for (s, k), name in np.ndenumerate(pain_names) if name},
        pain_names=pain_names, pain_touchpoints=pain_touchpoints,
        destinations=destinations, touchpoints=tuple(touchpoints),
        menu_start=np.concatenate([[0], np.cumsum(menu_size)[:-1]]), menu_size=menu_size,
        value_sigma=scenario.value_sigma, kappa=scenario.kappa, inbound_share=scenario.inbound_share,
        skip_share=scenario.skip_share, window_days=scenario.window_days,
    )


@dataclass(frozen=True, eq=False)
class _Levers:
    """A set of improvements as per-stage factors."""

    relief: np.ndarray  # (S, K) probability that a met pain is relieved
    log_days: np.ndarray  # (S,) log of the days factor
    drop_keep: np.ndarray  # (S,) factor on P(drop)
    loop_keep: np.ndarray  # (S,) factor on P(back)


def _levers(improvements: pd.DataFrame | None, world: _World) -> _Levers:
    """Combine improvements per (stage, lever, target) as 1 - prod(1 - effect); unplanted pain targets do nothing."""
    n_stages = len(STAGES)
    pain_keep = np.ones(world.beta.shape)
    keep = {lever: np.ones(n_stages) for lever in LEVERS if lever != "pain_point"}
    if improvements is not None and len(improvements):
        require_columns(improvements, ["stage", "lever", "target", "effect"], table="improvements")
        rows = zip(improvements["stage"], improvements["lever"], improvements["target"], improvements["effect"])
        for stage, lever, target, effect in rows:
            if stage not in STAGE_ORDER or lever not in LEVERS or not 0 <= effect <= 1:
                raise UserError(f"an improvement needs a stage, a lever ({', '.join(LEVERS)}) and an effect in "
                                f"[0, 1], got stage {stage!r}, lever {lever!r}, effect {effect!r}")
            s = STAGE_ORDER[stage]
            if lever != "pain_point":
                keep[lever][s] *= 1 - effect
            elif (s, target) in world.pain_slot:
                pain_keep[s, world.pain_slot[s, target]] *= 1 - effect
    return _Levers(relief=1 - pain_keep, log_days=np.log(np.maximum(keep["time_in_stage"], _MIN_DAYS_FACTOR)),
                   drop_keep=keep["drop_off"], loop_keep=keep["loop_back"])


def _softmax(eta_forward: np.ndarray, exp_loop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(forward), P(back), P(drop) of the logit with drop as reference."""
    exp_forward = np.exp(eta_forward)
    total = 1 + exp_forward + exp_loop
    return exp_forward / total, exp_loop / total, 1 / total


def _apply_rate_levers(forward, back, drop, drop_keep, loop_keep):
    """drop_off, then loop_back, on outcome probabilities (any matching shapes)."""
    forward, drop = forward + drop * (1 - drop_keep), drop * drop_keep
    freed, back = back * (1 - loop_keep), back * loop_keep
    rest = forward + drop
    return forward + freed * forward / rest, back, drop + freed * drop / rest


def _combo_weights(met: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Probability of each combination of met pains (C, K bits) from the per-pain probabilities (..., K)."""
    return np.where(bits, met[..., None, :], 1 - met[..., None, :]).prod(axis=-1)


# --- the truth ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Nodes:
    """What the truth precomputes: forward log-odds at every quadrature node, without levers."""

    bits: np.ndarray  # (C, K) pain combinations
    eta: np.ndarray  # (G, S - 1, C, N) eta_forward at (combination, days node x coverage node)
    weight: np.ndarray  # (G, N) quadrature weight of each node


def _nodes(world: _World) -> _Nodes:
    n_slots = world.beta.shape[1]
    bits = ((np.arange(2**n_slots)[:, None] >> np.arange(n_slots)) & 1).astype(bool)
    z, z_weight = np.polynomial.hermite_e.hermegauss(_HERMITE_NODES)
    coverage, coverage_weight = [], []
    for a, b in zip(world.coverage_a, world.coverage_b, strict=True):
        x, w = roots_jacobi(_JACOBI_NODES, b - 1, a - 1)  # weight (1 - x)^(b-1) (1 + x)^(a-1) on [-1, 1]
        coverage.append((1 + x) / 2)
        coverage_weight.append(w / w.sum())
    coverage, coverage_weight = np.array(coverage), np.array(coverage_weight)  # (G, J)
    decided = slice(0, len(STAGES) - 1)
    gamma, sigma = world.gamma[decided], world.sigma[decided]
    eta = ((world.alpha[decided] + world.delta[:, decided])[:, :, None, None, None]
           + (bits @ world.beta[decided].T).T[None, :, :, None, None]
           + (gamma[:, None] * (bits @ world.days_shift[decided].T).T)[None, :, :, None, None]
           + (gamma * sigma)[None, :, None, None, None] * z[None, None, None, :, None]
           + world.kappa * (coverage - 0.5)[:, None, None, None, :])
    weight = (z_weight / z_weight.sum())[None, :, None] * coverage_weight[:, None, :]
    n_segments = len(world.segments)
    return _Nodes(bits=bits, eta=eta.reshape(*eta.shape[:3], -1), weight=weight.reshape(n_segments, -1))


def _true_journey(scenario: Scenario, world: _World, accounts: "_Accounts") -> TrueJourney:
    shape = (len(world.segments), len(STAGES))
    cell = accounts.segment * len(STAGES) + accounts.start_stage
    size = shape[0] * shape[1]
    return TrueJourney(
        scenario=scenario,
        starts=np.bincount(cell, minlength=size).reshape(shape).astype(float),
        start_values=np.bincount(cell, weights=accounts.value, minlength=size).reshape(shape),
        _world=world, _nodes=_nodes(world),
    )


# --- the simulation -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Accounts:
    segment: np.ndarray
    start_stage: np.ndarray
    created: np.ndarray  # seconds since the epoch
    committee: np.ndarray
    value: np.ndarray


def _draw_accounts(world: _World, n: int, rng: np.random.Generator) -> _Accounts:
    segment = rng.choice(len(world.segments), size=n, p=world.share / world.share.sum())
    start_stage = np.where(rng.random(n) < world.inbound_share, STAGE_ORDER["research"], STAGE_ORDER["awareness"])
    window = world.window_days * _SECONDS_PER_DAY
    created = int(EXPORT_TIME.timestamp()) - window + rng.integers(0, window, size=n)
    low, high = world.committee[segment, 0], world.committee[segment, 1]
    committee = rng.integers(low, high + 1)
    if committee.max() > len(_ROLES):
        raise UserError(f"a buying committee can have at most {len(_ROLES)} people")
    value = np.round(world.value_median[segment] * np.exp(world.value_sigma * rng.standard_normal(n)))
    return _Accounts(segment=segment, start_stage=start_stage, created=created, committee=committee, value=value)


@dataclass(frozen=True, eq=False)
class _Visits:
    """The planted visits, one entry per visit, in step order (step = the visit's number within its account)."""

    account: np.ndarray
    step: np.ndarray
    stage: np.ndarray
    start: np.ndarray  # seconds since the epoch
    duration: np.ndarray  # whole seconds
    met: np.ndarray  # (V, K) pains met (and not relieved)
    outcome: np.ndarray
    coverage: np.ndarray


def _walk(world: _World, accounts: _Accounts, levers: _Levers, rng: np.random.Generator) -> _Visits:
    """Advance every active account one visit per step until all journeys have ended.

    Each step draws the same arrays for all accounts, active or not, so the draws of a visit do not
    depend on the levers (common random numbers across ``applied``).
    """
    n, n_slots, last = len(accounts.segment), world.beta.shape[1], len(STAGES) - 1
    stage, clock = accounts.start_stage.copy(), accounts.created.copy()
    active = np.ones(n, dtype=bool)
    steps = []
    for step in itertools.count():
        if not active.any():
            break
        draws = (rng.random((n, n_slots)), rng.random((n, n_slots)), rng.standard_normal(n),
                 rng.beta(world.coverage_a[accounts.segment], world.coverage_b[accounts.segment]),
                 rng.random(n), rng.random(n))
        who = np.flatnonzero(active)
        pain_draw, relief_draw, z, coverage, outcome_draw, skip_draw = (draw[who] for draw in draws)
        s, g = stage[who], accounts.segment[who]
        met = (pain_draw < world.prevalence[g, s]) & ~(relief_draw < levers.relief[s])
        log_days = (world.mu[s] + (met * world.days_shift[s]).sum(axis=1) + world.sigma[s] * z
                    + levers.log_days[s])
        eta = (world.alpha[s] + world.delta[g, s] + (met * world.beta[s]).sum(axis=1)
               + world.gamma[s] * (log_days - world.mu[s]) + world.kappa * (coverage - 0.5))
        forward, back, _ = _apply_rate_levers(*_softmax(eta, world.exp_loop[s]), levers.drop_keep[s],
                                              levers.loop_keep[s])
        outcome = np.select([s == last, outcome_draw < forward, outcome_draw < forward + back],
                            [_COMPLETED, _FORWARD, _BACK], default=_DROP)
        duration = np.maximum(np.rint(np.exp(log_days) * _SECONDS_PER_DAY).astype(np.int64), _MIN_VISIT_SECONDS)
        steps.append(_Visits(account=who, step=np.full(len(who), step), stage=s, start=clock[who],
                             duration=duration, met=met, outcome=outcome, coverage=coverage))
        skips = (s == STAGE_ORDER["research"]) & (skip_draw < world.skip_share)
        forward_to = np.where(skips, STAGE_ORDER["decision"], s + 1)
        stage[who] = np.where(outcome == _BACK, _LOOP_TARGET, forward_to)
        clock[who] += duration
        active[who[(outcome == _DROP) | (outcome == _COMPLETED)]] = False
    merged = {f.name: np.concatenate([getattr(visits, f.name) for visits in steps]) for f in fields(_Visits)}
    order = np.lexsort((merged["step"], merged["account"]))
    return _Visits(**{name: values[order] for name, values in merged.items()})


def _events(world: _World, accounts: _Accounts, visits: _Visits, ids: pd.Series, rng: np.random.Generator, *,
            until: int | None) -> pd.DataFrame:
    """The events of the planted visits up to second ``until`` (None: all), by account then time."""
    n_visits, n_slots = visits.met.shape
    pains_met = visits.met.sum(axis=1)
    final = visits.outcome >= _DROP
    inner = np.maximum(rng.integers(_EXTRA_EVENTS[0], _EXTRA_EVENTS[1] + 1, size=n_visits), pains_met)
    # A lost deal or a churn is recorded as one more event (a CRM's stage change), not instead of one:
    # what was seen during the visit does not depend on how it ended.
    per_visit = 1 + inner + (visits.outcome == _DROP)
    visit = np.repeat(np.arange(n_visits), per_visit)
    first = np.concatenate([[0], np.cumsum(per_visit)[:-1]])
    position = np.arange(len(visit)) - first[visit]
    is_last = position == per_visit[visit] - 1

    # times: the first event at the start, the last of a final visit at the end, the others strictly inside
    start, duration = visits.start[visit], visits.duration[visit]
    inside = start + rng.integers(1, duration)
    seconds = np.select([position == 0, is_last & final[visit]], [start, start + duration], default=inside)

    # what happened: an ordinary touchpoint of the stage, the pain's own where one is tagged, the ending's last
    stage = visits.stage[visit]
    option = world.menu_start[stage] + rng.integers(0, world.menu_size[stage])
    pain = np.full(len(visit), -1)  # index into pain_names.ravel()
    rank = np.cumsum(visits.met, axis=1) - 1
    offset = rng.integers(0, inner)
    tagged_visit, tagged_slot = np.nonzero(visits.met)
    tagged_event = first[tagged_visit] + (offset[tagged_visit] + rank[tagged_visit, tagged_slot]) % inner[tagged_visit]
    pain[tagged_event] = visits.stage[tagged_visit] * n_slots + tagged_slot
    option[tagged_event] = world.pain_touchpoints[visits.stage[tagged_visit], tagged_slot]
    touchpoints = list(world.touchpoints) + [_LOST, _CHURNED]
    ending = is_last & (visits.outcome[visit] == _DROP)
    option = np.where(ending, np.where(stage < STAGE_ORDER[WON_STAGE], len(touchpoints) - 2, len(touchpoints) - 1),
                      option)

    # who: a run of the committee's engaged people, from a random first one
    account = visits.account[visit]
    committee = accounts.committee[visits.account]  # per visit
    engaged = np.clip(np.rint(visits.coverage * committee), 1, None).astype(np.int64)
    first_person = rng.integers(0, committee)
    person = (first_person[visit] + rng.integers(0, engaged[visit])) % committee[visit]

    has_sentiment = rng.random(len(visit)) < _SENTIMENT_SHARE
    mood = (world.sentiment[stage] - _PAIN_SENTIMENT * (pains_met[visit] > 0)
            + _SENTIMENT_NOISE * rng.standard_normal(len(visit)))
    sentiment = np.where(has_sentiment, np.round(np.clip(mood, -1, 1), 2), np.nan)

    order = np.argsort((visit << 32) + (seconds - start), kind="stable")  # visits are in account, time order
    if until is not None:
        order = order[seconds[order] <= until]
    channels, names = zip(*touchpoints, strict=True)
    account_id = ids.take(account[order]).reset_index(drop=True)
    return pd.DataFrame({
        "account_id": account_id,
        "timestamp": _timestamps(seconds[order]),
        "stage": _labels(STAGES, stage[order]),
        "channel": _labels(channels, option[order]),
        "touchpoint": _labels(names, option[order]),
        "stakeholder_role": _labels(_ROLES, person[order]),
        "stakeholder_id": account_id + _labels([f"-p{n + 1}" for n in range(len(_ROLES))], person[order]),
        "sentiment": sentiment[order],
        "pain_point": _labels(world.pain_names.ravel(), pain[order]),
    })


def _labels(names, codes: np.ndarray) -> pd.Series:
    """A ``str`` column from codes into ``names``; code -1 or an empty name is missing."""
    table = pd.Series([name or np.nan for name in names] + [np.nan], dtype="str")
    return table.take(np.where(codes < 0, len(names), codes)).reset_index(drop=True)


def _timestamps(seconds: np.ndarray) -> pd.Series:
    return pd.Series((seconds * 1_000_000).astype("datetime64[us]")).dt.tz_localize("UTC")


def _planted_visits(visits: _Visits, ids: pd.Series, censor: bool, end_of_export: int) -> pd.DataFrame:
    observed = (visits.start <= end_of_export) | (not censor)
    return pd.DataFrame({
        "account_id": ids.take(visits.account).reset_index(drop=True),
        "visit": visits.step,
        "stage": _labels(STAGES, visits.stage),
        "started_at": _timestamps(visits.start),
        "days": visits.duration / _SECONDS_PER_DAY,
        "outcome": _labels(_OUTCOMES, visits.outcome),
        "observed": observed,
        "censored": observed & censor & (visits.start + visits.duration > end_of_export),
    })
