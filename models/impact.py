"""What an improvement is worth: per-stage journey models, chained through the journey to the target.

For every stage before the target, a multinomial logistic model estimates how a visit ends —
``forward``, ``back`` (a loop-back) or ``drop`` — from the pain points met in it, the time spent, the
committee coverage, the channel mix and the account's segment (so a pain point that is merely common
in a weak segment is not blamed). Censored visits (open accounts still in a stage) are left out of the
fit: their ending is unknown, not a drop. A pain point also moves the time spent in a stage; that
route is estimated by a linear model of log-days and followed when the pain point is relieved.

The models are summarised, per segment and stage, as average outcome probabilities and how each lever
shifts them. Any set of levers then changes the transition rows of an absorbing Markov chain over
the stages (models/chain.py), which carries the change through loops and later stages to the target
stage, in accounts or in value. Bootstrap refits over accounts (Poisson weights) give the intervals;
replicate 0 is the fit on the data as it is.

This is a what-if through fitted models, not a randomised experiment: it controls for what the export
records (segment, coverage, channels), not for what it does not.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from features.visits import BACK, DROP, FORWARD, OUTCOMES, PAIN_PREFIX
from models.chain import cohort_reach
from recommender.contract import STAGE_ORDER, STAGES, require_columns
from recommender.errors import UserError

MAX_RESAMPLED_ACCOUNTS = 5000  # accounts per bootstrap replicate on large exports (m-out-of-n)
MIN_VISITS = 40  # resolved visits a stage model needs; fewer and the stage falls back to funnel arithmetic
MIN_EXPOSED = 5  # visits a pain point needs at a stage to get its own coefficient
MIN_SEGMENT_VISITS = 10  # below this a segment's stage averages borrow the pooled ones
TIME_GRID = np.linspace(0.0, 0.95, 12)  # time_in_stage effects at which the response is evaluated
NUMERIC = ("log_days", "stakeholders", "share_owned", "share_earned", "share_paid",
           "share_direct_sales", "share_customer_success")
_FWD, _BACK, _DROP = (OUTCOMES.index(outcome) for outcome in (FORWARD, BACK, DROP))


@dataclass(frozen=True)
class StageModel:
    """One stage's model fitted on the data as it is, as plain scikit-learn in the features' own units.

    What a run logs to MLflow: ``estimator.predict_proba`` on a frame with the ``features`` columns
    (features.visits.visit_features, segment as 0/1 indicators) gives the chance of each outcome in
    ``classes`` order.
    """

    stage: str
    estimator: LogisticRegression
    features: tuple[str, ...]
    classes: tuple[str, ...]
    visits: int


@dataclass(frozen=True)
class StageFit:
    """How one stage's visits end, as the models of every replicate summarise it.

    Arrays are indexed ``[replicate, segment, outcome]`` (outcomes in features.visits.OUTCOMES order).
    """

    stage_order: int
    base: np.ndarray  # average outcome probabilities as observed
    pain_delta: Mapping[str, np.ndarray]  # tag -> change in the averages if every meeting of the tag were relieved
    time_delta: np.ndarray  # [replicate, segment, grid point, outcome]: change if days shrank by TIME_GRID
    pain_effect: Mapping[str, np.ndarray]  # tag -> [replicate]: change in P(forward) for a visit that meets it
    visits: int  # resolved visits the fit rests on
    accounts: int  # distinct accounts behind them
    exposed: Mapping[str, int]  # tag -> accounts that met it here
    modelled: bool  # False: too few visits, funnel arithmetic only
    point: StageModel | None = None  # the fit on the data as it is (None under funnel arithmetic)


@dataclass(frozen=True)
class JourneyModel:
    """Everything needed to value any set of levers, for one target stage and objective."""

    stages: Mapping[int, StageFit]  # stage order -> fit, for stages before the target
    forward_to: np.ndarray  # [replicate, stage, stage]: where a forward move goes
    back_to: np.ndarray  # [replicate, stage, stage]: where a loop-back goes
    starts: np.ndarray  # [replicate, segment, stage]: accounts (or value) starting the journey in each stage
    segments: tuple[str, ...]
    target_order: int
    replicates: int
    spread: float = 1.0  # sqrt(m / n) when replicates resample m of n accounts; their deviations are scaled by it

    def reach(self, levers: Mapping[tuple[int, str, str], np.ndarray]) -> np.ndarray:
        """Expected accounts (or value) reaching the target per replicate, with ``levers`` applied.

        ``levers`` maps ``(stage_order, lever, target)`` (target ``""`` unless ``pain_point``) to the
        combined effect per replicate (shape ``[replicate]``), already combined as 1 - prod(1 - e).
        """
        reached = self._reach(levers)
        if self.spread == 1.0:
            return reached
        # m-out-of-n: shrink only the model's sampling deviation, not the effects' own spread
        at_point = self._at_point._reach(levers)
        return at_point + self.spread * (reached - at_point)

    def _reach(self, levers: Mapping[tuple[int, str, str], np.ndarray]) -> np.ndarray:
        transitions = self._transitions(levers)
        return cohort_reach(transitions, self.starts, target_order=self.target_order).sum(axis=-1)

    @cached_property
    def _at_point(self) -> "JourneyModel":
        """The same model with every replicate's fit replaced by replicate 0's (the fit on the data as it is)."""
        def point(array: np.ndarray) -> np.ndarray:
            return np.broadcast_to(array[:1], array.shape)

        stages = {order: replace(fit, base=point(fit.base), time_delta=point(fit.time_delta),
                                 pain_delta={tag: point(delta) for tag, delta in fit.pain_delta.items()})
                  for order, fit in self.stages.items()}
        return replace(self, stages=stages, forward_to=point(self.forward_to), back_to=point(self.back_to),
                       starts=point(self.starts), spread=1.0)

    def _transitions(self, levers: Mapping[tuple[int, str, str], np.ndarray]) -> np.ndarray:
        n_stages = len(STAGES)
        replicates, segments = self.starts.shape[:2]
        transitions = np.zeros((replicates, segments, n_stages, n_stages + 1))
        transitions[..., -1] = 1.0  # stages nobody leaves (or after the target) end the journey
        for order, fit in self.stages.items():
            probabilities = _apply_levers(fit, {key[1:]: effect for key, effect in levers.items() if key[0] == order})
            row = (probabilities[..., _FWD, None] * self.forward_to[:, None, order, :]
                   + probabilities[..., _BACK, None] * self.back_to[:, None, order, :])
            transitions[:, :, order, :n_stages] = row
            transitions[:, :, order, -1] = probabilities[..., _DROP]
        return transitions


def _apply_levers(fit: StageFit, levers: Mapping[tuple[str, str], np.ndarray]) -> np.ndarray:
    """Outcome probabilities ``[replicate, segment, outcome]`` of one stage with its levers applied."""
    probabilities = fit.base.copy()
    for (lever, target), effect in levers.items():
        if lever == "pain_point" and target in fit.pain_delta:
            probabilities += effect[:, None, None] * fit.pain_delta[target]
        elif lever == "time_in_stage":
            probabilities += _interpolate_time(fit.time_delta, effect)
    probabilities = np.clip(probabilities, 0.0, None)
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    if ("drop_off", "") in levers:
        cut = levers[("drop_off", "")][:, None] * probabilities[..., _DROP]
        probabilities[..., _DROP] -= cut
        probabilities[..., _FWD] += cut
    if ("loop_back", "") in levers:
        freed = levers[("loop_back", "")][:, None] * probabilities[..., _BACK]
        rest = probabilities[..., _FWD] + probabilities[..., _DROP]
        share_forward = np.divide(probabilities[..., _FWD], rest, out=np.ones_like(rest), where=rest > 0)
        probabilities[..., _BACK] -= freed
        probabilities[..., _FWD] += freed * share_forward
        probabilities[..., _DROP] += freed * (1.0 - share_forward)
    return probabilities


def _interpolate_time(time_delta: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``time_delta[r, g, grid, k]`` at each replicate's effect."""
    position = np.clip(np.interp(effect, TIME_GRID, np.arange(len(TIME_GRID))), 0, len(TIME_GRID) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(TIME_GRID) - 1)
    frac = (position - low)[:, None, None]
    rows = np.arange(len(effect))
    return time_delta[rows, :, low, :] * (1 - frac) + time_delta[rows, :, high, :] * frac


