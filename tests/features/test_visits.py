"""The model matrix: what a visit shows, and never how it ended."""

import pandas as pd
import pytest

from features.visits import visit_features
from tests.conftest import journey_of


@pytest.mark.parametrize("ending", ["closed_lost", "cancellation", "Churned"])
def test_the_event_that_records_the_ending_is_not_a_feature(ending):
    events = pd.DataFrame({
        "account_id": ["a", "a", "a", "b", "b"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-09", "2024-01-01", "2024-01-04"], utc=True),
        "stage": ["research", "research", "research", "research", "evaluation"],
        "channel": ["owned", "owned", "direct_sales", "owned", "owned"],
        "touchpoint": ["webinar", "blog_post", ending, "webinar", "demo"],
        "stakeholder_id": ["p1", "p1", "p9", "p1", "p2"],
    })
    accounts = pd.DataFrame({"account_id": ["a", "b"], "status": ["closed", "closed"]})
    canonical, visits, _ = journey_of(events, accounts)

    features = visit_features(canonical, visits, accounts).set_index(["account_id", "stage_order"])

    lost_visit = features.loc[("a", 1)]
    assert lost_visit["outcome"] == "drop"
    assert (lost_visit["share_owned"], lost_visit["share_direct_sales"]) == (1.0, 0.0)
    assert lost_visit["stakeholders"] == pytest.approx(0.6931471805599453)  # log1p(1): p9 only signed the loss
    assert lost_visit["days"] == 8.0  # the ending still dates the end of the visit
