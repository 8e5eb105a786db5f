"""The MLflow pyfunc model of a waypoint detector, logged as "model from code".

MLflow stores this file with each model and runs it on load; nothing is pickled, so
``mlflow.pyfunc.load_model("models:/waypoint@champion")`` works with
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``. The model's only artifact is the saved
detector directory (``models.artifact``: skops forest, Parquet state, JSON), verified
against its SHA-256 manifest when loaded.

``predict`` takes shipment rows of the data contract as a pandas frame and returns the
same ``shipment_id, risk_score, risk_rank, flagged, reason_codes, reasons`` that
``waypoint score`` writes for those rows (ranked within the frame given), plus
``forest_score, ranker_score`` when the model has a supervised ranker (no explore
share: the pyfunc scores, it does not plan inspections). The
signature checks column types before ``predict`` runs: text columns (``hs_code``
included, so leading zeros survive) and ``arrival_date`` as ISO text
(``pd.read_csv(path, dtype={"hs_code": str, ...})``), amounts as numbers. Component
imports are not an input here: value-added features come from the reference state
alone, as in ``waypoint score`` without ``--inputs``. The model's context is its own:
the features use the tariff events it was trained with (its reference state), a line
stating no ``importing_country`` is taken as the model's, and the flags follow the
inspection budget it was trained with, as ``waypoint score`` does by default. The waypoint
package must be importable where the model is loaded.
"""
from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is imported

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402

#: Columns ``predict`` returns, in order (``dq_codes``: the data-quality codes a row was
#: scored with, as ``waypoint score`` writes them).
OUTPUT_COLUMNS = ("shipment_id", "risk_score", "risk_rank", "flagged", "reason_codes", "reasons", "dq_codes")
#: How many bad rows an error message lists before summarising the rest.
_SHOWN_BAD_ROWS = 20


class InvalidRowsError(ValueError):
    """Rows given to ``predict`` break the data contract; the message lists them."""


def contract_rows(frame: pd.DataFrame | pl.DataFrame) -> pl.DataFrame:
    """Cast contract rows to the contract types with the reader's rules, or raise listing bad rows.

    As in ``waypoint score``, only rows that cannot be keyed or placed in time are bad;
    other defects are scored (the values read as unknown) and named in ``dq_codes``.
    Row numbers in the message count from 0, as pandas' default index does.
    """
    from features.schema import SHIPMENTS
    from features.validate import validate

    df = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame, include_index=False)
    try:
        checked = validate(df.lazy(), SHIPMENTS).with_row_index("_row").collect()
    except ValueError as exc:
        raise InvalidRowsError(f"input does not fit the data contract: {exc}") from None
    bad = checked.filter(~pl.col("_ok"))
    if bad.height:
        lines = [
            f"row {r['_row']} (shipment_id {r['shipment_id']!r}): {r['reasons']}"
            for r in bad.head(_SHOWN_BAD_ROWS).iter_rows(named=True)
        ]
        more = bad.height - len(lines)
        tail = f"\n... and {more} more" if more else ""
        raise InvalidRowsError(
            f"{bad.height} of {checked.height} input row(s) break the data contract:\n" + "\n".join(lines) + tail
        )
    return checked.select(*SHIPMENTS.names, "dq_codes", "dq_notes")


def score_rows(detector, frame: pd.DataFrame | pl.DataFrame, *, model_name: str = "", model_version: str = "") -> pl.DataFrame:
    """Validate contract rows, build their features with the model's state, score them.

    Returns the full scored frame of ``Detector.score`` (sorted by ``risk_rank``).
    """
    from features.pipeline import build
    from models.artifact import check_contract

    check_contract(detector.contract_version)
    rows = contract_rows(frame)
    country = detector.params.get("importing_country")
    if country:  # a line stating no importing country is an import of the model's
        rows = rows.with_columns(pl.col("importing_country").fill_null(pl.lit(country, dtype=pl.String)))
    state = detector.state
    features = build(rows.lazy(), inputs=None, events=state.events if state is not None else None, state=state)
    return detector.score(features, model_name=model_name, model_version=model_version)


class WaypointModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: loads the detector artifact, scores contract rows."""

    def load_context(self, context) -> None:
        from models.artifact import load

        self.detector = load(context.artifacts["detector"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        scored = score_rows(self.detector, model_input)
        # A model with a supervised ranker also returns each component's percentile.
        extra = [c for c in ("forest_score", "ranker_score") if c in scored.columns]
        return scored.select(*OUTPUT_COLUMNS, *extra).to_pandas()


mlflow.models.set_model(WaypointModel())
