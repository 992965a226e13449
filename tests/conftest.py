"""Shared fixtures: the crafted export, and journeys built through the contract's steps."""

from pathlib import Path

import pandas as pd
import pytest

from features.journeys import account_outcomes, account_status, canonical_events, stage_visits

DATA = Path(__file__).parent / "data"


@pytest.fixture
def crafted_export_dir() -> Path:
    """A hand-made export: loop-backs, a skipped stage, a timestamp tie, an open account, a stage map,
    mixed timestamp spellings, and an end at the won deal."""
    return DATA / "crafted_export"


def journey_of(events: pd.DataFrame, accounts: pd.DataFrame | None = None, *, stage_map=None,
               stale_after_days: int = 90, target_stage: str = "onboarding"):
    """Canonical events, visits and outcomes of a small inline export, as the pipeline builds them."""
    canonical = canonical_events(events, stage_map=stage_map or {}, source=None)
    export_time = canonical["timestamp"].max()
    status = account_status(canonical, accounts, export_time=export_time, stale_after_days=stale_after_days)
    visits = stage_visits(canonical, export_time=export_time, status=status)
    return canonical, visits, account_outcomes(visits, status, target_stage=target_stage)


@pytest.fixture(scope="session")
def small_simulated_export(tmp_path_factory) -> Path:
    """A simulated export of 800 accounts (starter catalog), with a config that keeps the bootstrap short."""
    from recommender import io, report
    from recommender.simulate import simulate_export

    catalog, _ = io.read_starter_catalog()
    export = simulate_export(800, seed=5, catalog=catalog).export
    folder = tmp_path_factory.mktemp("simulated") / "export"
    io.write_export({"events.csv": report.render_csv(export.events),
                     "accounts.csv": report.render_csv(export.accounts),
                     "improvements.csv": report.render_csv(export.improvements)}, folder)
    (folder / "journeyrec.toml").write_text("bootstrap = 8\n")
    return folder
