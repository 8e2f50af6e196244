"""Validation speed: shipyard beside Great Expectations, pandera and plain pandas/polars.

The workload of ../shared/WORKLOADS.md: 1,000,000 rows x 25 columns (20 numeric, 5
categorical, plus ``id``), 1% nulls, 0.5% bad rows in four kinds; ~25 checks (types,
null fraction <= 2% per feature column, numeric ranges, category sets, ``id`` unique).
Right answer: the planted rows and the rows whose ids they copied, 4 checks failing.

Each engine runs in a fresh process on the same cached Parquet file: compute only
(the data is loaded before the clock starts), the median of --repeat runs, and the
peak memory above what the loaded data already used (Linux VmHWM, reset before the
run). Every engine's answer is checked against the planted rows.

    make bench                       # sets up .bench-venv with the competitors, runs all
    .bench-venv/bin/python benchmarks/bench_validate.py --rows 100000 --engines shipyard,polars
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import workload  # the benchmark folder is not a package: found through sys.path above
from memory import reset_peak, rss_kb

ENGINES = ["shipyard", "polars", "pandas", "pandera-polars", "pandera-pandas", "great-expectations"]
MAX_NULL = 0.02


# -- one engine, in its own process ----------------------------------------------


def run_engine(engine: str, path: Path, repeat: int) -> dict[str, Any]:
    import polars as pl

    frame = pl.read_parquet(path)
    data: Any = frame
    if engine in ("pandas", "pandera-pandas", "great-expectations"):
        data = frame.to_pandas()
    size_mb = frame.estimated_size() / 2**20
    prepare, validate = IMPLEMENTATIONS[engine]
    state = prepare()
    times, result = [], None
    baseline = rss_kb("VmRSS")
    reset_peak()
    for _ in range(repeat):
        started = time.perf_counter()
        result = validate(data, state)
        times.append(time.perf_counter() - started)
    peak_mb = (rss_kb("VmHWM") - baseline) / 1024
    rows, failing = result if result else (set(), set())
    return {
        "engine": engine,
        "seconds": statistics.median(times),
        "runs": [round(t, 3) for t in times],
        "rows_per_s": frame.height / statistics.median(times),
        "peak_extra_mb": peak_mb,
        "data_mb": size_mb,
        "quarantined_rows": sorted(rows),
        "failing_checks": sorted(failing),
    }


# -- the checks, once per engine ------------------------------------------------------

RANGES = workload.ranges()
LEVELS = {c: workload.levels(j) for j, c in enumerate(workload.CATEGORICAL)}
FEATURES = [*workload.NUMERIC, *workload.CATEGORICAL]


def shipyard_prepare() -> Any:
    from shipyard.config import DatasetConfig

    columns: dict[str, Any] = {"id": {"type": "int", "unique": True}}
    for column, (low, high) in RANGES.items():
        columns[column] = {"type": "float", "min": low, "max": high, "max_null_fraction": MAX_NULL}
    for column, levels in LEVELS.items():
        columns[column] = {"type": "category", "categories": levels, "max_null_fraction": MAX_NULL}
    return DatasetConfig.model_validate({"key": "id", "columns": columns})


def shipyard_validate(frame: Any, dataset: Any) -> tuple[set[int], set[str]]:
    from shipyard.data.sources import read_source
    from shipyard.data.validate import validate

    outcome = validate(read_source(frame), dataset)
    rows = {r - 1 for r in outcome.quarantine["_row"].to_list()}  # _row is 1-based
    failing = {c.name for c in outcome.report.checks if not c.passed}
    assert outcome.report.accepted + outcome.report.quarantined == frame.height
    return rows, failing


def polars_validate(frame: Any, _state: Any) -> tuple[set[int], set[str]]:
    import polars as pl

    masks = [
        ((pl.col(c) < low) | (pl.col(c) > high)).fill_null(False).alias(f"range:{c}")
        for c, (low, high) in RANGES.items()
    ]
    masks += [
        (pl.col(c).is_not_null() & ~pl.col(c).is_in(levels)).alias(f"category:{c}")
        for c, levels in LEVELS.items()
    ]
    masks.append(pl.col("id").is_duplicated().alias("unique:id"))
    fails = frame.select(masks)
    counts = fails.sum().row(0, named=True)
    rows = fails.select(pl.any_horizontal(pl.all()).arg_true()).to_series().to_list()
    nulls = frame.select(pl.col(FEATURES).null_count()).row(0, named=True)
    dtypes_ok = (
        all(frame.schema[c] == pl.Float64 for c in RANGES) and frame.schema["id"] == pl.Int64
    )
    failing = {name for name, n in counts.items() if n}
    failing |= {f"null_rate:{c}" for c, n in nulls.items() if n / frame.height > MAX_NULL}
    if not dtypes_ok:
        failing.add("types")
    return set(rows), failing


def pandas_validate(frame: Any, _state: Any) -> tuple[set[int], set[str]]:
    import numpy as np
    import pandas as pd

    any_fail = np.zeros(len(frame), dtype=bool)
    failing = set()
    for column, (low, high) in RANGES.items():
        values = frame[column]
        bad = ((values < low) | (values > high)).to_numpy()
        if bad.any():
            failing.add(f"range:{column}")
        any_fail |= bad
    for column, levels in LEVELS.items():
        values = frame[column]
        bad = (values.notna() & ~values.isin(levels)).to_numpy()
        if bad.any():
            failing.add(f"category:{column}")
        any_fail |= bad
    dup = frame["id"].duplicated(keep=False).to_numpy()
    if dup.any():
        failing.add("unique:id")
    any_fail |= dup
    for column in FEATURES:
        if frame[column].isna().mean() > MAX_NULL:
            failing.add(f"null_rate:{column}")
    if not all(pd.api.types.is_float_dtype(frame[c]) for c in RANGES):
        failing.add("types")
    return set(np.flatnonzero(any_fail).tolist()), failing


def pandera_polars_prepare() -> Any:
    import pandera.polars as pa
    import polars as pl

    def null_share(data: Any) -> Any:
        return data.lazyframe.select(pl.col(data.key).is_null().mean() <= MAX_NULL)

    columns = {"id": pa.Column(pl.Int64, unique=True)}
    for column, (low, high) in RANGES.items():
        columns[column] = pa.Column(
            pl.Float64, nullable=True, checks=[pa.Check.in_range(low, high), pa.Check(null_share)]
        )
    for column, levels in LEVELS.items():
        columns[column] = pa.Column(
            pl.String, nullable=True, checks=[pa.Check.isin(levels), pa.Check(null_share)]
        )
    return pa.DataFrameSchema(columns)


def pandera_pandas_prepare() -> Any:
    import pandera.pandas as pa

    def null_share(series: Any) -> bool:
        return bool(series.isna().mean() <= MAX_NULL)

    columns = {"id": pa.Column("int64", unique=True)}
    for column, (low, high) in RANGES.items():
        columns[column] = pa.Column(
            "float64",
            nullable=True,
            checks=[pa.Check.in_range(low, high), pa.Check(null_share, element_wise=False)],
        )
    for column, levels in LEVELS.items():
        columns[column] = pa.Column(
            "object",
            nullable=True,
            checks=[pa.Check.isin(levels), pa.Check(null_share, element_wise=False)],
        )
    return pa.DataFrameSchema(columns)


def pandera_validate(frame: Any, schema: Any) -> tuple[set[int], set[str]]:
    import pandera.errors

    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        cases = cases if hasattr(cases, "to_pandas") is False else cases.to_pandas()
        rows = {int(i) for i in cases["index"].dropna().tolist()}
        failing = {
            f"{row['check']}:{row['column']}"
            for _, row in cases[["check", "column"]].drop_duplicates().iterrows()
        }
        return rows, failing
    return set(), set()


def ge_prepare() -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset("validation")
    batch_definition = asset.add_batch_definition_whole_dataframe("all")
    suite = gx.ExpectationSuite(name="validation")
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="id"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeOfType(column="id", type_="int64"))
    for column, (low, high) in RANGES.items():
        suite.add_expectation(gxe.ExpectColumnValuesToBeOfType(column=column, type_="float64"))
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)
        )
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1 - MAX_NULL))
    for column, levels in LEVELS.items():
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=levels))
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1 - MAX_NULL))
    suite = context.suites.add(suite)
    return batch_definition, suite


def ge_validate(frame: Any, state: Any) -> tuple[set[int], set[str]]:
    batch_definition, suite = state
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    rows: set[int] = set()
    failing = set()
    for outcome in result.results:
        if outcome.success:
            continue
        config = outcome.expectation_config
        failing.add(f"{config.type}:{config.kwargs.get('column')}")
        rows |= {int(i) for i in outcome.result.get("unexpected_index_list") or []}
    return rows, failing


IMPLEMENTATIONS: dict[str, tuple[Callable[[], Any], Callable[[Any, Any], Any]]] = {
    "shipyard": (shipyard_prepare, shipyard_validate),
    "polars": (lambda: None, polars_validate),
    "pandas": (lambda: None, pandas_validate),
    "pandera-polars": (pandera_polars_prepare, pandera_validate),
    "pandera-pandas": (pandera_pandas_prepare, pandera_validate),
    "great-expectations": (ge_prepare, ge_validate),
}


# -- the run ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--engine", help=argparse.SUPPRESS)  # internal: run one engine
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--json", dest="json_out", help="Also write the results to this file.")
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(run_engine(args.engine, Path(args.data), args.repeat)))
        return

    path, expected = workload.cached_validation_set(args.rows)
    print(
        f"validation workload: {args.rows:,} rows x 26 columns, {len(expected):,} rows to quarantine"
    )
    print(
        f"machine: {os.cpu_count()} cores; each engine in its own process; median of {args.repeat}\n"
    )
    results = []
    for engine in args.engines.split(","):
        repeat = 1 if engine == "great-expectations" and args.rows >= 1_000_000 else args.repeat
        proc = subprocess.run(
            [sys.executable, __file__, "--engine", engine, "--data", str(path), "--repeat", str(repeat)],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            print(f"{engine:20s} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        found = set(result.pop("quarantined_rows"))
        result["correct_rows"] = found == expected
        result["missed"], result["extra"] = len(expected - found), len(found - expected)
        results.append(result)
        print(
            f"{engine:20s} {result['seconds']:7.3f} s  {result['rows_per_s'] / 1e6:6.2f} M rows/s  "
            f"peak +{result['peak_extra_mb']:6.0f} MB ({result['peak_extra_mb'] / result['data_mb']:.1f}x data)  "
            f"rows right: {'yes' if result['correct_rows'] else 'NO'} (missed {result['missed']}, extra {result['extra']})  "
            f"failing checks: {len(result['failing_checks'])}"
        )
    by = {r["engine"]: r for r in results}
    if "shipyard" in by:
        ours = by["shipyard"]
        print("\ntargets (shipyard):")
        for engine, need, label in [
            ("great-expectations", 30.0, "at least 30x faster than Great Expectations"),
            ("pandera-polars", 1.0, "no slower than pandera on polars"),
        ]:
            if engine in by:
                ratio = by[engine]["seconds"] / ours["seconds"]
                print(f"  {label}: {ratio:.1f}x {'ok' if ratio >= need else 'MISSED'}")
        if "polars" in by:
            ratio = ours["seconds"] / by["polars"]["seconds"]
            print(
                f"  within 1.5x of the plain polars floor: {ratio:.2f}x {'ok' if ratio <= 1.5 else 'MISSED'}"
            )
        mem = ours["peak_extra_mb"] / ours["data_mb"]
        print(f"  peak memory under 3x the data: {mem:.2f}x {'ok' if mem < 3 else 'MISSED'}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
