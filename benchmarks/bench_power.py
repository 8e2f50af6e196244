"""Drift detection power against false alarms: shipyard's defaults beside Evidently's and NannyML's.

Synthetic data with known shifts, built here from fixed seeds: 10 features, 6 numeric
(normal, log-normal, exponential, uniform, whole-number Poisson, bimodal) and 4
categorical (a 50/50 binary, a 90/10 binary, 5 levels, 40 levels with a long tail of
rare ones). Per window size (1,000, 10,000 and 100,000 rows), every tool gets the same
reference (20 windows' worth of rows, 10 at 100,000, so NannyML can set its thresholds
from reference chunks as it does) and the same windows:

- **false alarms**: windows drawn from the reference distribution; the share with
  *any* of the 10 features flagged;
- **power**: windows where the normal feature's mean moved ``d`` sd, or the 50/50
  binary moved to ``50 + 50 d`` / ``50 - 50 d`` (Cohen's w = ``d``: the same size of
  change in standard-deviation units), for d in 0.025 … 0.3; the share where that
  feature is flagged.

Tools, each at its defaults, each in its own process (and venv):

- ``shipyard``: ``compare(profile, window, features, DriftConfig())``;
- ``shipyard-tests``: the same with the 0.1 floors set to ~0 (the calibrated tests
  alone), to compare with a tool that flags whatever beats noise;
- ``evidently``: the test DataDriftPreset picks per column by default and its own test
  function (with a reference over 1,000 rows: Wasserstein > 0.1 sd for numbers,
  Jensen-Shannon > 0.1 for categories), called directly per window;
- ``nannyml``: ``UnivariateDriftCalculator`` (Jensen-Shannon for both kinds, alert
  over the reference chunks' mean + 3 sd), ``chunk_size`` = the window size.

    make bench-power
    .bench-drift-venv/bin/python benchmarks/bench_power.py --sizes 1000 --engines shipyard
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NUMERIC = ["normal", "lognormal", "exponential", "uniform", "count", "bimodal"]
CATEGORICAL = ["half", "rare_flag", "five", "long_tail"]
FEATURES = NUMERIC + CATEGORICAL
SHIFTED = {"numeric": "normal", "categorical": "half"}
SHIFTS = [0.025, 0.05, 0.1, 0.15, 0.2, 0.3]
LEVELS = np.array([f"v{i:02d}" for i in range(40)])
TAIL = np.concatenate(
    [[0.5, 0.2, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01, 0.006, 0.004], np.full(30, 0.001)]
)
TAIL = TAIL / TAIL.sum()
# (windows of no drift, windows per shift) by window size: fewer where every tool is slow
WINDOWS = {1000: (200, 40), 10_000: (100, 25), 100_000: (20, 8)}
ENGINES = ["shipyard", "shipyard-tests", "evidently", "nannyml"]
PYTHONS = {
    "evidently": ROOT / ".bench-drift-venv/bin/python",
    "nannyml": ROOT / ".bench-nannyml-venv/bin/python",
}


def frame(rows: int, seed: int, numeric_shift: float = 0.0, categorical_shift: float = 0.0) -> Any:
    """``rows`` rows; the normal feature's mean moved ``numeric_shift`` sd, the 50/50 binary
    moved to ``0.5 + categorical_shift / 2`` (Cohen's w = ``categorical_shift``)."""
    import polars as pl

    rng = np.random.default_rng(seed)
    bimodal = np.where(rng.random(rows) < 0.4, rng.normal(-2, 1, rows), rng.normal(3, 1.5, rows))
    return pl.DataFrame(
        {
            "normal": rng.normal(numeric_shift, 1.0, rows),
            "lognormal": rng.lognormal(3, 1, rows),
            "exponential": rng.exponential(2.0, rows),
            "uniform": rng.uniform(0, 10, rows),
            "count": rng.poisson(2.5, rows).astype(np.int64),
            "bimodal": bimodal,
            "half": np.where(rng.random(rows) < 0.5 + categorical_shift / 2, "yes", "no"),
            "rare_flag": np.where(rng.random(rows) < 0.1, "on", "off"),
            "five": LEVELS[rng.choice(5, rows, p=[0.35, 0.25, 0.2, 0.12, 0.08])],
            "long_tail": LEVELS[rng.choice(40, rows, p=TAIL)],
        }
    )


def reference(rows: int) -> Any:
    chunks = 10 if rows >= 100_000 else 20
    return frame(rows * chunks, seed=rows)


def windows(rows: int) -> dict[str, list[int]]:
    """The seeds of each set of windows (the same for every engine)."""
    calm, per_shift = WINDOWS[rows]
    return {"none": [rows + 1 + i for i in range(calm)], "shift": list(range(per_shift))}


# -- engines: each returns, per set of windows, the flagged features of each window ----------


class Shipyard:
    def __init__(self, ref: Any, rows: int, floors: bool = True) -> None:
        from shipyard.config.schema import DriftConfig
        from shipyard.monitoring.profile import build_profile

        self.profile = build_profile(ref, FEATURES)
        self.settings = DriftConfig() if floors else DriftConfig(wasserstein=1e-9, cohen_w=1e-9)

    def flagged(self, batch: list[Any], columns: list[str]) -> list[set[str]]:
        from shipyard.monitoring.drift import compare

        # every feature is judged together, so the any-feature level is shared by all ten
        return [
            set(compare(self.profile, w, FEATURES, self.settings).drifted) & set(columns)
            for w in batch
        ]


class Evidently:
    """Evidently's default drift test per column: its own choice (``get_stattest`` with no
    method: over 1,000 reference rows Wasserstein for numbers, Jensen-Shannon for
    categories) and its own test functions at their default thresholds, as its
    DataDriftPreset picks them; called directly, since a Report per window costs seconds."""

    def __init__(self, ref: Any, rows: int) -> None:
        self.ref = ref.to_pandas()

    def flagged(self, batch: list[Any], columns: list[str]) -> list[set[str]]:
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.legacy.core import ColumnType

        out = []
        for window in batch:
            current = window.to_pandas()
            found = set()
            for column in columns:
                kind = ColumnType.Numerical if column in NUMERIC else ColumnType.Categorical
                ref, cur = self.ref[column], current[column]
                test = get_stattest(ref, cur, kind, None)
                if test(ref, cur, kind, None).drifted:
                    found.add(column)
            out.append(found)
        return out


class NannyML:
    def __init__(self, ref: Any, rows: int) -> None:
        import nannyml as nml

        self.rows = rows
        self.calculators = {}
        for columns in (FEATURES, [SHIFTED["numeric"]], [SHIFTED["categorical"]]):
            calculator = nml.UnivariateDriftCalculator(
                column_names=columns,
                treat_as_categorical=[c for c in columns if c in CATEGORICAL],
                chunk_size=rows,
            )
            calculator.fit(ref.select(columns).to_pandas())
            self.calculators[tuple(columns)] = calculator

    def flagged(self, batch: list[Any], columns: list[str]) -> list[set[str]]:
        import pandas as pd

        calculator = self.calculators[tuple(columns)]
        analysis = pd.concat([w.select(columns).to_pandas() for w in batch], ignore_index=True)
        result = calculator.calculate(analysis).filter(period="analysis").to_df()
        out: list[set[str]] = [set() for _ in batch]
        for column in columns:
            alerts = result[(column, "jensen_shannon", "alert")].to_numpy()
            for index, alert in enumerate(alerts[: len(batch)]):
                if alert:
                    out[index].add(column)
        return out


def run_engine(engine: str, sizes: list[int]) -> dict[str, Any]:
    make = {
        "shipyard": lambda r, n: Shipyard(r, n),
        "shipyard-tests": lambda r, n: Shipyard(r, n, floors=False),
        "evidently": Evidently,
        "nannyml": NannyML,
    }[engine]
    results: dict[str, Any] = {}
    for rows in sizes:
        started = time.perf_counter()
        tool = make(reference(rows), rows)
        seeds = windows(rows)
        calm = tool.flagged([frame(rows, s) for s in seeds["none"]], FEATURES)
        power: dict[str, dict[str, float]] = {"numeric": {}, "categorical": {}}
        for kind, column in SHIFTED.items():
            for shift in SHIFTS:
                key = "numeric_shift" if kind == "numeric" else "categorical_shift"
                batch = [frame(rows, 10_000 + s, **{key: shift}) for s in seeds["shift"]]
                hits = tool.flagged(batch, [column])
                power[kind][str(shift)] = sum(column in h for h in hits) / len(batch)
        results[str(rows)] = {
            "false_alarm": sum(bool(f) for f in calm) / len(calm),
            "calm_windows": len(calm),
            "shift_windows": len(seeds["shift"]),
            "power": power,
            "seconds": round(time.perf_counter() - started, 1),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--engine", help=argparse.SUPPRESS)  # internal: run one engine
    parser.add_argument("--json", dest="json_out", help="Also write the results to this file.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.engine:
        print(json.dumps(run_engine(args.engine, sizes)))
        return
    print(f"drift power: 10 features (6 numeric, 4 categorical); machine: {os.cpu_count()} cores")
    print("shifts: 'normal' mean +d sd; 'half' 50/50 -> (50+50d)/(50-50d), Cohen's w = d\n")
    found: dict[str, Any] = {}
    running = {}
    for engine in args.engines.split(","):  # one process per tool, side by side
        python = PYTHONS.get(engine, Path(sys.executable))
        if not python.exists():
            print(f"{engine}: skipped, {python} is missing (make bench-power builds it)")
            continue
        running[engine] = subprocess.Popen(
            [str(python), __file__, "--engine", engine, "--sizes", args.sizes],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )  # fmt: skip
    for engine, proc in running.items():
        out, err = proc.communicate()
        if proc.returncode != 0:
            print(f"{engine} FAILED: {err.strip().splitlines()[-3:]}")
            continue
        found[engine] = json.loads(out.strip().splitlines()[-1])
    header = (
        "| rows | tool | false alarms (any of 10) | " + " | ".join(f"{s:g}" for s in SHIFTS) + " |"
    )
    for kind in ("numeric", "categorical"):
        print(
            f"\ndetection rate of a {kind} change of d sd ({'mean shift' if kind == 'numeric' else 'Cohen w'}):"
        )
        print(header)
        print("|" + " --- |" * (3 + len(SHIFTS)))
        for rows in sizes:
            for engine, result in found.items():
                r = result[str(rows)]
                cells = " | ".join(f"{r['power'][kind][str(s)]:.0%}" for s in SHIFTS)
                far = f"{r['false_alarm']:.1%} of {r['calm_windows']}"
                print(f"| {rows:,} | {engine} | {far} | {cells} |")
    print("\nwindows per shift:", {k: v[1] for k, v in WINDOWS.items() if k in sizes})
    print("seconds:", {e: {k: v["seconds"] for k, v in r.items()} for e, r in found.items()})
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
