"""journeyrec's command line: parse the arguments, call recommender.pipeline, print a short summary.

The only place a UserError becomes an exit status (1, one line on stderr). Heavy libraries are
imported inside the commands, so ``journeyrec --help`` starts fast.
"""

import importlib
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import click

DATA_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
STAGES = ("awareness", "research", "evaluation", "decision", "onboarding", "adoption", "advocacy")
DEMO_BUDGET = 30.0
DEMO_CAPACITY = {"marketing": 15.0, "sales": 12.0, "customer_success": 9.0, "product": 12.0, "revops": 6.0}


class TeamWeeks(click.ParamType):
    """``TEAM=WEEKS``, e.g. ``sales=8``."""

    name = "TEAM=WEEKS"

    def convert(self, value, param, ctx):
        team, _, weeks = value.partition("=")
        try:
            amount = float(weeks)
        except ValueError:
            amount = -1.0
        if not team.strip() or not amount >= 0 or amount == float("inf"):
            self.fail(f"{value!r} is not TEAM=WEEKS with WEEKS >= 0, e.g. sales=8", param, ctx)
        return team.strip(), amount


@contextmanager
def user_errors():
    """Show a UserError as one line and exit 1; every other exception keeps its traceback (it is a bug)."""
    from recommender.errors import UserError

    try:
        yield
    except UserError as error:
        raise click.ClickException(str(error)) from error


def progress(step: str) -> None:
    """Say on stderr what a long run is doing, when a person is watching (stdout carries the result)."""
    if sys.stderr.isatty():
        click.echo(f"journeyrec: {step}...", err=True)


config_option = click.option("--config", "config_path", type=FILE,
                             help="TOML settings (default: journeyrec.toml in DATA_DIR, if present).")
seed_option = click.option("--seed", type=click.IntRange(min=0), help="Random seed (default: the config's, else 0).")
def import_options(command):
    """``--format`` and the options that describe a vendor export (shared by validate, diagnose, roadmap)."""
    for option in reversed((
        click.option("--format", "export_format", type=click.Choice(["contract", "hubspot", "salesforce", "deals"]),
                     help="How DATA_DIR is laid out (default: detected from its files)."),
        click.option("--columns", metavar="NAME=COL,...",
                     help="The events table's own column names, e.g. account_id=Case,timestamp=Time,stage=Activity."),
        click.option("--id-column", metavar="COL", help="--format deals: the deal id column."),
        click.option("--stage-columns", metavar="COL=STAGE,...", help="--format deals: a date column per stage."),
    )):
        command = option(command)
    return command


target_option = click.option("--target-stage", type=click.Choice(STAGES[1:], case_sensitive=False),
                             help="The stage that counts as converted (default: onboarding, the won deal).")


@click.group()
@click.version_option(package_name="journeyrec")
def cli() -> None:
    """Choose which customer-journey improvements to fund next quarter, from a CRM/analytics export."""


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--accounts", "n_accounts", type=click.IntRange(min=10), default=2000, show_default=True,
              help="How many accounts (about 10 events each).")
@seed_option
def simulate(out_dir, n_accounts, seed) -> None:
    """Write a realistic simulated journey export (events, accounts, improvements) to OUT_DIR.

    \b
    Example:
        journeyrec simulate exports/sim --accounts 5000 --seed 7
    """
    with user_errors():
        tables = _simulated_tables(n_accounts, seed=seed or 0)
        from recommender import io

        io.write_export(tables, out_dir)
    click.echo(f"wrote a simulated export of {n_accounts:,} accounts to {out_dir}")


def _simulated_tables(n_accounts: int, *, seed: int) -> dict[str, bytes]:
    from recommender import io, report
    from recommender.simulate import simulate_export

    catalog, _ = io.read_starter_catalog()
    export = simulate_export(n_accounts, seed=seed, catalog=catalog).export
    return {"events.csv": report.render_csv(export.events), "accounts.csv": report.render_csv(export.accounts),
            "improvements.csv": report.render_csv(export.improvements)}


