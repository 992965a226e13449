"""The journey as an absorbing Markov chain over stages: where a change in one stage ends up.

A transition array has shape ``(..., S, S + 1)``: row ``s`` gives the probability that a visit of
stage ``s`` is followed by a visit of stage ``t`` (columns ``0..S-1``, earlier stages are
loop-backs) or by the end of the journey without reaching the target (column ``S``, drop).
Rows sum to 1. Leading axes (segments, bootstrap replicates) are batched.
"""

import numpy as np


def reach_probability(transitions: np.ndarray, *, target_order: int) -> np.ndarray:
    """Probability of ever entering a stage at or after ``target_order``, from each starting stage.

    Stages at or past the target are absorbing successes (probability 1); the drop column is the
    absorbing failure. Solves ``(I - Q) p = r`` on the transient stages (those before the target),
    so loops back and forth are counted exactly, not truncated.

    Returns
    -------
    np.ndarray
        Shape ``transitions.shape[:-1]``: one probability per (batch..., start stage).
    """
    stages = transitions.shape[-2]
    transient = slice(0, target_order)
    q = transitions[..., transient, transient]
    r = transitions[..., transient, target_order:stages].sum(axis=-1)
    identity = np.eye(target_order)
    reach_transient = np.linalg.solve(identity - q, r[..., None])[..., 0]
    batch = transitions.shape[:-2]
    ones = np.ones((*batch, stages - target_order))
    return np.clip(np.concatenate([reach_transient, ones], axis=-1), 0.0, 1.0)


def cohort_reach(transitions: np.ndarray, starts: np.ndarray, *, target_order: int) -> np.ndarray:
    """Expected number (or value) of a cohort reaching the target: ``starts[..., s]`` weights start stage ``s``."""
    return (reach_probability(transitions, target_order=target_order) * starts).sum(axis=-1)
