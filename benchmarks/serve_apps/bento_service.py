"""The same model as a BentoML service (SHIPYARD_BENCH_MODEL, SHIPYARD_BENCH_WORKERS)."""

import os

import bentoml
import joblib
import numpy as np


@bentoml.service(workers=int(os.environ.get("SHIPYARD_BENCH_WORKERS", "1")))
class Classifier:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["SHIPYARD_BENCH_MODEL"])

    @bentoml.api
    def predict(self, rows: list[list[float]]) -> list[list[float]]:
        return self.model.predict_proba(np.array(rows)).tolist()