@cli.command()
@click.argument("data_dir", type=DATA_DIR)
@config_option
@target_option
@import_options
def validate(data_dir, config_path, target_stage, **layout) -> None:
    """Check an export: errors stop here (exit 1); warnings say what the journey map is missing.

    \b
    Example:
        journeyrec validate exports/q3
    """
    with user_errors():
        settings = _settings(config_path, data_dir, target_stage=target_stage)
        export = _read_export(data_dir, settings, catalog=None, **layout)
        from recommender import pipeline

        diagnosis, _, _ = pipeline.diagnose(export, settings, now=_now(), progress=progress)
        if export.improvements is not None:
            from rules import validate_catalog

            validate_catalog(export.improvements, source=export.improvements_path)
    for finding in diagnosis.findings:
        click.echo(str(finding))
    warnings = sum(finding.severity == "warning" for finding in diagnosis.findings)
    click.echo(f"{data_dir}: {diagnosis.accounts:,} accounts, {diagnosis.events:,} events, covering "
               f"{diagnosis.covered[0]} to {diagnosis.covered[1]}; no errors, {warnings} warning(s)")


@cli.command()
@click.argument("data_dir", type=DATA_DIR)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder for the results.")
@config_option
@target_option
@seed_option
@click.option("--by", type=click.Choice(["segment", "cohort"]),
              help="Also the stage metrics per segment, or per cohort (quarter of entry): stage_metrics_by_<by>.csv.")
@import_options
def diagnose(data_dir, out, config_path, target_stage, seed, by, **layout) -> None:
    """Stage metrics and scored pain points only (stage_metrics.csv, pain_points.csv, report.html).

    \b
    Example:
        journeyrec diagnose exports/q3 --out results/q3-diagnosis --by segment
    """
    from recommender import io, report

    with user_errors():
        settings = _settings(config_path, data_dir, target_stage=target_stage, seed=seed)
        export = _read_export(data_dir, settings, catalog=None, **layout)
        from recommender import pipeline

        diagnosis, _, _ = pipeline.diagnose(export, settings, now=_now(), progress=progress, by=by)
        files = report.render_diagnosis(diagnosis)
        if by is not None:
            files[f"stage_metrics_by_{by}.csv"] = report.render_csv(diagnosis.stage_metrics_by)
        files["run.json"] = report.render_run_json(
            diagnosis, parameters={**_parameters(settings, data_dir), "by": by}, versions=_versions(), run_id=None,
            started_at=_started())
        io.write_outputs(files, out)
    click.echo(report.diagnosis_table(diagnosis), nl=False)
    click.echo(f"wrote {', '.join(sorted(files))} to {out}")


@cli.command()
@click.argument("data_dir", type=DATA_DIR)
@click.option("--budget", type=click.FloatRange(min=0), required=True, metavar="WEEKS",
              help="Effort budget for the quarter, in person-weeks.")
@click.option("--capacity", type=TeamWeeks(), multiple=True, help="A team's person-weeks this quarter; repeat per team.")
@click.option("--catalog", type=FILE, help="Improvements table (default: DATA_DIR/improvements.*, else the starter catalog).")
@target_option
@click.option("--objective", type=click.Choice(["conversions", "value"]),
              help="What to maximise (default: value when accounts carry a value).")
@config_option
@seed_option
@click.option("--periods", type=click.IntRange(min=1, max=12), help="Periods (months) the quarter is planned in (default 3).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Longest a solve may take (default 60).")
@click.option("--gap", type=click.FloatRange(min=0, max=1, max_open=True),
              help="Relative optimality gap accepted, e.g. 0.001 (default 0: proven optimum).")
@click.option("--require", "required", multiple=True, metavar="ID", help="An improvement that must be in the roadmap.")
@click.option("--forbid", "forbidden", multiple=True, metavar="ID", help="An improvement that must stay out.")
@click.option("--risk", type=click.FloatRange(min=0.01, max=0.5), metavar="Q",
              help="Risk-averse: maximise the Q-quantile of the uplift (e.g. 0.1) instead of its mean.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="journeyrec-out", show_default=True,
              help="Folder for the results.")
