import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.contract import IMPROVEMENTS, LEVERS, STAGES
from recommender.errors import UserError
from recommender.io import read_starter_catalog, read_table
from rules import PAIN_POINTS, validate_catalog
from rules.catalog import CATALOG_COLUMNS

HEADER = "id,title,stage,team,effort,lever,target,effect,effect_low,effect_high,depends_on,excludes,expected_uplift\n"
VALID_ROWS = (
    "pricing_page,Pricing page,research,marketing,3,pain_point,unclear_pricing,0.4,0.25,0.55,,,\n"
    "roi_calculator,ROI calculator,decision,marketing,3,pain_point,no_roi_case,0.3,,,,,\n"
)


def read_catalog(tmp_path, text):
    path = tmp_path / "improvements.csv"
    path.write_text(text, encoding="utf-8")
    return read_table(path, IMPROVEMENTS), str(path)


@pytest.fixture(scope="module")
def starter():
    catalog, source = read_starter_catalog()
    return validate_catalog(catalog, source=source)


def test_starter_catalog_file_has_exactly_the_contract_columns():
    catalog, _ = read_starter_catalog()
    assert tuple(catalog.columns) == CATALOG_COLUMNS
    assert catalog["expected_uplift"].isna().all()


def test_starter_catalog_covers_every_stage_lever_and_pain_point(starter):
    assert len(starter) >= 28
    assert set(starter["stage"]) == set(STAGES)
    assert set(starter["lever"]) == set(LEVERS)
    relieved = starter.loc[starter["lever"] == "pain_point", ["stage", "target"]]
    assert set(relieved.itertuples(index=False, name=None)) == {
        (stage, tag) for stage, tags in PAIN_POINTS.items() for tag in tags
    }


def test_starter_catalog_is_realistic(starter):
    assert set(starter["team"]) == {"marketing", "sales", "customer_success", "product", "revops"}
    assert starter["effort"].between(1, 12).all()
    assert ((starter["effect_low"] < starter["effect"]) & (starter["effect"] < starter["effect_high"])).all()
    depends_on = dict(zip(starter["id"], starter["depends_on"]))
    assert depends_on["cfo_business_case"] == ("roi_calculator",)
    assert depends_on["referral_program"] == ("nps_program",)
    pairs = {frozenset((one, other)) for one, others in zip(starter["id"], starter["excludes"]) for other in others}
    assert 2 <= len(pairs) <= 3


def test_pain_points_follow_the_journey():
    assert tuple(PAIN_POINTS) == STAGES


def test_catalog_is_normalised(tmp_path):
    catalog, source = read_catalog(tmp_path, (
        "id,title,stage,team,effort,lever,target,effect,depends_on,excludes,owner_note\n"
        "tour,Product tour,Evaluation,marketing,3,time_in_stage,,0.15,,,x\n"
        "pricing,Pricing page,RESEARCH,marketing,2.5,Pain_Point,unclear_pricing,0.4,,tour; ;,y\n"
        "kit,Champion kit,decision,sales,3,loop_back,,0.25, pricing;;pricing,,\n"
    ))

    normalised = validate_catalog(catalog, source=source)

    expected = pd.DataFrame({
        "id": ["kit", "pricing", "tour"],
        "title": ["Champion kit", "Pricing page", "Product tour"],
        "stage": ["decision", "research", "evaluation"],
        "team": ["sales", "marketing", "marketing"],
        "effort": [3.0, 2.5, 3.0],
        "lever": ["loop_back", "pain_point", "time_in_stage"],
        "target": pd.Series([np.nan, "unclear_pricing", np.nan], dtype="str"),
        "effect": [0.25, 0.4, 0.15],
        "effect_low": [0.25, 0.4, 0.15],
        "effect_high": [0.25, 0.4, 0.15],
        "depends_on": [("pricing",), (), ()],
        "excludes": [(), ("tour",), ("pricing",)],
        "expected_uplift": [np.nan, np.nan, np.nan],
    })
    pd.testing.assert_frame_equal(normalised, expected)


