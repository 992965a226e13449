"""How journeyrec's time and memory grow with the export: 10^5, 10^6 and 10^7 events (about 9 per account).

For each size it measures, every run in a subprocess of its own so that its peak memory is its own:
the floor (a process that only does ``pandas.read_csv`` of events.csv), ``journeyrec diagnose``,
``journeyrec roadmap --budget 30 --no-tracking``, and pm4py's performance directly-follows graph on
the same events (``format_dataframe`` + ``discover_performance_dfg``, CSV read not counted) for an
outside yardstick. pm4py is no dependency of journeyrec: it lives in a venv of its own,
benchmarks/.pm4py-venv, made on first use. Also ``journeyrec --help`` start-up (median of 5).

Exports are simulated in chunks of accounts (ids kept apart by a chunk prefix) and cached under
``--work``, so a second run measures at once. Targets the lead must meet: 10^6 events diagnose
< 15 s and < 2 GB, roadmap < 60 s; 10^7 completes.

Run: ``.venv/bin/python benchmarks/scale.py --sizes 1e5,1e6 --work /tmp/journeyrec-scale``
(add ``--profile`` for the top cProfile entries of diagnose and roadmap at each size).
"""

import argparse
import io
import json
import multiprocessing
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PM4PY_VENV = HERE / ".pm4py-venv"  # git-ignored
JOURNEYREC = Path(sys.executable).parent / "journeyrec"
CHUNK_ACCOUNTS = 100_000  # accounts simulated at once: about 0.9M events, well under 2 GB
EVENTS_PER_ACCOUNT = 8.6  # what the default scenario gives, to size the first chunk
PROFILE_ENTRIES = 20

READ_FLOOR = """
import sys, pandas
pandas.read_csv(sys.argv[1])
"""
PM4PY_DFG = """
import json, sys, time
import pandas, pm4py
events = pandas.read_csv(sys.argv[1], usecols=["account_id", "timestamp", "stage"])
started = time.perf_counter()
log = pm4py.format_dataframe(events, case_id="account_id", activity_key="stage", timestamp_key="timestamp")
formatted = time.perf_counter()
pm4py.discover_performance_dfg(log)
print(json.dumps({"format_s": formatted - started, "dfg_s": time.perf_counter() - formatted,
                  "pm4py": pm4py.__version__}))
"""


@dataclass(frozen=True)
class Run:
    """One subprocess: wall seconds, peak resident memory (MB), exit status, and what it printed."""

    seconds: float
    peak_mb: float
    status: int
    stdout: str
    stderr: str

    def cell(self, value: float, digits: int = 1) -> str:
        return f"{value:.{digits}f}" if self.status == 0 else f"failed ({self.status}: {self.problem()})"

    def problem(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1][:120] if lines else "no message"


def measure(argv: list[str], *, cwd: Path | None = None) -> Run:
    """Run ``argv``; its own peak RSS comes from wait4, not the cumulative RUSAGE_CHILDREN.

    A forked child starts out counting its parent's pages, so this process stays small: it never
    imports pandas (see :func:`cached_export`).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen
        out.seek(0)
        err.seek(0)
        return Run(seconds, usage.ru_maxrss / 1024, process.returncode, out.read().decode(errors="replace"),
                   err.read().decode(errors="replace"))


def cached_export(events: int, work: Path) -> Path:
    """The export folder of about ``events`` events under ``work``, simulated in a fresh interpreter if missing."""
    folder = work / f"export-{events:.0e}".replace("+", "")
    if not (folder / "done").exists():
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(simulate_into, folder, events).result()
    return folder


def simulate_into(folder: Path, events: int) -> None:
    """Write events.csv and accounts.csv of about ``events`` events (whole accounts), then the marker ``done``."""
    from recommender.simulate import simulate_export

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    written, chunk = 0, 0
    print(f"simulating about {events:,} events in {folder} ...", file=sys.stderr, flush=True)
    while written < events:
        wanted = max(10, min(CHUNK_ACCOUNTS, round((events - written) / EVENTS_PER_ACCOUNT)))
        export = simulate_export(wanted, seed=chunk).export
        prefix = f"c{chunk}-"
        frames = {"events.csv": export.events, "accounts.csv": export.accounts}
        for name, frame in frames.items():
            frame = frame.assign(account_id=prefix + frame["account_id"])
            frame.to_csv(folder / name, mode="a", header=chunk == 0, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        written += len(export.events)
        chunk += 1
    (folder / "done").write_text(f"{written}\n")


def export_size(folder: Path) -> tuple[int, int]:
    """``events, accounts`` of a cached export, counted from its files."""
    events = int((folder / "done").read_text())
    with open(folder / "accounts.csv", "rb") as handle:
        accounts = sum(1 for _ in handle) - 1
    return events, accounts


def pm4py_python() -> tuple[Path | None, str]:
    """The pm4py venv's interpreter, made on first use; None and the reason when pip cannot install it."""
    python = PM4PY_VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import pm4py"], capture_output=True).returncode == 0:
        return python, "ready"
    print(f"installing pm4py into {PM4PY_VENV} (first use) ...", file=sys.stderr, flush=True)
    for step in ([sys.executable, "-m", "venv", PM4PY_VENV], [python, "-m", "pip", "install", "--quiet", "pm4py"]):
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return None, lines[-1] if lines else f"exit {done.returncode}"
    return python, "installed"


