"""Performance estimated without labels: shipyard's CBPE beside NannyML's on the same windows.

Synthetic data with known truth: 6 numeric features, a label drawn from a known
non-linear P(y=1 | x); a gradient-boosted model trained on 20,000 rows, calibrated
(shipyard) or fitted (NannyML) on a 20,000-row labelled reference it did not train on.
Then ``--windows`` windows of 5,000 rows under covariate shift: the means of three
features move by up to ``--max-shift`` sd and one spreads out, P(y | x) unchanged (the
case CBPE is built for), labels drawn per row. The realized metric of each window is
computed from its drawn labels; a tool's estimate is counted right when it is within
±0.02 of it. Both tools see the same probabilities, the same predicted labels (p >= 0.5)
and the same reference.

    make bench-cbpe                    # a venv with NannyML 0.13.1, then this
    .bench-nannyml-venv/bin/python benchmarks/bench_cbpe.py --windows 20
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

METRICS = ["roc_auc", "accuracy", "f1", "precision", "recall"]
TOLERANCE = 0.02
FEATURES = [f"x{i}" for i in range(6)]


def truth(x: np.ndarray) -> np.ndarray:
    """P(y=1 | x): known, non-linear, the same in every window."""
    logit = (
        1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.6 * x[:, 2] * x[:, 3] + 0.5 * np.sin(2 * x[:, 4])
        - 0.4 * x[:, 5] ** 2 + 0.3
    )  # fmt: skip
    return 1 / (1 + np.exp(-logit))


def draw(n: int, rng: np.random.Generator, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(0, 1, (n, len(FEATURES)))
    x[:, 0] += shift
    x[:, 2] -= 0.7 * shift
    x[:, 4] += 0.5 * shift
    x[:, 5] *= 1 + 0.5 * shift
    y = (rng.random(n) < truth(x)).astype(int)
    return x, y


def realized(y: np.ndarray, proba: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    return {
        "roc_auc": float(roc_auc_score(y, proba)),
        "accuracy": float(accuracy_score(y, predicted)),
        "f1": float(f1_score(y, predicted)),
        "precision": float(precision_score(y, predicted)),
        "recall": float(recall_score(y, predicted)),
    }


def shipyard_estimates(
    reference: tuple[np.ndarray, np.ndarray], windows: list[np.ndarray]
) -> list[dict[str, float]]:
    from shipyard.monitoring.cbpe import calibrate, estimate

    proba, y = reference
    calibration = calibrate(np.column_stack([1 - proba, proba]), y, [0, 1], source="reference")
    out = []
    for p in windows:
        found = estimate(np.column_stack([1 - p, p]), (p >= 0.5).astype(int), calibration, METRICS)
        out.append({e.metric: e.value for e in found.estimates})
    return out


def nannyml_estimates(
    reference: tuple[np.ndarray, np.ndarray], windows: list[np.ndarray], size: int
) -> list[dict[str, float]]:
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no telemetry calls home
    import nannyml
    import pandas as pd

    warnings.filterwarnings("ignore", message="The resulting number of chunks is too low")

    proba, y = reference
    frame = pd.DataFrame({"proba": proba, "pred": (proba >= 0.5).astype(int), "y": y})
    estimator = nannyml.CBPE(
        problem_type="classification_binary",
        y_pred_proba="proba",
        y_pred="pred",
        y_true="y",
        metrics=METRICS,
        chunk_size=size,
    )
    estimator.fit(frame)
    p = np.concatenate(windows)
    analysis = pd.DataFrame({"proba": p, "pred": (p >= 0.5).astype(int)})
    table = estimator.estimate(analysis).filter(period="analysis").to_df()
    out = []
    for row in range(len(windows)):
        out.append({m: float(table[(m, "value")].iloc[row]) for m in METRICS})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=50)
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--max-shift", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-nannyml", action="store_true")
    args = parser.parse_args()

    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(args.seed)
    x_train, y_train = draw(20_000, rng)
    model = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(x_train, y_train)
    x_ref, y_ref = draw(20_000, rng)
    reference = (model.predict_proba(x_ref)[:, 1], y_ref)
    shifts = np.linspace(0, args.max_shift, args.windows)
    windows, truths = [], []
    for shift in shifts:
        x, y = draw(args.size, rng, float(shift))
        p = model.predict_proba(x)[:, 1]
        windows.append(p)
        truths.append(realized(y, p, (p >= 0.5).astype(int)))

    tools: dict[str, tuple[list[dict[str, float]], float]] = {}
    started = time.perf_counter()
    tools["shipyard"] = (shipyard_estimates(reference, windows), time.perf_counter() - started)
    if not args.no_nannyml:
        started = time.perf_counter()
        found = nannyml_estimates(reference, windows, args.size)
        tools["nannyml 0.13.1"] = (found, time.perf_counter() - started)

    print(
        f"{args.windows} windows of {args.size:,} rows, covariate shift 0 to {args.max_shift:g} sd; "
        f"share of windows within ±{TOLERANCE} of the realized metric (mean |error|)"
    )
    print("| tool | " + " | ".join(METRICS) + " | seconds |")
    print("| --- | " + " | ".join("---:" for _ in METRICS) + " | ---: |")
    for tool, (estimates, seconds) in tools.items():
        cells = []
        for m in METRICS:
            errors = np.abs([e[m] - t[m] for e, t in zip(estimates, truths, strict=True)])
            cells.append(f"{np.mean(errors <= TOLERANCE):.0%} ({np.mean(errors):.5f})")
        print(f"| {tool} | " + " | ".join(cells) + f" | {seconds:.1f} |")
    low = {m: min(t[m] for t in truths) for m in METRICS}
    high = {m: max(t[m] for t in truths) for m in METRICS}
    print(
        "realized range over the windows: "
        + ", ".join(f"{m} {low[m]:.3f}-{high[m]:.3f}" for m in METRICS)
    )


if __name__ == "__main__":
    main()