@pytest.mark.parametrize(("rows", "problem"), [
    (VALID_ROWS + "pricing_page,Again,research,marketing,1,drop_off,,0.2,,,,,\n",
     "row 4, column 'id': duplicate id 'pricing_page', already used on row 2; give each improvement its own id"),
    ("a;b,Two ids,research,marketing,1,drop_off,,0.2,,,,,\n",
     "row 2, column 'id': id 'a;b' contains ';', which separates ids in depends_on and excludes; "
     "use letters, digits and '_'"),
    ("demo,Demo,Evalution,sales,1,drop_off,,0.2,,,,,\n",
     "row 2, column 'stage': unknown stage 'Evalution' (did you mean 'evaluation'?); use one of awareness, "
     "research, evaluation, decision, onboarding, adoption, advocacy"),
    ("demo,Demo,launch,sales,1,drop_off,,0.2,,,,,\n",
     "row 2, column 'stage': unknown stage 'launch'; use one of awareness, research, evaluation, decision, "
     "onboarding, adoption, advocacy"),
    (VALID_ROWS + "demo,Demo,evaluation,sales,-2,drop_off,,0.2,,,,,\n",
     "row 4, column 'effort': effort must be > 0 person-weeks, got -2"),
    ("demo,Demo,evaluation,sales,0,drop_off,,0.2,,,,,\n",
     "row 2, column 'effort': effort must be > 0 person-weeks, got 0"),
    ("demo,Demo,evaluation,sales,1,churn,,0.2,,,,,\n",
     "row 2, column 'lever': unknown lever 'churn'; use one of pain_point, drop_off, time_in_stage, loop_back"),
    ("demo,Demo,evaluation,sales,1,dropoff,,0.2,,,,,\n",
     "row 2, column 'lever': unknown lever 'dropoff' (did you mean 'drop_off'?); use one of pain_point, "
     "drop_off, time_in_stage, loop_back"),
    ("demo,Demo,evaluation,sales,1,pain_point,,0.2,,,,,\n",
     "row 2, column 'target': lever 'pain_point' needs a target: the pain point tag it relieves, "
     "e.g. 'unclear_pricing'"),
    ("demo,Demo,evaluation,sales,1,drop_off,,0,,,,,\n",
     "row 2, column 'effect': effect must be in (0, 1], the share it relieves or cuts (0.2 = 20%), got 0"),
    ("demo,Demo,evaluation,sales,1,drop_off,,1.5,,,,,\n",
     "row 2, column 'effect': effect must be in (0, 1], the share it relieves or cuts (0.2 = 20%), got 1.5"),
    ("demo,Demo,evaluation,sales,1,drop_off,,0.2,0,,,,\n",
     "row 2, column 'effect_low': effect_low must be in (0, 1] like effect, got 0"),
    ("demo,Demo,evaluation,sales,1,drop_off,,0.2,,1.2,,,\n",
     "row 2, column 'effect_high': effect_high must be in (0, 1] like effect, got 1.2"),
    ("demo,Demo,evaluation,sales,1,drop_off,,0.3,0.5,,,,\n",
     "row 2, column 'effect_low': effect_low 0.5 is above effect 0.3; the range must hold the effect "
     "(effect_low <= effect <= effect_high)"),
    ("demo,Demo,evaluation,sales,1,drop_off,,0.3,0.1,0.2,,,\n",
     "row 2, column 'effect_high': effect_high 0.2 is below effect 0.3; the range must hold the effect "
     "(effect_low <= effect <= effect_high)"),
    ("demo,Demo,evaluation,sales,1,drop_off,,0.3,,,,,-4\n",
     "row 2, column 'expected_uplift': expected_uplift must be a number >= 0 (your own estimate of the gain) "
     "or empty, got -4"),
    (VALID_ROWS + "business_case,Business case,decision,sales,2,drop_off,,0.2,,,roi_calc,,\n",
     "row 4, column 'depends_on': 'roi_calc' is not an id in this catalog; did you mean 'roi_calculator'?"),
    (VALID_ROWS + "business_case,Business case,decision,sales,2,drop_off,,0.2,,,,legal_pack,\n",
     "row 4, column 'excludes': 'legal_pack' is not an id in this catalog; use ids from column 'id'"),
    (VALID_ROWS + "business_case,Business case,decision,sales,2,drop_off,,0.2,,,,business_case,\n",
     "row 4, column 'excludes': 'business_case' excludes itself; list other improvements' ids"),
    (VALID_ROWS + "business_case,Business case,decision,sales,2,drop_off,,0.2,,,business_case,,\n",
     "row 4, column 'depends_on': 'business_case' depends on itself; list other improvements' ids"),
    ("a,A,research,sales,1,drop_off,,0.2,,,b,,\n"
     "b,B,research,sales,1,drop_off,,0.2,,,a,,\n",
     "row 2, column 'depends_on': depends_on has a cycle: a -> b -> a; an improvement cannot need itself, "
     "even through others: remove one of these dependencies"),
    ("x,X,research,sales,1,drop_off,,0.2,,,,,\n"
     "c,C,research,sales,1,drop_off,,0.2,,,a,,\n"
     "b,B,research,sales,1,drop_off,,0.2,,,c,,\n"
     "a,A,research,sales,1,drop_off,,0.2,,,b;x,,\n",
     "row 3, column 'depends_on': depends_on has a cycle: c -> a -> b -> c; an improvement cannot need itself, "
     "even through others: remove one of these dependencies"),
    (VALID_ROWS + "business_case,Business case,decision,sales,2,drop_off,,0.2,,,roi_calculator,roi_calculator,\n",
     "row 4, column 'depends_on': 'business_case' needs 'roi_calculator' (depends_on), but 'business_case' and "
     "'roi_calculator' exclude each other, so 'business_case' can never be chosen; "
     "drop the dependency or the exclusion"),
    ("a,A,research,sales,1,drop_off,,0.2,,,b;c,,\n"
     "b,B,research,sales,1,drop_off,,0.2,,,,,\n"
     "c,C,research,sales,1,drop_off,,0.2,,,d,,\n"
     "d,D,research,sales,1,drop_off,,0.2,,,,b,\n",
     "row 2, column 'depends_on': 'a' needs 'b' and 'd' (depends_on), but 'b' and 'd' exclude each other, "
     "so 'a' can never be chosen; drop the dependency or the exclusion"),
], ids=["duplicate_id", "semicolon_in_id", "misspelt_stage", "unknown_stage", "negative_effort", "zero_effort",
        "unknown_lever", "misspelt_lever", "pain_point_without_target", "zero_effect", "effect_above_one",
        "effect_low_zero", "effect_high_above_one", "effect_low_above_effect", "effect_high_below_effect",
        "negative_expected_uplift", "depends_on_unknown_id", "excludes_unknown_id", "excludes_itself",
        "depends_on_itself", "two_cycle", "three_cycle_named_from_its_first_row", "needs_what_it_excludes",
        "needs_two_that_exclude_each_other"])