def fit_journey_model(visits_x: pd.DataFrame, *, target_stage: str, objective: str, seed: int,
                      bootstrap: int, time_levers: bool = True) -> JourneyModel:
    """Fit the stage models on the data and on ``bootstrap`` resamples of its accounts.

    Parameters
    ----------
    visits_x
        From features.visits.visit_features: one row per visit.
    time_levers
        Also evaluate the time_in_stage what-ifs (a roadmap needs them; scoring pain points does not).

    Raises
    ------
    UserError
        When no stage before the target has a visit that ended (nothing to learn from).
    """
    require_columns(visits_x, ["account_id", "stage_order", "outcome", "segment", "value", *NUMERIC], table="visits")
    target_order = STAGE_ORDER[target_stage]
    ids = pd.Categorical(visits_x["account_id"])  # integer codes: no sorting of id strings
    accounts, account_index = ids.categories, ids.codes
    resampled = min(len(accounts), MAX_RESAMPLED_ACCOUNTS)
    weights = _replicate_weights(len(accounts), seed=seed, bootstrap=bootstrap,
                                 rate=resampled / len(accounts))[:, account_index]
    segment_codes = visits_x["segment"].cat.codes.to_numpy()
    segments = tuple(visits_x["segment"].cat.categories)
    resolved = visits_x["outcome"].notna().to_numpy()
    stage_order = visits_x["stage_order"].to_numpy()
    if not (resolved & (stage_order < target_order)).any():
        raise UserError(f"no visit before {target_stage!r} has ended yet; every journey is still open there, "
                        "so there is nothing to learn from")
    stages = {}
    for order in range(target_order):
        rows = np.flatnonzero(resolved & (stage_order == order))
        if len(rows):
            stages[order] = _fit_stage(visits_x.iloc[rows], weights[:, rows], segment_codes[rows],
                                       n_segments=len(segments), order=order, seed=seed, time_levers=time_levers)
    forward_to, back_to = _destinations(visits_x, weights, resolved)
    first_visit = (visits_x.groupby("account_id", sort=False).cumcount() == 0).to_numpy()
    starts = _starts(visits_x, weights, first_visit, segment_codes, n_segments=len(segments), objective=objective)
    return JourneyModel(stages, forward_to, back_to, starts, segments, target_order, bootstrap + 1,
                        spread=float(np.sqrt(resampled / len(accounts))))


