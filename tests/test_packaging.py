"""The flat layout's top-level names (features, models, rules, recommender, cli) belong to journeyrec alone."""

from importlib.metadata import packages_distributions

import pytest


@pytest.mark.parametrize("name", ["recommender", "features", "rules", "models", "cli"])
def test_no_other_installed_distribution_claims_our_top_level_names(name):
    assert set(packages_distributions()[name]) == {"journeyrec"}


def test_the_starter_catalog_ships_with_the_package():
    from recommender import io

    catalog, source = io.read_starter_catalog()
    assert len(catalog) >= 25 and source.endswith("starter_catalog.csv")