@click.option("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else ./mlflow.db).")
@click.option("--no-tracking", is_flag=True, help="Do not record an MLflow run.")
@click.option("--require-tracking", is_flag=True, help="Exit 1 when the MLflow run cannot be recorded.")
@click.option("--experiment", metavar="NAME", help="MLflow experiment (default: journeyrec).")
@import_options
def roadmap(data_dir, budget, capacity, catalog, target_stage, objective, config_path, seed, periods, time_limit, gap,
            required, forbidden, risk, out, tracking_uri, no_tracking, require_tracking, experiment, **layout) -> None:
    """Choose the improvements to fund within BUDGET person-weeks, and plan them over the quarter.

    \b
    Example:
        journeyrec roadmap exports/q3 --budget 30 --capacity sales=8 --capacity marketing=10
    """
    if tracking_uri and no_tracking:
        raise click.UsageError("use --tracking-uri or --no-tracking, not both")
    with user_errors():
        settings = _settings(config_path, data_dir, target_stage=target_stage, objective=objective, seed=seed,
                             tracking_uri=tracking_uri, experiment=experiment, capacity=dict(capacity),
                             periods=periods, time_limit=time_limit, gap=gap)
        export = _read_export(data_dir, settings, catalog=catalog, **layout)
        _run_roadmap(export, data_dir, settings, out, budget=budget, catalog=catalog, required=required,
                     forbidden=forbidden, risk=risk, track=not no_tracking, require_tracking=require_tracking)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="demo-out", show_default=True,
              help="Folder for the simulated export (OUT/export) and the results (OUT/results).")
@click.option("--accounts", "n_accounts", type=click.IntRange(min=100), default=2000, show_default=True)
@seed_option
@click.option("--no-tracking", is_flag=True, help="Do not record an MLflow run.")
def demo(out, n_accounts, seed, no_tracking) -> None:
    """Simulate a realistic export, run everything on it, and print the roadmap.

    \b
    Example:
        journeyrec demo --out demo-out
    """
    from recommender import io
    from recommender.config import Settings

    with user_errors():
        progress(f"simulating {n_accounts:,} accounts")
        io.write_export(_simulated_tables(n_accounts, seed=seed or 0), out / "export")
        settings = Settings(capacity=DEMO_CAPACITY, seed=seed or 0)
        _run_roadmap(io.read_export(out / "export"), out / "export", settings, out / "results", budget=DEMO_BUDGET,
                     catalog=None, required=(), forbidden=(), risk=None, track=not no_tracking, require_tracking=False)
    if not no_tracking:
        click.echo("review the run: .venv/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db  (then open http://127.0.0.1:5000)")


def _read_export(data_dir: Path, settings, *, catalog: Path | None, export_format: str | None, columns: str | None,
                 id_column: str | None, stage_columns: str | None):
    """Read DATA_DIR in its format (contract or a vendor's), with the config's stage map.

    scikit-learn, which every command that reads an export goes on to need, is imported meanwhile.
    """
    from recommender import io
    from recommender.importers import parse_mapping

    _import_in_background("sklearn.linear_model")
    return io.read_vendor_export(
        data_dir, format=export_format, catalog=catalog,
        columns=None if columns is None else parse_mapping(columns, option="--columns"),
        id_column=id_column,
        stage_columns=None if stage_columns is None else parse_mapping(stage_columns, option="--stage-columns"),
        stage_map=settings.stage_map)


def _import_in_background(module: str) -> None:
    """Start importing ``module`` on a daemon thread, so that its import (about 1.5 s for scikit-learn and
    SciPy) overlaps reading the export, which spends its time in Arrow's CSV parser, outside the GIL.

    Only a third-party module whose import never touches journeyrec's own: no lock order to deadlock on.
    A failure is left to the command's own import to report.
    """
    def load() -> None:
        try:
            importlib.import_module(module)
        except ImportError:
            pass

    threading.Thread(target=load, name=f"import {module}", daemon=True).start()


@cli.command()
@click.argument("old_out", type=DATA_DIR)
@click.argument("new_out", type=DATA_DIR)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write compare.html and compare.csv to this folder (default: print only).")
def compare(old_out, new_out, out) -> None:
    """What changed between two roadmap results, e.g. last quarter's (OLD_OUT) and this quarter's (NEW_OUT).

    Prints each stage metric's change, the roadmap items added, kept and dropped, and for the items
    of the old roadmap the change predicted in their stage against the change observed.

    \b
    Example:
        journeyrec compare results/q2 results/q3 --out results/q2-vs-q3
    """
    from recommender import io, report
    from recommender.compare import compare_runs

    with user_errors():
        comparison = compare_runs(io.read_outputs(old_out), io.read_outputs(new_out))
        if out is not None:
            files = report.render_compare(comparison)
            io.write_outputs(files, out, marker=report.COMPARE_CSV, what="comparison")
    click.echo(report.compare_table(comparison), nl=False)
    if out is not None:
        click.echo(f"wrote {', '.join(sorted(files))} to {out}")