def _replicate_weights(n_accounts: int, *, seed: int, bootstrap: int, rate: float) -> np.ndarray:
    """Row 0 all ones (the data as it is); rows 1.. Poisson(rate) account weights, one derived seed each.

    With ``rate`` < 1 each replicate resamples about ``rate * n`` accounts (an m-out-of-n bootstrap,
    so refits stay fast on large exports); its weights are scaled back to the full cohort's size, and
    JourneyModel.spread shrinks its deviations by sqrt(m / n).
    """
    children = np.random.SeedSequence(seed).spawn(bootstrap)
    draws = [np.random.default_rng(child).poisson(rate, n_accounts).astype("float64") for child in children]
    draws = [draw * (n_accounts / max(draw.sum(), 1.0)) for draw in draws]
    return np.vstack([np.ones(n_accounts), *draws]) if draws else np.ones((1, n_accounts))


def _fit_stage(stage_visits: pd.DataFrame, weights: np.ndarray, segment_codes: np.ndarray, *,
               n_segments: int, order: int, seed: int, time_levers: bool) -> StageFit:
    outcome = outcome_codes(stage_visits["outcome"].to_numpy())
    pain_columns = [column for column in stage_visits.columns if column.startswith(PAIN_PREFIX)
                    and stage_visits[column].sum() >= MIN_EXPOSED]
    exposed = {column[len(PAIN_PREFIX):]: int(stage_visits.loc[stage_visits[column] > 0, "account_id"].nunique())
               for column in pain_columns}
    modelled = len(stage_visits) >= MIN_VISITS and len(np.unique(outcome)) >= 2
    names, X = _design(stage_visits, pain_columns)
    days_column = names.index("log_days")
    days = stage_visits["days"].to_numpy()
    replicates = weights.shape[0]
    base = np.zeros((replicates, n_segments, len(OUTCOMES)))
    pain_delta = {tag: np.zeros_like(base) for tag in exposed}
    pain_effect = {tag: np.zeros(replicates) for tag in exposed}
    time_delta = np.zeros((replicates, n_segments, len(TIME_GRID), len(OUTCOMES)))
    model = _OutcomeModel(X, outcome, seed=seed) if modelled else None
    point = None
    for r in range(replicates):
        w = weights[r]
        if model is not None and len(np.unique(outcome[w > 0])) >= 2:
            model.fit(w)
            if r == 0:  # replicate 0 is the data as it is
                point = StageModel(STAGES[order], model.in_feature_units(names), tuple(names),
                                   tuple(OUTCOMES[code] for code in model.columns), len(stage_visits))
            rows = np.flatnonzero(w > 0)  # a replicate's averages are over the visits it drew
            Xr, wr, codes = X[rows], w[rows], segment_codes[rows]
            observed = model.predict(Xr)
            base[r] = _segment_means(observed, wr, codes, n_segments)
            shifts = _days_shifts(Xr, days_column, [names.index(c) for c in pain_columns], wr)
            for column, shift in zip(pain_columns, shifts):
                k = names.index(column)
                met = Xr[:, k] > 0
                relieved = Xr.copy()
                relieved[:, k] = 0.0
                relieved[:, days_column] -= shift * met
                change = model.predict(relieved) - observed
                tag = column[len(PAIN_PREFIX):]
                pain_delta[tag][r] = _segment_means(change, wr, codes, n_segments)
                pain_effect[tag][r] = -np.average(change[met, _FWD], weights=wr[met]) if wr[met].sum() > 0 else 0.0
            shorter = Xr.copy()
            for k, cut in enumerate(TIME_GRID[1:] if time_levers else (), start=1):
                shorter[:, days_column] = np.log1p(days[rows] * (1.0 - cut))
                time_delta[r, :, k] = _segment_means(model.predict(shorter) - observed, wr, codes, n_segments)
        else:
            base[r], deltas = _funnel_arithmetic(stage_visits, outcome, w, segment_codes, n_segments, pain_columns)
            for column, (delta, effect) in deltas.items():
                pain_delta[column[len(PAIN_PREFIX):]][r] = delta
                pain_effect[column[len(PAIN_PREFIX):]][r] = effect
    return StageFit(order, base, pain_delta, time_delta, pain_effect, visits=len(stage_visits),
                    accounts=int(stage_visits["account_id"].nunique()), exposed=exposed, modelled=modelled,
                    point=point)


