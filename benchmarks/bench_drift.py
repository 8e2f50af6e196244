"""Drift speed and quality: shipyard beside Evidently's DataDriftPreset and a plain numpy/scipy floor.

The workload of ../shared/WORKLOADS.md: 25 features (20 numeric, 5 categorical), a
reference and a current side of --rows rows each (1,000,000 by default), drift
planted in 6 features. Right answer: those 6 flagged, the other 19 not.

Engines, each in its own process on the same cached Parquet files, compute only
(the data is loaded before the clock starts), median of --repeat runs, peak memory
above what the loaded data already used (Linux VmHWM, reset before the run):

- ``shipyard-profile``: the stored reference profile (JSON, as registration keeps
  it) against the raw current window: what ``shipyard monitor`` does;
- ``shipyard-profile-1t``: the same on one thread (shipyard uses two by default);
- ``shipyard-raw``: both sides raw (the reference profiled inside the clock);
- ``floor``: plain numpy/scipy on both raw sides, the same statistics, exact (KS
  with its p-value, PSI, Wasserstein for numbers; chi-square, PSI, Jensen-Shannon
  for categories; category counts with polars' hash-based value_counts), one thread;
- ``evidently``: Report([DataDriftPreset()]) on pandas frames.

Then quality: 100 windows of 10,000 rows drawn from the reference distribution
(no drift) against the 1M-row reference profile; the share of feature-windows
flagged must stay under 5%.

    make bench-drift                       # a venv with Evidently, then this
    .bench-drift-venv/bin/python benchmarks/bench_drift.py --rows 100000 --engines shipyard-profile,floor
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import workload  # the benchmark folder is not a package: found through sys.path above
from memory import reset_peak, rss_kb

ENGINES = ["shipyard-profile", "shipyard-profile-1t", "shipyard-raw", "floor", "evidently"]
FEATURES = [*workload.NUMERIC, *workload.CATEGORICAL]


# -- engines ---------------------------------------------------------------------------


def shipyard_profile(reference: Any, current: Any, state: Any) -> set[str]:
    from shipyard.config.schema import DriftConfig
    from shipyard.monitoring.drift import compare
    from shipyard.monitoring.profile import Profile

    profile = Profile.from_dict(json.loads(Path(state).read_text()))  # read inside the clock
    return set(compare(profile, current, FEATURES, DriftConfig()).drifted)


def shipyard_raw(reference: Any, current: Any, _state: Any) -> set[str]:
    from shipyard.config.schema import DriftConfig
    from shipyard.monitoring.drift import compare
    from shipyard.monitoring.profile import build_profile

    profile = build_profile(reference, FEATURES)
    return set(compare(profile, current, FEATURES, DriftConfig()).drifted)


def floor(reference: Any, current: Any, _state: Any) -> set[str]:
    """The same statistics and decisions, written plainly and exactly on both raw sides.

    Per numeric column: sort both sides, merge them (a stable argsort of two sorted
    runs is a linear merge), read both empirical CDFs at every value from cumulative
    counts: KS (and its asymptotic p-value) and Wasserstein exactly; PSI over the
    reference's deciles. Per categorical column: polars' hash-based value_counts,
    then chi-square, PSI and Jensen-Shannon with scipy. One thread.
    """
    import numpy as np
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    flagged = set()
    for column in workload.NUMERIC:
        a = np.sort(reference.get_column(column).drop_nulls().to_numpy())
        b = np.sort(current.get_column(column).drop_nulls().to_numpy())
        both = np.concatenate([a, b])
        order = np.argsort(both, kind="stable")
        values = both[order]
        from_a = order < a.size
        cdf_a = np.cumsum(from_a) / a.size
        cdf_b = np.cumsum(~from_a) / b.size
        last = np.append(values[1:] != values[:-1], True)  # the CDF after each tie group
        gap = np.abs(cdf_a - cdf_b)
        ks = float(gap[last].max())
        stats.kstwobign.sf(ks * np.sqrt(a.size * b.size / (a.size + b.size)))  # p-value
        wasserstein = float(np.sum(gap[:-1] * np.diff(values)))
        deciles = a[(np.linspace(0.1, 0.9, 9) * (a.size - 1)).astype(int)]
        p = np.diff(np.concatenate([[0], np.searchsorted(a, deciles, "right"), [a.size]])) / a.size
        q = np.diff(np.concatenate([[0], np.searchsorted(b, deciles, "right"), [b.size]])) / b.size
        p, q = np.clip(p, 1e-4, None), np.clip(q, 1e-4, None)
        float(np.sum((q - p) * np.log(q / p)))  # PSI
        if wasserstein / a.std() > 0.1:
            flagged.add(column)
    for column in workload.CATEGORICAL:
        r = dict(reference.get_column(column).drop_nulls().value_counts().iter_rows())
        c = dict(current.get_column(column).drop_nulls().value_counts().iter_rows())
        levels = sorted(set(r) | set(c))
        rv = np.array([r.get(k, 0) for k in levels], dtype=float)
        cv = np.array([c.get(k, 0) for k in levels], dtype=float)
        stats.chi2_contingency(np.vstack([rv, cv]), correction=False)
        p, q = np.clip(rv / rv.sum(), 1e-4, None), np.clip(cv / cv.sum(), 1e-4, None)
        float(np.sum((q - p) * np.log(q / p)))  # PSI
        if jensenshannon(rv / rv.sum(), cv / cv.sum(), base=2) > 0.1:
            flagged.add(column)
    return flagged


def shipyard_profile_one_thread(reference: Any, current: Any, state: Any) -> set[str]:
    from shipyard.config.schema import DriftConfig
    from shipyard.monitoring.drift import compare
    from shipyard.monitoring.profile import Profile

    profile = Profile.from_dict(json.loads(Path(state).read_text()))
    return set(compare(profile, current, FEATURES, DriftConfig(), threads=1).drifted)


def evidently_prepare() -> Any:
    from evidently import DataDefinition

    return DataDefinition(
        numerical_columns=workload.NUMERIC, categorical_columns=workload.CATEGORICAL
    )


def evidently(reference: Any, current: Any, definition: Any) -> set[str]:
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    report = Report([DataDriftPreset(columns=FEATURES)])
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    flagged = set()
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold = metric["value"], config["threshold"]
            p_value = "p_value" in config["method"]
            if (value < threshold) if p_value else (value > threshold):
                flagged.add(config["column"])
    return flagged


ENGINE: dict[str, tuple[Callable[[], Any] | None, Callable[[Any, Any, Any], set[str]]]] = {
    "shipyard-profile": (None, shipyard_profile),
    "shipyard-profile-1t": (None, shipyard_profile_one_thread),
    "shipyard-raw": (None, shipyard_raw),
    "floor": (None, floor),
    "evidently": (evidently_prepare, evidently),
}


def run_engine(engine: str, ref_path: Path, cur_path: Path, repeat: int) -> dict[str, Any]:
    import polars as pl

    reference, current = pl.read_parquet(ref_path), pl.read_parquet(cur_path)
    current_mb = current.select(FEATURES).estimated_size() / 2**20
    prepare, judge = ENGINE[engine]
    state: Any = prepare() if prepare else None
    if engine.startswith("shipyard-profile"):
        from shipyard.monitoring.profile import build_profile

        path = Path(tempfile.mkdtemp()) / "profile.json"
        path.write_text(json.dumps(build_profile(reference, FEATURES).as_dict()))
        state, reference = path, None  # only the current window is in memory
    if engine == "evidently":
        reference, current = reference.to_pandas(), current.to_pandas()
    times, flagged = [], set()
    baseline = rss_kb("VmRSS")
    reset_peak()
    for _ in range(repeat):
        started = time.perf_counter()
        flagged = judge(reference, current, state)
        times.append(time.perf_counter() - started)
    return {
        "engine": engine,
        "seconds": statistics.median(times),
        "runs": [round(t, 3) for t in times],
        "peak_extra_mb": (rss_kb("VmHWM") - baseline) / 1024,
        "current_mb": current_mb,
        "flagged": sorted(flagged),
    }


def no_drift_windows(rows: int, windows: int, size: int) -> dict[str, Any]:
    """Share of feature-windows flagged when nothing drifted (must be under 5%)."""
    import polars as pl

    from shipyard.config.schema import DriftConfig
    from shipyard.monitoring.drift import compare
    from shipyard.monitoring.profile import build_profile

    ref_path, _ = workload.cached_drift_pair(rows)
    profile = build_profile(pl.read_parquet(ref_path), FEATURES)
    flags = 0
    per_feature: dict[str, int] = {}
    for index in range(windows):
        window = workload.make_frame(size, 1000 + index, drifted=False)
        for name in compare(profile, window, FEATURES, DriftConfig()).drifted:
            flags += 1
            per_feature[name] = per_feature.get(name, 0) + 1
    return {
        "windows": windows,
        "rows": size,
        "flagged": flags,
        "share": flags / (windows * len(FEATURES)),
        "per_feature": per_feature,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument(
        "--windows", type=int, default=100, help="No-drift windows for the quality check."
    )
    parser.add_argument("--engine", help=argparse.SUPPRESS)  # internal: run one engine
    parser.add_argument("--json", dest="json_out", help="Also write the results to this file.")
    args = parser.parse_args()
    ref_path, cur_path = workload.cached_drift_pair(args.rows)
    if args.engine:
        print(json.dumps(run_engine(args.engine, ref_path, cur_path, args.repeat)))
        return

    print(
        f"drift workload: {args.rows:,} rows a side, 25 features, 6 drifted ({', '.join(sorted(workload.DRIFTED))})"
    )
    print(f"machine: {os.cpu_count()} cores; each engine in its own process; compute only\n")
    results = []
    for engine in args.engines.split(","):
        repeat = 1 if engine == "evidently" and args.rows >= 1_000_000 else args.repeat
        proc = subprocess.run(
            [sys.executable, __file__, "--engine", engine, "--rows", str(args.rows), "--repeat", str(repeat)],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            print(f"{engine:17s} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        flagged = set(result["flagged"])
        result["right"] = len(flagged & workload.DRIFTED)
        result["false"] = sorted(flagged - workload.DRIFTED)
        results.append(result)
        print(
            f"{engine:17s} {result['seconds']:8.3f} s (median of {len(result['runs'])})  "
            f"peak +{result['peak_extra_mb']:6.0f} MB ({result['peak_extra_mb'] / result['current_mb']:.2f}x the current window's "
            f"{result['current_mb']:.0f} MB)  drifted found {result['right']}/6, false {len(result['false'])}/19"
            + (f" {result['false']}" if result["false"] else "")
        )
    by = {r["engine"]: r for r in results}
    print("\ntargets:")
    checks = []
    if "evidently" in by and "shipyard-profile" in by:
        ratio = by["evidently"]["seconds"] / by["shipyard-profile"]["seconds"]
        checks.append((f"at least 30x faster than Evidently: {ratio:.0f}x", ratio >= 30))
    if "floor" in by and "shipyard-raw" in by:
        ratio = by["shipyard-raw"]["seconds"] / by["floor"]["seconds"]
        checks.append((f"both sides raw within 1.5x of the floor: {ratio:.2f}x", ratio <= 1.5))
    if "floor" in by and "shipyard-profile" in by:
        ratio = by["floor"]["seconds"] / by["shipyard-profile"]["seconds"]
        checks.append((f"stored profile faster than the floor: {ratio:.1f}x faster", ratio > 1))
    if "shipyard-profile" in by:
        r = by["shipyard-profile"]
        share = r["peak_extra_mb"] / r["current_mb"]
        checks.append((f"peak memory under 2x the current window: {share:.2f}x", share < 2))
        checks.append(
            (
                f"6/6 drifted and 0/19 false: {r['right']}/6, {len(r['false'])}/19",
                r["right"] == 6 and not r["false"],
            )
        )
    quality = no_drift_windows(args.rows, args.windows, 10_000) if args.windows else None
    if quality:
        checks.append(
            (f"no-drift windows ({quality['windows']} x {quality['rows']:,} rows): "
             f"{quality['share']:.2%} of feature-windows flagged (< 5%)", quality["share"] < 0.05)
        )  # fmt: skip
    for label, ok in checks:
        print(f"  {'met ' if ok else 'MISSED'} {label}")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"results": results, "quality": quality}, indent=2)
        )


if __name__ == "__main__":
    main()