def profile(command: list[str], work: Path) -> str:
    """The top cProfile entries (cumulative time) of one journeyrec command."""
    stats = work / "profile.out"
    run = measure([sys.executable, "-m", "cProfile", "-o", stats, JOURNEYREC, *command], cwd=work)
    if run.status != 0:
        return f"failed ({run.status}: {run.problem()})"
    text = io.StringIO()
    pstats.Stats(str(stats), stream=text).sort_stats("cumulative").print_stats(PROFILE_ENTRIES)
    return text.getvalue()


def sizes(text: str) -> list[int]:
    try:
        return [int(float(size)) for size in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not sizes like 1e5,1e6") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=sizes, default=[10**5, 10**6, 10**7], help="events, e.g. 1e5,1e6,1e7")
    parser.add_argument("--work", type=Path, help="folder caching the exports (default: a new temporary folder)")
    parser.add_argument("--skip-pm4py", action="store_true", help="do not time pm4py")
    parser.add_argument("--profile", action="store_true", help="also print cProfile top entries per command")
    options = parser.parse_args()
    work = (options.work or Path(tempfile.mkdtemp(prefix="journeyrec-scale-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)

    python, why = (None, "skipped") if options.skip_pm4py else pm4py_python()
    if python is None and not options.skip_pm4py:
        print(f"pm4py: not available ({why})")
    startup = statistics.median(measure([JOURNEYREC, "--help"]).seconds for _ in range(5))
    print(f"journeyrec --help start-up: {startup:.2f} s (median of 5)\n")

    header = ("events | accounts | CSV read s | diagnose s (×read) | diagnose peak MB | roadmap s | roadmap peak MB "
              "| pm4py DFG s | diagnose/pm4py")
    print(f"| {header} |\n|{'---|' * (header.count('|') + 1)}", flush=True)
    per_event: list[tuple[int, float, float]] = []
    for target in options.sizes:
        folder = cached_export(target, work)
        events, accounts = export_size(folder)
        out = work / "out"
        read = measure([sys.executable, "-c", READ_FLOOR, folder / "events.csv"])
        shutil.rmtree(out, ignore_errors=True)
        diagnose = measure([JOURNEYREC, "diagnose", folder, "--out", out], cwd=work)
        shutil.rmtree(out, ignore_errors=True)
        roadmap = measure([JOURNEYREC, "roadmap", folder, "--budget", "30", "--no-tracking", "--out", out], cwd=work)
        pm4py_cell, ratio_cell = "–", "–"
        if python is not None:
            timed = measure([python, "-c", PM4PY_DFG, folder / "events.csv"])
            if timed.status == 0:
                seconds = sum(value for key, value in json.loads(timed.stdout).items() if key.endswith("_s"))
                pm4py_cell = f"{seconds:.1f}"
                ratio_cell = f"{diagnose.seconds / seconds:.1f}" if diagnose.status == 0 else "–"
            else:
                pm4py_cell = timed.cell(0)
        times = f"{diagnose.cell(diagnose.seconds)}" + (f" ({diagnose.seconds / read.seconds:.1f}×)"
                                                         if diagnose.status == 0 and read.status == 0 else "")
        print(f"| {events:,} | {accounts:,} | {read.cell(read.seconds)} | {times} | {diagnose.cell(diagnose.peak_mb, 0)} "
              f"| {roadmap.cell(roadmap.seconds)} | {roadmap.cell(roadmap.peak_mb, 0)} | {pm4py_cell} | {ratio_cell} |",
              flush=True)
        per_event.append((events, diagnose.seconds if diagnose.status == 0 else float("nan"),
                          roadmap.seconds if roadmap.status == 0 else float("nan")))
        if options.profile:
            for name, command in (("diagnose", ["diagnose", folder, "--out", out]),
                                  ("roadmap", ["roadmap", folder, "--budget", "30", "--no-tracking", "--out", out])):
                shutil.rmtree(out, ignore_errors=True)
                print(f"\ncProfile, {name} at {events:,} events:\n{profile(command, work)}", flush=True)
    print("\nper-event time, ratio to the size before (1.0 = linear):")
    for (small, d_small, r_small), (large, d_large, r_large) in zip(per_event, per_event[1:]):
        print(f"  {small:,} -> {large:,} events: diagnose {(d_large / large) / (d_small / small):.2f}, "
              f"roadmap {(r_large / large) / (r_small / small):.2f}")
    print(f"\nexports cached in {work}")


if __name__ == "__main__":
    main()
