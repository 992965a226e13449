"""The feedback table: text tagged by the config's patterns, scores as sentiment, rows joined to the journey."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli
from features.feedback import feedback_events, feedback_themes, pain_tags, score_sentiment
from recommender.config import load_settings
from recommender.errors import UserError

nan = np.nan
PATTERNS = {"pricing": ["too expensive", r"pric(e|ing)"], "slow_support": [r"support\b.*\bslow", "waited"]}


def utc(*moments: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(moments), utc=True))


def test_patterns_tag_text_case_insensitively_with_every_matching_tag_in_config_order():
    texts = pd.Series(["PRICING unclear", "Support was SLOW, and it is too Expensive", "all good", None], dtype="str")

    tags = pain_tags(texts, PATTERNS)

    assert tags.tolist() == [("pricing",), ("pricing", "slow_support"), (), ()]


@pytest.mark.parametrize(("scale", "scores", "sentiment"), [
    ("0..10", [0, 5, 10, 7], [-1.0, 0.0, 1.0, 0.4]),
    ("1..5", [1, 3, 5, 4], [-1.0, 0.0, 1.0, 0.5]),
    ("-1..1", [-1, 0.25, 1, 0], [-1.0, 0.25, 1.0, 0.0]),
    ("auto", [2, 8, 10, 0], [-0.6, 0.6, 1.0, -1.0]),  # whole numbers beyond 5: 0..10
    ("auto", [1, 3, 5, 2], [-1.0, 0.0, 1.0, -0.5]),  # whole numbers within 1..5
    ("auto", [-0.5, 0.2, 1, 0], [-0.5, 0.2, 1.0, 0.0]),  # a negative: -1..1
    ("auto", [0.5, 1, 0.75, 0], [0.5, 1.0, 0.75, 0.0]),  # fractions within -1..1
    ("auto", [0, 1, 1, 0], [-1.0, -0.8, -0.8, -1.0]),  # whole 0s and 1s: 0..10, the lowest scores
], ids=["0-10", "1-5", "-1-1", "auto-0-10", "auto-1-5", "auto-negative", "auto-fractions", "auto-zeros-and-ones"])
def test_scores_map_linearly_onto_sentiment(scale, scores, sentiment):
    scores = pd.Series([*scores, nan])

    mapped = score_sentiment(scores, scale=scale, source=None)

    pd.testing.assert_series_equal(mapped, pd.Series([*sentiment, nan], name="sentiment"), atol=1e-12)


@pytest.mark.parametrize(("scale", "scores", "message"), [
    ("1..5", [3, 7], "feedback.csv, row 3, column 'score': score 7 is outside the score_scale 1..5 (expected 1 to 5)"),
    ("auto", [-0.5, 5, 9], "feedback.csv, row 2, column 'score': score -0.5 fits no score scale (0..10, 1..5, -1..1) "
                           "together with the other scores; set score_scale in the config"),
], ids=["explicit", "auto"])
def test_a_score_outside_the_scale_names_row_and_column(scale, scores, message):
    with pytest.raises(UserError, match=re.escape(message) + "$"):
        score_sentiment(pd.Series(scores, dtype="float64"), scale=scale, source="feedback.csv")


EVENTS = pd.DataFrame({"account_id": ["a", "b"], "timestamp": utc("2024-01-01", "2024-01-01"),
                       "stage": ["research", "research"]})


def test_each_feedback_row_becomes_an_event_and_each_further_tag_one_more():
    feedback = pd.DataFrame({
        "account_id": ["b", "a", "ghost", "a"],
        "timestamp": utc("2024-02-01", "2024-01-05", "2024-01-05", "2024-03-01"),
        "stage": ["Closed Won", "Research", "research", "evaluation"],
        "score": [9.0, 2.0, 10.0, nan],
        "text": ["support slow but worth the price", "too expensive", "pricing", None],
    })

    events = feedback_events(feedback, EVENTS, patterns=PATTERNS, score_scale="0..10",
                             stage_map={"closed won": "onboarding"}, source="feedback.csv")

    expected = pd.DataFrame({
        "account_id": ["a", "a", "b", "b"],
        "timestamp": utc("2024-01-05", "2024-03-01", "2024-02-01", "2024-02-01"),
        "stage": ["research", "evaluation", "onboarding", "onboarding"],
        "channel": ["owned", "owned", "customer_success", "customer_success"],
        "touchpoint": ["feedback"] * 4,
        "sentiment": [-0.6, nan, 0.8, nan],  # the score counts once, on the first tag's row
        "pain_point": ["pricing", nan, "pricing", "slow_support"],
    }).astype({"account_id": "str", "stage": "str", "channel": "str", "touchpoint": "str", "pain_point": "str"})
    pd.testing.assert_frame_equal(events, expected, check_exact=False, atol=1e-12)


@pytest.mark.parametrize(("stage", "message"), [
    ("Negotiation", "feedback.csv, row 3, column 'stage': unknown stage 'Negotiation' (unknown here: 'Negotiation'); "
                    "use one of awareness, research, evaluation, decision, onboarding, adoption, advocacy, or map "
                    "it in the config's [stage_map]"),
    ("Closed Lost", "feedback.csv, row 3, column 'stage': stage 'Closed Lost' maps to 'lost', the end of a lost deal, "
                    "not a stage feedback can be placed in; give the journey stage the deal had reached "
                    "(e.g. decision)"),
], ids=["unknown", "lost"])
def test_a_stage_feedback_cannot_be_placed_in_names_the_feedback_file_row_and_column(stage, message):
    feedback = pd.DataFrame({"account_id": ["a", "b"], "timestamp": utc("2024-01-02", "2024-01-03"),
                             "stage": ["research", stage]})

    with pytest.raises(UserError, match=re.escape(message) + "$"):
        feedback_events(feedback, EVENTS, patterns={}, score_scale="auto", stage_map={"closed lost": "lost"},
                        source="feedback.csv")


def test_themes_count_mentions_and_accounts_per_stage_most_mentioned_first():
    events = pd.DataFrame({
        "account_id": ["a", "a", "b", "b", "c", "a"],
        "stage": ["research", "research", "research", "research", "research", "decision"],
        "pain_point": ["speed", "pricing", "pricing", None, "pricing", "speed"],
    })

    themes = feedback_themes(events)

    expected = pd.DataFrame({"stage": ["research", "research", "decision"], "theme": ["pricing", "speed", "speed"],
                             "mentions": [3, 1, 1], "accounts": [3, 1, 1]}).astype({"stage": "str", "theme": "str"})
    pd.testing.assert_frame_equal(themes, expected)


@pytest.mark.parametrize(("toml", "message"), [
    ('[feedback_patterns]\npricing = ["pric(e"]\n',
     "feedback_patterns 'pricing': 'pric(e' is not a valid regular expression (missing ), unterminated subpattern "
     "at position 4); escape special characters such as ( [ + ? * with \\"),
    ('[feedback_patterns]\npricing = ["price", 3]\n',
     "feedback_patterns 'pricing' must be a list of phrases (strings), e.g. [\"too expensive\", \"pric(e|ing)\"], "
     "got ['price', 3]"),
    ('[feedback_patterns]\npricing = [" "]\n',
     "feedback_patterns 'pricing' has an empty phrase, which would match any text"),
    ('score_scale = "0-100"\n', "score_scale must be one of 'auto', '0..10', '1..5', '-1..1', got '0-100'"),
], ids=["bad_regex", "not_a_string", "empty_phrase", "unknown_scale"])
def test_a_bad_feedback_setting_is_one_line_naming_the_file_and_key(tmp_path, toml, message):
    config = tmp_path / "settings.toml"
    config.write_text(toml)

    with pytest.raises(UserError, match=re.escape(f"{config}: {message}") + "$"):
        load_settings(config)


FEEDBACK_CSV = (
    "account_id,timestamp,stage,score,text\n"
    "A,2024-01-03T12:00:00Z,Prospecting,2,Pricing is unclear\n"
    "C,2024-01-04T06:00:00Z,research,8,\n"
    "Z,2024-01-04T06:00:00Z,research,1,too expensive\n"
    "A,2024-01-25T00:00:00Z,Closed Won,10,setup was painless\n"
)
PATTERNS_TOML = '\n[feedback_patterns]\npricing = ["pric(e|ing)", "too expensive"]\n'


def test_diagnose_with_feedback_moves_sentiment_as_hand_computed(tmp_path, crafted_export_dir):
    data = tmp_path / "export"
    shutil.copytree(crafted_export_dir, data)
    with open(data / "journeyrec.toml", "a", encoding="utf-8") as config:
        config.write(PATTERNS_TOML)
    (data / "feedback.csv").write_text(FEEDBACK_CSV, encoding="utf-8")

    result = CliRunner().invoke(cli, ["diagnose", str(data), "--out", str(tmp_path / "out")])

    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(tmp_path / "out" / "stage_metrics.csv").set_index("stage")
    # Scores 2, 8, 1, 10 are whole and reach 10: the 0..10 scale, sentiment (score - 5) / 5. Z has no events.
    # research: events A -0.5, C 0.1; feedback A -0.6, C +0.6. onboarding: feedback A +1. awareness: event A 0.5.
    expected = [0.5, (-0.5 + 0.1 - 0.6 + 0.6) / 4, nan, nan, 1.0, nan, nan]
    assert metrics["sentiment_mean"].tolist() == pytest.approx(expected, nan_ok=True)
    pains = pd.read_csv(tmp_path / "out" / "pain_points.csv")
    assert pains.loc[pains["pain_point"] == "pricing", ["stage", "accounts"]].values.tolist() == [["research", 1]]
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<th>thinking (feedback themes)</th><td></td><td><div>pricing (1 mention)</div></td>" in page


def test_validate_counts_feedback_of_accounts_without_events(tmp_path):
    data = tmp_path / "export"
    data.mkdir()
    (data / "events.csv").write_text("account_id,timestamp,stage,stakeholder_id\n"
                                     "a1,2024-01-02T10:00:00Z,awareness,p1\na1,2024-01-09T10:00:00Z,research,p2\n")
    (data / "feedback.csv").write_text("account_id,timestamp,stage,text\n"
                                       "a1,2024-01-05T10:00:00Z,awareness,hello\nzz,2024-01-05T10:00:00Z,research,hi\n")

    result = CliRunner().invoke(cli, ["validate", str(data)])

    assert result.exit_code == 0, result.output
    assert (f"warning: {data / 'feedback.csv'}, row 3, column 'account_id': 1 of 2 feedback rows name an account "
            "with no events (first 'zz'); they are left out of the journey") in result.stdout.splitlines()
    assert "no sentiment anywhere" not in result.stdout  # the feedback is the emotional layer's source
