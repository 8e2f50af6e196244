"""Evaluation speed: 100,000 rows through every check, for a HistGradientBoosting model.

The serving model of ../shared/WORKLOADS.md (make_classification, 20 features,
HistGradientBoostingClassifier(random_state=0)), with a categorical ``segment`` to
slice by. The spec: all binary metrics (accuracy … ROC/PR AUC, log loss, Brier, ECE),
two gates, the comparison with a champion (a LogisticRegression, evaluated on the same
rows), slices by segment and by binned feature, a 1,000-case golden set, invariance
by values and by shift, a directional test, minimum functionality, and latency
(200 single rows, 50 batches of 100). Target (issue #5): under 10 s on 2 cores.

    .venv/bin/python benchmarks/bench_evaluate.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd

SPEC = """\
project: bench
datasets:
  d:
    target: y
    columns:
      {columns}
      segment: {{type: category, categories: [s0, s1, s2, s3, s4, s5, s6, s7, s8, s9]}}
      y: {{type: bool}}
models:
  m:
    owner: {{name: bench, email: bench@example.com}}
    task: binary_classification
    dataset: d
    features: [{features}]
    latency_budget_ms: 50
    gates:
      roc_auc: {{min: 0.8}}
      log_loss: {{max: 0.6}}
      vs_champion: {{roc_auc: -0.01}}
    evaluation:
      slices:
        - {{column: segment, metric: roc_auc, min: 0.7, min_size: 100}}
        - {{column: f00, bins: [-100, -1, 0, 1, 100], metric: accuracy, min: 0.6}}
      golden: {{dataset: golden@1}}
      invariance:
        - {{column: f19, shift: 0.01, eps: 0.05}}
        - {{column: f18, values: [0.0, 0.5], eps: 0.5}}
      directional:
        - {{column: f01, increase: 0.1, expect: up, tolerance: 1.0}}
      minimum:
        - {{case: {{{case}}}, expect: true}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from shipyard.config import parse_config
    from shipyard.evaluation import evaluate
    from shipyard.models.predictor import SklearnPredictor

    x, y = make_classification(
        n_samples=50_000 + args.rows, n_features=20, n_informative=10, n_redundant=4, random_state=0
    )
    features = [f"f{i:02d}" for i in range(20)]
    frame = pd.DataFrame(x, columns=features).assign(y=y.astype(bool))
    frame["segment"] = "s" + pd.Series(
        np.digitize(frame["f05"], np.quantile(frame["f05"], np.linspace(0.1, 0.9, 9)))
    ).astype(str)
    train, test = frame.iloc[:50_000], frame.iloc[50_000:].reset_index(drop=True)
    model = HistGradientBoostingClassifier(random_state=0).fit(train[features], train["y"])
    champion = LogisticRegression(max_iter=1000).fit(train[features], train["y"])
    case = ", ".join(
        f"{f}: {v:.4f}" for f, v in test.loc[test.index[test["y"]][0], features].items()
    )
    spec = SPEC.format(
        columns="\n      ".join(f"{f}: {{type: float}}" for f in features),
        features=", ".join(features),
        case=case,
    )
    config = parse_config(spec, environ={}).models["m"]
    golden = test.sample(1000, random_state=1)
    golden = golden.assign(
        y=model.predict(golden[features])
    )  # hand-picked cases the model gets right
    ours = SklearnPredictor(model, features, "binary_classification")
    theirs = SklearnPredictor(champion, features, "binary_classification")

    times, report = [], None
    for _ in range(args.repeat):
        started = time.perf_counter()
        report = evaluate(
            ours,
            test,
            config,
            "y",
            ref=("m", 2),
            dataset="d@1",
            champion=("m@1", theirs),
            golden=golden,
        )
        times.append(time.perf_counter() - started)
    assert report is not None
    print(
        f"evaluation of {len(test):,} rows x 20 features, HistGradientBoosting, {len(report.checks)} checks, {os.cpu_count()} cores"
    )
    print(
        f"  seconds (median of {args.repeat}): {statistics.median(times):.2f}  runs: {', '.join(f'{t:.2f}' for t in times)}"
    )
    for check in report.checks:
        print(f"  {'pass' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    print(f"  target under 10 s: {'ok' if statistics.median(times) < 10 else 'MISSED'}")


if __name__ == "__main__":
    main()
