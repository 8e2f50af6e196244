"""A hand-written FastAPI endpoint: no validation beyond the body shape, no log (SHIPYARD_BENCH_MODEL)."""

import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

MODEL = joblib.load(os.environ["SHIPYARD_BENCH_MODEL"])
app = FastAPI()


class Rows(BaseModel):
    rows: list[list[float]]


@app.get("/ping")
def ping() -> dict:
    return {}


@app.post("/predict")
def predict(request: Rows) -> dict:
    return {"probabilities": MODEL.predict_proba(np.array(request.rows)).tolist()}