def _run_roadmap(export, data_dir: Path, settings, out: Path, *, budget, catalog, required, forbidden, risk,
                 track: bool, require_tracking: bool) -> None:
    """The roadmap job shared by ``roadmap`` and ``demo``: plan, render, track, write, print."""
    from recommender import io, pipeline, report, tracking
    from recommender.optimize import Limits

    started = _started()
    if export.improvements is not None:
        improvements, source = export.improvements, export.improvements_path
    else:
        improvements, source = io.read_starter_catalog()
    limits = Limits(budget=budget, capacity=settings.capacity, periods=settings.periods,
                    period_capacity={team: tuple(weeks) for team, weeks in settings.period_capacity.items()},
                    stage_min=settings.constraints.get("min_items", {}),
                    stage_max=settings.constraints.get("max_items", {}),
                    require=tuple(required), forbid=tuple(forbidden), time_limit=settings.time_limit, gap=settings.gap)
    plan = pipeline.plan_roadmap(export, settings, catalog=improvements, catalog_source=source, limits=limits,
                                 now=_now(), risk=risk, progress=progress)
    plan = replace(plan, inputs=io.fingerprints([data_dir / name for name in io.export_files(data_dir)]
                                                + ([catalog] if catalog else [])))
    files = report.render_outputs(plan)
    parameters = {**_parameters(settings, data_dir), "budget": budget, "periods": settings.periods, "risk": risk,
                  "require": ";".join(required), "forbid": ";".join(forbidden), "catalog": source}
    run_id = None
    if track:
        progress("recording the MLflow run")
        uri = tracking.tracking_uri(settings.tracking_uri, environ=os.environ, cwd=Path.cwd())
        tracked = tracking.log_run(plan, files, uri=uri, experiment=settings.experiment,
                                   parameters={**parameters, **{f"input:{k}": v for k, v in plan.inputs.items()}},
                                   tags={"journeyrec.command": "roadmap", "journeyrec.data_dir": str(data_dir)},
                                   cwd=Path.cwd())
        if require_tracking:
            tracking.require_tracked(tracked)
        if tracked.problem:
            click.echo(f"warning: tracking failed at {tracked.uri} ({tracked.problem}); the results are written "
                       "without an MLflow run", err=True)
        run_id = tracked.run_id
    files["run.json"] = report.render_run_json(plan, parameters=parameters, versions=_versions(), run_id=run_id,
                                               started_at=started)
    io.write_outputs(files, out)
    click.echo(report.summary_table(plan), nl=False)
    click.echo(f"wrote {len(files)} files to {out}" + (f"; MLflow run {run_id}" if run_id else ""))


def _settings(config_path: Path | None, data_dir: Path, **flags):
    """Config file (explicit, else DATA_DIR/journeyrec.toml) overridden by the flags that were given."""
    from recommender.config import load_settings

    settings = load_settings(config_path, data_dir=data_dir)
    capacity = flags.pop("capacity", None)
    if capacity:
        flags["capacity"] = {**settings.capacity, **capacity}
    return settings.override(**{name: value.lower() if name == "target_stage" and value else value
                                for name, value in flags.items()})


def _parameters(settings, data_dir: Path) -> dict[str, object]:
    return {"data_dir": str(data_dir), "target_stage": settings.target_stage, "objective": settings.objective or "auto",
            "seed": settings.seed, "bootstrap": settings.bootstrap, "stale_after_days": settings.stale_after_days,
            **{f"capacity_{team}": weeks for team, weeks in sorted(settings.capacity.items())}}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("journeyrec", "pandas", "numpy", "scikit-learn", "pulp", "highspy", "mlflow", "click"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def _now():
    import pandas as pd

    return pd.Timestamp.now(tz="UTC")


def _started() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
