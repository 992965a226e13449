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
    """One subprocess: wall and CPU (user + system) seconds, peak resident memory (MB), exit status, output."""

    seconds: float
    cpu_seconds: float
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
        return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def cached_export(events: int, work: Path) -> Path:
    """The export folder of about ``events`` events under ``work``, simulated in a fresh interpreter if missing."""
    folder = work / f"export-{events:.0e}".replace("+", "")
    if not (folder / "done").exists():
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(simulate_into, folder, events).result()
    return folder


def simulate_into(folder: Path, events: int) -> None:
    """Write events.csv and accounts.csv of about ``events`` events (whole accounts), then the marker ``done``."""
    from recommender.simulate import simulate_export  # here, in the spawned child: the measuring process stays small

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


def profile(command: list, work: Path) -> str:
    """The top cProfile entries (cumulative time) of one journeyrec command."""
    stats = work / "profile.out"
    run = measure([sys.executable, "-m", "cProfile", "-o", stats, JOURNEYREC, *command], cwd=work)
    if run.status != 0:
        return f"failed ({run.status}: {run.problem()})"
    text = io.StringIO()
    pstats.Stats(str(stats), stream=text).sort_stats("cumulative").print_stats(PROFILE_ENTRIES)
    return text.getvalue()


def commands(folder: Path, out: Path) -> dict[str, list]:
    """The two journeyrec commands measured, by name, on ``folder`` writing to ``out``."""
    return {"diagnose": ["diagnose", folder, "--out", out],
            "roadmap": ["roadmap", folder, "--budget", "30", "--no-tracking", "--out", out]}


@dataclass(frozen=True)
class Size:
    """Every measurement at one export size."""

    events: int
    accounts: int
    read: Run
    runs: dict[str, Run]  # by command name
    pm4py: float | str  # seconds, or why not

    def row(self) -> str:
        diagnose, roadmap = self.runs["diagnose"], self.runs["roadmap"]
        times = diagnose.cell(diagnose.seconds)
        if diagnose.status == 0 and self.read.status == 0:
            times += f" ({diagnose.seconds / self.read.seconds:.1f}×)"
        timed = isinstance(self.pm4py, float)
        ratio = f"{diagnose.seconds / self.pm4py:.1f}" if timed and diagnose.status == 0 else "–"
        return (f"| {self.events:,} | {self.accounts:,} | {self.read.cell(self.read.seconds)} | {times} "
                f"| {diagnose.cell(diagnose.peak_mb, 0)} | {roadmap.cell(roadmap.seconds)} "
                f"| {roadmap.cell(roadmap.peak_mb, 0)} | {f'{self.pm4py:.1f}' if timed else self.pm4py} | {ratio} |")

    def cpu_row(self) -> str:
        return (f"| {self.events:,} | {self.read.cpu_seconds:.1f} | {self.runs['diagnose'].cpu_seconds:.1f} "
                f"| {self.runs['roadmap'].cpu_seconds:.1f} |")

    def per_event(self, name: str) -> float:
        run = self.runs[name]
        return run.seconds / self.events if run.status == 0 else float("nan")


def measure_size(target: int, work: Path, pm4py: Path | None) -> Size:
    """Read floor, diagnose, roadmap and pm4py on the cached export of about ``target`` events."""
    folder = cached_export(target, work)
    events, accounts = export_size(folder)
    read = measure([sys.executable, "-c", READ_FLOOR, folder / "events.csv"])
    runs = {}
    for name, command in commands(folder, work / "out").items():
        shutil.rmtree(work / "out", ignore_errors=True)
        runs[name] = measure([JOURNEYREC, *command], cwd=work)
        print(f"{events:,} events: {name} {runs[name].seconds:.1f} s, {runs[name].peak_mb:.0f} MB, "
              f"exit {runs[name].status}", file=sys.stderr, flush=True)
    return Size(events, accounts, read, runs, "–" if pm4py is None else time_pm4py(pm4py, folder))


def time_pm4py(python: Path, folder: Path) -> float | str:
    """Seconds pm4py takes to format the events and discover the performance DFG, or why it failed."""
    timed = measure([python, "-c", PM4PY_DFG, folder / "events.csv"])
    if timed.status != 0:
        return timed.cell(0)
    phases = json.loads(timed.stdout.splitlines()[-1])
    return phases["format_s"] + phases["dfg_s"]


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

    pm4py = None
    if not options.skip_pm4py:
        pm4py, why = pm4py_python()
        if pm4py is None:
            print(f"pm4py: not available ({why})")
    startup = statistics.median(measure([JOURNEYREC, "--help"]).seconds for _ in range(5))
    print(f"journeyrec --help start-up: {startup:.2f} s (median of 5)\n")

    header = ("events | accounts | CSV read s | diagnose s (×read) | diagnose peak MB | roadmap s | roadmap peak MB "
              "| pm4py DFG s | diagnose/pm4py")
    print(f"| {header} |\n|{'---|' * (header.count('|') + 1)}", flush=True)
    measured = []
    for target in options.sizes:
        measured.append(measure_size(target, work, pm4py))
        print(measured[-1].row(), flush=True)
        if options.profile:
            for name, command in commands(cached_export(target, work), work / "out").items():
                shutil.rmtree(work / "out", ignore_errors=True)
                print(f"\ncProfile, {name} at {measured[-1].events:,} events:\n{profile(command, work)}", flush=True)
    print("\nCPU seconds (user + system) of the same runs; on a busy machine they move less than wall time\n"
          "| events | CSV read | diagnose | roadmap |\n|---|---|---|---|")
    print(*(size.cpu_row() for size in measured), sep="\n")
    print("\nper-event wall time against the size before (1.0 = linear; start-up weighs on the smallest):")
    for small, large in zip(measured, measured[1:]):
        print(f"  {small.events:,} -> {large.events:,} events: " + ", ".join(
            f"{name} {large.per_event(name) / small.per_event(name):.2f}" for name in ("diagnose", "roadmap")))
    print(f"\nexports cached in {work}")


if __name__ == "__main__":
    main()
