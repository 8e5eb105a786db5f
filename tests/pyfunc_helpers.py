"""The MLflow model against the detector: predict in a fresh process, score in this one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl

_PREDICT = """
import sys, mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
rows = pd.read_csv(sys.argv[2], dtype={c: str for c in sys.argv[4].split(",")})
model.predict(rows).to_parquet(sys.argv[3])
"""


def predict_in_fresh_process(model_uri: str, rows_csv: Path, out: Path) -> pl.DataFrame:
    """``mlflow.pyfunc.load_model(model_uri).predict`` of a contract CSV, in a fresh process
    with pickle deserialisation off; text columns are read as text, as a user would."""
    from detector.config import Settings
    from features.schema import SHIPMENTS, Kind

    text = ",".join(c.name for c in SHIPMENTS.columns if c.kind not in (Kind.POSITIVE, Kind.NON_NEGATIVE, Kind.NUMBER, Kind.LABEL))
    env = {**os.environ, "MLFLOW_TRACKING_URI": Settings.from_env().tracking_uri,
           "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([sys.executable, "-c", _PREDICT, model_uri, str(rows_csv), str(out), text],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return pl.read_parquet(out)


def score_in_process(ref: str, rows_csv: Path, columns: list[str]) -> pl.DataFrame:
    """``Detector.score`` of the same CSV with the model ``ref`` loaded the way `waypoint score` does."""
    from detector.io.read import load
    from detector.jobs.modelref import load_model_ref
    from features.pipeline import build
    from features.schema import SHIPMENTS

    detector = load_model_ref(ref).detector
    frame = build(load([rows_csv], SHIPMENTS).valid.lazy(), events=detector.state.events, state=detector.state)
    return detector.score(frame).select(columns)