def test_each_problem_is_named_with_its_row_and_column(tmp_path, rows, problem):
    catalog, source = read_catalog(tmp_path, HEADER + rows)

    with pytest.raises(UserError, match=f"^{re.escape(f'{source}, {problem}')}$"):
        validate_catalog(catalog, source=source)


def test_the_first_problem_in_file_order_is_reported(tmp_path):
    catalog, source = read_catalog(tmp_path, HEADER + (
        "demo,Demo,evaluation,sales,1,drop_off,,0,,,,,\n"
        "tour,Tour,evaluation,sales,-1,drop_off,,0.2,,,,,\n"
    ))

    with pytest.raises(UserError) as raised:
        validate_catalog(catalog, source=source)

    assert (raised.value.row, raised.value.column) == (2, "effect")


def test_a_table_without_a_required_column_is_refused_naming_the_source():
    table = pd.DataFrame({"id": ["a"], "title": ["A"], "stage": ["research"], "team": ["sales"],
                          "effort": [1.0], "lever": ["drop_off"]})

    with pytest.raises(UserError, match=re.escape(
            "my.csv: improvements table is missing column(s) 'effect'; it has 'id', 'title', 'stage', 'team', "
            "'effort', 'lever'")):
        validate_catalog(table, source="my.csv")


def reaches(depends_on: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every id each id needs, directly or through others (a fixed point, the slow obvious way)."""
    reach = {identifier: set(needed) for identifier, needed in depends_on.items()}
    changed = True
    while changed:
        changed = False
        for identifier, needed in reach.items():
            more = set().union(*(reach[other] for other in needed)) - needed
            if more:
                needed |= more
                changed = True
    return reach


@st.composite
def graphs(draw):
    """Up to six improvements with any dependencies (cycles too) and any exclusions."""
    ids = [f"c{i}" for i in range(draw(st.integers(1, 6)))]
    def some_others(identifier):
        others = [other for other in ids if other != identifier]
        return draw(st.sets(st.sampled_from(others), max_size=2)) if others else set()

    depends_on = {identifier: some_others(identifier) for identifier in ids}
    excludes = {identifier: some_others(identifier) for identifier in ids}
    return ids, depends_on, excludes


def as_table(ids, depends_on, excludes):
    def joined(values):
        return ";".join(sorted(values)) if values else np.nan

    return pd.DataFrame({
        "id": ids, "title": ids, "stage": "research", "team": "sales", "effort": 1.0, "lever": "drop_off",
        "effect": 0.2,
        "depends_on": pd.Series([joined(depends_on[i]) for i in ids], dtype="str"),
        "excludes": pd.Series([joined(excludes[i]) for i in ids], dtype="str"),
    })


@settings(max_examples=100)
@given(graph=graphs(), seed=st.integers(0, 2**16))
def test_dependencies_and_exclusions_against_a_brute_force_oracle(graph, seed):
    ids, depends_on, excludes = graph
    table = as_table(ids, depends_on, excludes)
    reach = reaches(depends_on)
    symmetric = {i: excludes[i] | {other for other in ids if i in excludes[other]} for i in ids}
    impossible = [i for i in ids if any(symmetric[x] & (reach[i] | {i}) for x in reach[i] | {i})]

    if any(identifier in reach[identifier] for identifier in ids):
        with pytest.raises(UserError, match=r"^row \d+, column 'depends_on': depends_on has a cycle: ") as raised:
            validate_catalog(table, source=None)
        cycle = re.search(r"a cycle: (.*?);", str(raised.value)).group(1).split(" -> ")
        assert cycle[0] == cycle[-1] == min(cycle, key=ids.index)
        assert all(needed in depends_on[one] for one, needed in zip(cycle, cycle[1:]))
    elif impossible:
        with pytest.raises(UserError, match="can never be chosen") as raised:
            validate_catalog(table, source=None)
        assert raised.value.row == ids.index(impossible[0]) + 2
    else:
        catalog = validate_catalog(table, source=None)
        assert list(catalog["id"]) == sorted(ids)
        assert dict(zip(catalog["id"], catalog["depends_on"])) == {i: tuple(sorted(depends_on[i])) for i in ids}
        assert dict(zip(catalog["id"], catalog["excludes"])) == {i: tuple(sorted(symmetric[i])) for i in ids}
        shuffled = table.sample(frac=1, random_state=seed).reset_index(drop=True)
        pd.testing.assert_frame_equal(validate_catalog(shuffled, source=None), catalog)