def _design(stage_visits: pd.DataFrame, pain_columns: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Feature names and matrix: numeric features, pain flags and segment indicators (the segment is controlled for)."""
    segments = pd.get_dummies(stage_visits["segment"], prefix="segment", dtype="float64").iloc[:, 1:]
    frame = pd.concat([stage_visits[list(NUMERIC) + list(pain_columns)].astype("float64").reset_index(drop=True),
                       segments.reset_index(drop=True)], axis=1)
    return list(frame.columns), frame.to_numpy(dtype="float64")


def outcome_codes(outcome: np.ndarray) -> np.ndarray:
    """Each visit's outcome label as its index in features.visits.OUTCOMES."""
    codes = pd.Categorical(outcome, categories=OUTCOMES).codes
    if (codes < 0).any():
        raise ValueError(f"an outcome outside {OUTCOMES}")
    return codes.astype("int64")


class _OutcomeModel:
    """A multinomial logistic model of how a visit ends, refitted per replicate from the last solution.

    Features are standardised once on the stage's data; predictions are computed from the
    coefficients directly (the same numbers predict_proba gives, without its per-call checks).
    """

    def __init__(self, X: np.ndarray, outcome: np.ndarray, *, seed: int) -> None:
        self.mean = X.mean(axis=0)
        spread = X.std(axis=0)
        self.scale = np.where(spread > 0, spread, 1.0)
        self.standardised = (X - self.mean) / self.scale
        self.outcome = outcome  # integer codes (outcome_codes): sklearn's unique() sorts them fast, strings slowly
        self.estimator = LogisticRegression(C=1.0, max_iter=1000, warm_start=True, random_state=seed)

    def fit(self, weight: np.ndarray) -> None:
        keep = weight > 0
        labels = np.unique(self.outcome[keep])
        if hasattr(self.estimator, "classes_") and not np.array_equal(labels, self.estimator.classes_):
            self.estimator = clone(self.estimator)  # another set of classes: start afresh
        self.estimator.fit(self.standardised[keep], self.outcome[keep], sample_weight=weight[keep])
        self.columns = self.estimator.classes_

    def in_feature_units(self, names: Sequence[str]) -> LogisticRegression:
        """The last fit with the standardisation folded into its coefficients: the same probabilities from
        unscaled features named ``names``, with the outcome names as classes."""
        estimator = clone(self.estimator)
        coef = self.estimator.coef_ / self.scale
        estimator.coef_, estimator.intercept_ = coef, self.estimator.intercept_ - coef @ self.mean
        estimator.classes_ = np.array([OUTCOMES[code] for code in self.columns], dtype=object)
        estimator.n_features_in_, estimator.feature_names_in_ = len(names), np.array(names, dtype=object)
        return estimator

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities ``[n, OUTCOMES]`` (0 for an outcome the fit never saw)."""
        scores = ((X - self.mean) / self.scale) @ self.estimator.coef_.T + self.estimator.intercept_
        if scores.shape[1] == 1:  # two classes: one score for the second
            scores = np.hstack([np.zeros_like(scores), scores])
        scores -= scores.max(axis=1, keepdims=True)
        odds = np.exp(scores)
        probabilities = np.zeros((len(X), len(OUTCOMES)))
        probabilities[:, self.columns] = odds / odds.sum(axis=1, keepdims=True)
        return probabilities


def _days_shifts(X: np.ndarray, days_column: int, pain_columns: Sequence[int], weight: np.ndarray) -> list[float]:
    """How much each pain point lengthens the stage (in log1p days), adjusting for the other features."""
    if not pain_columns:
        return []
    controls = np.hstack([np.ones((len(X), 1)), np.delete(X, days_column, axis=1)])
    weighted = controls * weight[:, None]
    coef = np.linalg.lstsq(weighted.T @ controls, weighted.T @ X[:, days_column], rcond=None)[0]  # weighted least squares
    return [float(coef[1 + (k if k < days_column else k - 1)]) for k in pain_columns]


def _segment_means(values: np.ndarray, weight: np.ndarray, codes: np.ndarray, n_segments: int) -> np.ndarray:
    """Weighted mean of ``values[n, k]`` per segment; a thin segment borrows the pooled mean."""
    pooled = (values * weight[:, None]).sum(axis=0) / max(weight.sum(), 1e-12)
    totals = np.bincount(codes, weights=weight, minlength=n_segments)
    means = np.vstack([np.bincount(codes, weights=values[:, k] * weight, minlength=n_segments)
                       for k in range(values.shape[1])]).T
    counts = np.bincount(codes, weights=(weight > 0).astype(float), minlength=n_segments)
    thin = counts < MIN_SEGMENT_VISITS
    means = np.divide(means, totals[:, None], out=np.zeros_like(means), where=totals[:, None] > 0)
    means[thin] = pooled
    return means


def _funnel_arithmetic(stage_visits: pd.DataFrame, outcome: np.ndarray, weight: np.ndarray, codes: np.ndarray,
                       n_segments: int, pain_columns: Sequence[str]) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, float]]]:
    """Too few visits for a model: smoothed outcome shares, and a pain point's raw exposed-vs-not gap.

    Returns the base probabilities and, per pain column, (change in the stage averages if relieved,
    change in P(forward) for a visit that meets it).
    """
    seen = np.unique(outcome).tolist() or [_DROP]
    onehot = np.zeros((len(outcome), len(OUTCOMES)))
    onehot[np.arange(len(outcome)), outcome] = 1.0
    prior = np.zeros(len(OUTCOMES))
    prior[list({*seen, _FWD, _DROP})] = 0.5  # add-half smoothing: no stage is certain from a handful of visits
    share = ((onehot * weight[:, None]).sum(axis=0) + prior) / (weight.sum() + prior.sum())
    base = np.tile(share, (n_segments, 1))
    deltas = {}
    for column in pain_columns:
        met = stage_visits[column].to_numpy() > 0
        exposed_share = (weight * met).sum() / max(weight.sum(), 1e-12)
        with_pain = ((onehot * (weight * met)[:, None]).sum(axis=0) + prior) / ((weight * met).sum() + prior.sum())
        without = ((onehot * (weight * ~met)[:, None]).sum(axis=0) + prior) / ((weight * ~met).sum() + prior.sum())
        deltas[column] = (np.tile(exposed_share * (without - with_pain), (n_segments, 1)),
                          float(with_pain[_FWD] - without[_FWD]))
    return base, deltas


def _destinations(visits_x: pd.DataFrame, weights: np.ndarray, resolved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where forward moves and loop-backs out of each stage go, per replicate (shares of observed moves)."""
    n_stages = len(STAGES)
    next_order = visits_x.groupby("account_id", sort=False)["stage_order"].shift(-1).to_numpy()
    order = visits_x["stage_order"].to_numpy()
    moved = resolved & ~np.isnan(next_order)
    forward_to = np.zeros((weights.shape[0], n_stages, n_stages))
    back_to = np.zeros_like(forward_to)
    for s in range(n_stages):
        for table, is_kind, default in ((forward_to, next_order > s, min(s + 1, n_stages - 1)),
                                        (back_to, next_order < s, STAGE_ORDER["research"] if s > 1 else 0)):
            rows = np.flatnonzero(moved & (order == s) & is_kind)
            counts = np.zeros((weights.shape[0], n_stages))
            for destination in np.unique(next_order[rows]).astype(int):
                counts[:, destination] = weights[:, rows[next_order[rows] == destination]].sum(axis=1)
            totals = counts.sum(axis=1, keepdims=True)
            fallback = np.zeros(n_stages)
            fallback[default] = 1.0
            table[:, s, :] = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), fallback)
    return forward_to, back_to


