"""The pages as a person opens them: report.html and compare.html in a real headless Chromium.

Each page must load with no console error (the page's policy allows no script, so escaped text that
came out as markup would show up here as a refused script), show its sections and charts with a real
size, not overflow the window sideways, and give a full-page screenshot.
"""

import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli
from tests import browser

pytestmark = pytest.mark.integration

REPORT_SECTIONS = ("Roadmap", "Timeline by team", "Journey map", "Funnel", "Emotional curve", "Flow between stages",
                   "Top 10 pain points", "Pain points by stage", "Method")
REPORT_CHARTS = ("timeline", "funnel", "emotional curve", "pain points by score")
CSP = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
THROW = '<script>throw new Error("x")</script>'


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    try:
        path = browser.ensure_chromium()
    except browser.Unavailable as reason:
        pytest.skip(f"no headless Chromium to open the pages in: {reason}")
    with browser.Browser(path, profile=tmp_path_factory.mktemp("chromium") / "profile") as running:
        yield running


@pytest.fixture(scope="module")
def result(small_simulated_export, tmp_path_factory):
    """A real roadmap result folder, from the CLI."""
    out = tmp_path_factory.mktemp("browser") / "result"
    run = CliRunner().invoke(cli, ["roadmap", str(small_simulated_export), "--budget", "20", "--no-tracking",
                                   "--out", str(out)])
    assert run.exit_code == 0, run.stderr
    return out


def test_report_loads_clean_with_every_section_and_chart_and_a_screenshot(chromium, result, tmp_path):
    view = chromium.view(result / "report.html")
    (tmp_path / "report.png").write_bytes(view.screenshot)

    assert view.errors == ()
    assert [heading for heading in view.facts["headings"] if heading in REPORT_SECTIONS] == list(REPORT_SECTIONS)
    assert any(heading.startswith("Candidates considered (") for heading in view.facts["headings"])
    charts = {label.split(":")[0]: size for label, size in view.facts["charts"].items()}
    assert all(charts[name][0] >= 300 and charts[name][1] >= 100 for name in REPORT_CHARTS), charts
    assert view.facts["sparks"] == len(pd.read_csv(result / "roadmap.csv"))  # one error bar per roadmap item
    assert view.facts["overflow_px"] <= 0  # wide tables scroll inside their box, the page does not
    width, height = browser.png_size(view.screenshot)
    assert 1200 <= width <= 1280 and height > 2000  # the window less its scrollbar, the whole page down
    assert len(view.screenshot) > 50_000  # content, not a blank page


def test_compare_page_loads_clean_even_with_a_hostile_id(chromium, result, tmp_path):
    later = tmp_path / "later"
    shutil.copytree(result, later)
    metrics = pd.read_csv(later / "stage_metrics.csv")
    metrics["conversion_rate"] = (metrics["conversion_rate"] * 1.1).clip(upper=1)
    metrics.to_csv(later / "stage_metrics.csv", index=False)
    roadmap = pd.read_csv(later / "roadmap.csv")
    roadmap.loc[0, "id"] = "<script>alert(1)</script>"
    roadmap.to_csv(later / "roadmap.csv", index=False)
    run = CliRunner().invoke(cli, ["compare", str(result), str(later), "--out", str(tmp_path / "compare")])
    assert run.exit_code == 0, run.stderr

    view = chromium.view(tmp_path / "compare" / "compare.html")
    (tmp_path / "compare.png").write_bytes(view.screenshot)

    assert view.errors == ()
    assert view.facts["headings"] == ["Stage metrics (new − old)", "Roadmap changes",
                                      "Improvements shipped last quarter: predicted and observed"]
    assert list(view.facts["charts"]) == ["conversion by stage: old and new run"]
    assert view.facts["overflow_px"] <= 0
    assert 1200 <= browser.png_size(view.screenshot)[0] <= 1280


REFUSED = "violates the following Content Security Policy"  # in Chromium's wording before and after 2024


@pytest.mark.parametrize("change, expected", [
    ((CSP, CSP), ("inline script", REFUSED)),  # the page's own policy blocks the script: still an error
    ((CSP, ""), ("Error: x",)),  # without the policy the script runs and throws
    ((CSP, CSP + '<img src="missing.png">'), ("the image 'file://", REFUSED)),
], ids=["script_refused_by_the_policy", "uncaught_exception", "resource_refused"])
def test_the_checker_reports_an_error_injected_into_a_copy_of_the_page(chromium, result, tmp_path, change, expected):
    page = (result / "report.html").read_text(encoding="utf-8")
    assert CSP in page
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace(*change).replace("</body>", THROW + "</body>"), encoding="utf-8")

    errors = chromium.view(broken).errors

    assert any(all(part in error for part in expected) for error in errors), errors