def _starts(visits_x: pd.DataFrame, weights: np.ndarray, first_visit: np.ndarray, codes: np.ndarray, *,
            n_segments: int, objective: str) -> np.ndarray:
    """Accounts (or their value) entering the journey at each stage, per replicate and segment."""
    rows = np.flatnonzero(first_visit)
    unit = visits_x["value"].to_numpy()[rows] if objective == "value" else np.ones(len(rows))
    starts = np.zeros((weights.shape[0], n_segments, len(STAGES)))
    cells = codes[rows] * len(STAGES) + visits_x["stage_order"].to_numpy()[rows]
    for r in range(weights.shape[0]):
        starts[r] = np.bincount(cells, weights=weights[r, rows] * unit,
                                minlength=n_segments * len(STAGES)).reshape(n_segments, len(STAGES))
    return starts


def stage_model_quality(visits_x: pd.DataFrame, *, target_stage: str, seed: int,
                        split_at: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-time check of each stage model: fit on the older 70% of its visits, score the newer ones.

    Returns
    -------
    tuple of pd.DataFrame
        ``quality``: one row per checked stage, ``stage, train_visits, test_visits, auc, brier`` (of
        "progressed" against the rest; AUC NaN where the test part has one class only).
        ``calibration``: one row per stage and fifth of the predicted chance, ``stage, bin, visits,
        predicted, observed`` (mean predicted chance of progressing against the share that did).
    """
    quality, calibration = [], []
    resolved = visits_x[visits_x["outcome"].notna()]
    for order in range(STAGE_ORDER[target_stage]):
        stage_visits = resolved[resolved["stage_order"] == order]
        if len(stage_visits) < 2 * MIN_VISITS or stage_visits["outcome"].nunique() < 2:
            continue
        cut = stage_visits["started_at"].quantile(0.7) if split_at is None else split_at
        older, newer = stage_visits[stage_visits["started_at"] <= cut], stage_visits[stage_visits["started_at"] > cut]
        if len(newer) < 10 or older["outcome"].nunique() < 2:
            continue
        pains = [c for c in stage_visits.columns if c.startswith(PAIN_PREFIX) and stage_visits[c].sum() >= MIN_EXPOSED]
        _, both = _design(pd.concat([older, newer]), pains)
        model = _OutcomeModel(both[:len(older)], outcome_codes(older["outcome"].to_numpy()), seed=seed)
        model.fit(np.ones(len(older)))
        progressed = (newer["outcome"] == FORWARD).to_numpy()
        score = model.predict(both[len(older):])[:, _FWD]
        auc = roc_auc_score(progressed, score) if 0 < progressed.sum() < len(progressed) else np.nan
        quality.append({"stage": STAGES[order], "train_visits": len(older), "test_visits": len(newer),
                        "auc": auc, "brier": brier_score_loss(progressed, score)})
        bins = pd.Series(pd.qcut(pd.Series(score).rank(method="first"), 5, labels=False)).to_numpy()
        for k in range(5):
            inside = bins == k
            calibration.append({"stage": STAGES[order], "bin": k + 1, "visits": int(inside.sum()),
                                "predicted": float(score[inside].mean()), "observed": float(progressed[inside].mean())})
    return (pd.DataFrame(quality, columns=["stage", "train_visits", "test_visits", "auc", "brier"]),
            pd.DataFrame(calibration, columns=["stage", "bin", "visits", "predicted", "observed"]))


STRONG, WEAK, ASSUMPTION = "strong", "weak", "assumption only"
STRONG_ACCOUNTS = 100  # accounts behind an estimate before it can be graded strong
INTERVAL = (0.05, 0.95)  # the reported interval: 90% of the bootstrap replicates


@dataclass(frozen=True)
class CandidateEffects:
    """Each candidate's lever and effect per replicate: replicate 0 the catalog's ``effect``, the rest drawn
    from a triangular distribution over ``[effect_low, effect, effect_high]``, so the effect's own
    uncertainty is folded into the intervals. ``fixed`` holds a user-given uplift (NaN: use the model)."""

    ids: tuple[str, ...]
    keys: tuple[tuple[int, str, str], ...]  # (stage order, lever, target or "")
    effects: np.ndarray  # [replicate, candidate]
    fixed: np.ndarray  # [candidate]


def candidate_effects(candidates: pd.DataFrame, *, replicates: int, seed: int) -> CandidateEffects:
    """Draw every candidate's effect per replicate (one derived seed, so adding a candidate moves no other draw)."""
    require_columns(candidates, ["id", "stage", "lever", "target", "effect", "effect_low", "effect_high",
                                 "expected_uplift"], table="candidates")
    effects = np.empty((replicates, len(candidates)))
    for n, row in enumerate(candidates.itertuples(index=False)):
        child = np.random.SeedSequence([seed, *row.id.encode("utf-8")])
        low, mode, high = row.effect_low, row.effect, row.effect_high
        draws = np.random.default_rng(child).triangular(low, mode, high, replicates - 1) if high > low else \
            np.full(replicates - 1, mode)
        effects[:, n] = np.concatenate([[mode], draws])
    keys = tuple((STAGE_ORDER[row.stage], row.lever, row.target if row.lever == "pain_point" else "")
                 for row in candidates.itertuples(index=False))
    return CandidateEffects(tuple(candidates["id"]), keys, effects, candidates["expected_uplift"].to_numpy(dtype=float))


def set_uplift(model: JourneyModel, effects: CandidateEffects, chosen: Sequence[int]) -> np.ndarray:
    """Extra accounts (or value) reaching the target per replicate if the candidates at positions ``chosen``
    were all in place: effects on one (stage, lever, target) combine as 1 - prod(1 - e), stages compound
    through the chain, and user-given uplifts add on top."""
    fixed = [n for n in chosen if not np.isnan(effects.fixed[n])]
    modelled = [n for n in chosen if np.isnan(effects.fixed[n]) and effects.keys[n][0] < model.target_order]
    keep: dict[tuple[int, str, str], np.ndarray] = {}
    for n in modelled:
        keep[effects.keys[n]] = keep.get(effects.keys[n], np.ones(model.replicates)) * (1.0 - effects.effects[:, n])
    gain = model.reach({key: 1.0 - remaining for key, remaining in keep.items()}) - _baseline(model) if keep else \
        np.zeros(model.replicates)
    return gain + effects.fixed[fixed].sum()


def _baseline(model: JourneyModel) -> np.ndarray:
    return model.reach({})


def estimate_uplift(model: JourneyModel, candidates: pd.DataFrame, effects: CandidateEffects) -> pd.DataFrame:
    """Each candidate's own uplift, interval and evidence.

    Returns
    -------
    pd.DataFrame
        ``candidates`` (same rows and order) with ``expected_uplift`` (replicate 0; the user's figure
        where the catalog gives one), ``uplift_low``, ``uplift_high`` (90% bootstrap interval),
        ``evidence_accounts``, ``evidence`` (strong / weak / assumption only) and ``basis`` (what the
        estimate rests on, in words).
    """
    rows = []
    for n in range(len(effects.ids)):
        gain = set_uplift(model, effects, [n])
        low, high = (np.quantile(gain[1:], INTERVAL) if model.replicates > 1 else (gain[0], gain[0]))
        rows.append({"expected_uplift": float(gain[0]), "uplift_low": float(min(low, gain[0])),
                     "uplift_high": float(max(high, gain[0])), **_evidence(model, effects, n, low)})
    return candidates.assign(**pd.DataFrame(rows, index=candidates.index))


def _evidence(model: JourneyModel, effects: CandidateEffects, n: int, low: float) -> dict[str, object]:
    order, lever, target = effects.keys[n]
    stage = STAGES[order]
    if not np.isnan(effects.fixed[n]):
        return {"evidence_accounts": 0, "evidence": ASSUMPTION, "basis": "the catalog's own uplift estimate"}
    if order >= model.target_order:
        return {"evidence_accounts": 0, "evidence": ASSUMPTION,
                "basis": f"acts at or after the target stage {STAGES[model.target_order]!r}, so it adds nothing to it"}
    fit = model.stages.get(order)
    if fit is None:
        return {"evidence_accounts": 0, "evidence": ASSUMPTION, "basis": f"no {stage} visit has ended yet"}
    accounts = fit.exposed.get(target, 0) if lever == "pain_point" else fit.accounts
    if lever == "pain_point" and target not in fit.exposed:
        return {"evidence_accounts": 0, "evidence": ASSUMPTION,
                "basis": f"too few {stage} visits meet {target!r} to estimate it"}
    if not fit.modelled:
        needs_model = lever in ("pain_point", "time_in_stage")
        return {"evidence_accounts": accounts, "evidence": ASSUMPTION if needs_model else WEAK,
                "basis": f"funnel arithmetic on {fit.visits} {stage} visits (too few for a model)"}
    grade = STRONG if accounts >= STRONG_ACCOUNTS and low > 0 else WEAK
    what = f"{accounts} accounts meeting {target!r}" if lever == "pain_point" else f"{accounts} accounts in {stage}"
    return {"evidence_accounts": accounts, "evidence": grade,
            "basis": f"segment-adjusted stage model, {what}"}


def estimate_pain_points(model: JourneyModel, pain_points: pd.DataFrame) -> pd.DataFrame:
    """Fill ``estimated_effect`` (model-adjusted change in the chance of progressing for an account that meets
    the pain point; negative = harmful) and ``score`` (objective units lost to the target stage: the gain
    from relieving every meeting of it), then order by score."""
    require_columns(pain_points, ["stage", "pain_point"], table="pain_points")
    baseline = _baseline(model)[0]
    effect, score = [], []
    for row in pain_points.itertuples(index=False):
        order = STAGE_ORDER[row.stage]
        fit = model.stages.get(order)
        if fit is None or row.pain_point not in fit.pain_effect:
            effect.append(np.nan)
            score.append(np.nan if order < model.target_order else 0.0)
            continue
        effect.append(float(fit.pain_effect[row.pain_point][0]))
        relieved = model.reach({(order, "pain_point", row.pain_point): np.ones(model.replicates)})[0]
        score.append(float(relieved - baseline))
    scored = pain_points.assign(estimated_effect=effect, score=score)
    return scored.sort_values(["score", "stage", "pain_point"], ascending=[False, True, True],
                              na_position="last", kind="stable", ignore_index=True)
