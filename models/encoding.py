"""What the ranker reads of the line itself: amounts, unit values, codes, data-quality codes.

:class:`LineEncoder` turns a feature frame's contract columns into the ranker's line inputs:

- **amounts**: log value, log weight, log USD/kg, log USD and kg per quantity unit, log
  quantity, duty rate, origin = export country;
- **against the norm**: the line's log USD/kg minus the training median of its HS6 x origin
  (of its HS6 where the pair is rare), and its log kg per unit minus the HS6 x unit median:
  an undervalued or misdeclared line sits far from the usual price or unit weight of
  what it declares;
- **codes** (HS chapter, heading, subheading and full code, origin, export and importing
  country, importer, exporter, origin x HS6, importer x HS6, quantity unit, the set of
  data-quality codes, each categorical extra): an **out-of-fold target encoding**
  (scikit-learn's ``TargetEncoder``, whose ``fit_transform`` cross-fits: a training line's
  value never uses its own label) and a **count** of the code among the training lines.
  Both are fitted on training rows only and kept as plain tables (code value -> encoding,
  count), so they scale to any number of distinct values and save without pickle. A value
  never seen in training is unknown (NaN) with a count of 0, and so is a training line's
  value that none of the other folds holds (what the model learns of unknown values is
  what it meets at scoring); a null code (a line with no importer is its own unknown
  party) is unknown too;
- codes of few values (chapter, countries, unit, small extras) also as native categories
  of the gradient-boosted model;
- **data-quality codes** (``dq_codes``, when the frame has them): their number and one
  indicator per code seen in training.

The norms, encodings and counts use only training rows: scoring reads them, never a label.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

#: Codes of at most this many training values are also native categories (HGB's limit is 255 bins).
MAX_NATIVE = 250
#: A HS6 x origin norm needs this many training lines; else the HS6's norm is used.
MIN_NORM_LINES = 5
#: Data-quality codes kept as indicators, the most frequent first.
MAX_DQ_CODES = 32
#: Cross-fitting folds of the target encoding.
TE_FOLDS = 5
DQ = "dq_codes"
IMPORTING = "importing_country"
#: Columns of the contract the encoder reads (the optional ones only when present).
REQUIRED = ("importer_id", "exporter_id", "hs_code", "origin_country", "export_country", "declared_value_usd", "weight_kg")
OPTIONAL = ("quantity", "quantity_unit", "duty_rate")
#: Numeric line inputs, in order.
NUMERIC = (
    "line_log_value", "line_log_weight", "line_log_usd_kg", "line_log_usd_unit", "line_log_kg_unit",
    "line_log_quantity", "line_duty_rate", "line_same_origin", "line_price_vs_norm", "line_unit_weight_vs_norm",
)
#: Party codes: target-encoded, not counted (:attr:`LineEncoder.counted`).
PARTY_CODES = frozenset({"importer", "exporter", "importer_hs6"})
_TABLE_SCHEMA = {"value": pl.String, "te": pl.Float64, "count": pl.Int64, "inspected": pl.Int64, "hits": pl.Int64}
_SEP = "\x1f"


def _opt(frame_columns: Sequence[str], name: str, dtype=pl.Float64) -> pl.Expr:
    return pl.col(name) if name in frame_columns else pl.lit(None, dtype=dtype).alias(name)


def dq_list(frame: pl.DataFrame) -> pl.Expr:
    """The ``dq_codes`` column as a list of codes (text split on commas, semicolons, bars or spaces)."""
    dtype = frame.schema[DQ]
    if isinstance(dtype, pl.List):
        return pl.col(DQ).cast(pl.List(pl.String)).list.eval(pl.element().str.strip_chars()).list.eval(
            pl.element().filter(pl.element() != ""))
    return pl.col(DQ).cast(pl.String).fill_null("").str.replace_all(r"[;|\s]+", ",").str.split(",").list.eval(
        pl.element().filter(pl.element() != ""))


def code_exprs(columns: Sequence[str], extras: Sequence[str]) -> dict[str, pl.Expr]:
    """The encoded codes as string expressions over a feature frame, by code name."""
    hs = pl.col("hs_code").cast(pl.String)
    codes = {
        "chapter": hs.str.slice(0, 2),
        "heading": hs.str.slice(0, 4),
        "hs6": hs.str.slice(0, 6),
        "hs_code": hs,
        "origin": pl.col("origin_country"),
        "export_country": pl.col("export_country"),
        "importer": pl.col("importer_id"),
        "exporter": pl.col("exporter_id"),
        "origin_hs6": pl.concat_str([pl.col("origin_country"), hs.str.slice(0, 6)], separator=_SEP),
        "importer_hs6": pl.concat_str([pl.col("importer_id"), hs.str.slice(0, 6)], separator=_SEP),
    }
    if "quantity_unit" in columns:
        codes["quantity_unit"] = pl.col("quantity_unit")
    if IMPORTING in columns:
        codes["importing_country"] = pl.col(IMPORTING)
    for name in extras:
        codes[name] = pl.col(name)
    return {k: v.cast(pl.String) for k, v in codes.items()}


def _safe_log(x: pl.Expr) -> pl.Expr:
    return pl.when(x > 0).then(x.log()).otherwise(None)


def amounts(frame: pl.DataFrame) -> pl.DataFrame:
    """The line's numeric values before the norms (NaN = unknown), one row per frame row."""
    cols = frame.columns
    value, weight = pl.col("declared_value_usd").cast(pl.Float64), pl.col("weight_kg").cast(pl.Float64)
    qty = _opt(cols, "quantity").cast(pl.Float64)
    qty = pl.when(qty > 0).then(qty).otherwise(None)
    return frame.select(
        _safe_log(value).alias("line_log_value"),
        _safe_log(weight).alias("line_log_weight"),
        _safe_log(value / weight).alias("line_log_usd_kg"),
        _safe_log(value / qty).alias("line_log_usd_unit"),
        _safe_log(weight / qty).alias("line_log_kg_unit"),
        qty.log1p().alias("line_log_quantity"),
        _opt(cols, "duty_rate").cast(pl.Float64).alias("line_duty_rate"),
        (pl.col("origin_country") == pl.col("export_country")).cast(pl.Float64).alias("line_same_origin"),
        pl.col("hs_code").cast(pl.String).str.slice(0, 6).alias("_hs6"),
        pl.col("origin_country").cast(pl.String).alias("_origin"),
        _opt(cols, "quantity_unit", pl.String).cast(pl.String).alias("_unit"),
    )


@dataclass
class LineEncoder:
    """Fitted line encodings (see the module docstring); plain tables, saved as Parquet + JSON."""

    codes: list[str]
    extras: list[str] = field(default_factory=list)  # categorical extra columns among the codes
    native: dict[str, list[str]] = field(default_factory=dict)  # code -> categories (code = index)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)  # code -> value, te, count, inspected, hits
    prior: float = 0.0  # overall rate of the training labels: the encoding of an unseen value
    price_norms: pl.DataFrame | None = None  # _hs6, _origin (null = any origin) -> median log USD/kg, lines
    unit_norms: pl.DataFrame | None = None  # _hs6, _unit -> median log kg per unit, lines
    dq: list[str] | None = None  # data-quality codes kept as indicators; None = the frame had no dq_codes

    @property
    def names(self) -> list[str]:
        """Columns of :meth:`transform`, in order."""
        dq = [] if self.dq is None else ["dq_count", *(f"dq_{c}" for c in self.dq)]
        return [*NUMERIC, *dq, *(f"te_{c}" for c in self.codes), *(f"n_{c}" for c in self.counted),
                *(f"cat_{c}" for c in self.native)]

    @property
    def counted(self) -> list[str]:
        """Codes whose training count is an input: not the parties. A party's count over the
        whole training span is not what a later line's party has (a firm that started after
        training counts 0, as no training firm does), so it would teach "few lines" from the
        training firms' lifetimes; how new a party is, is the registry's point-in-time features'."""
        return [c for c in self.codes if c not in PARTY_CODES]

    @property
    def categorical(self) -> list[str]:
        return [f"cat_{c}" for c in self.native]

    # -- fitting -------------------------------------------------------------------------
    @classmethod
    def fit(cls, frame: pl.DataFrame, labels: np.ndarray, *, extras: Sequence[str] = (), seed: int = 0
            ) -> tuple["LineEncoder", np.ndarray]:
        """Fit on the training ``frame`` (``labels`` per row, NaN = unknown): the encoder and
        the training matrix, whose target encodings of labelled rows are out-of-fold."""
        from sklearn.preprocessing import TargetEncoder

        _check(frame)
        y = np.asarray(labels, dtype=np.float64)
        known = np.isfinite(y)
        codes = code_exprs(frame.columns, extras)
        values = frame.select(**codes)
        enc = cls(codes=list(codes), extras=list(extras), prior=float(y[known].mean()) if known.any() else 0.0)
        base = amounts(frame)
        enc.price_norms, enc.unit_norms = _norms(base)
        if DQ in frame.columns:
            counted = frame.select(dq_list(frame).alias("d")).explode("d").drop_nulls("d")["d"].value_counts(sort=True)
            enc.dq = sorted(counted.head(MAX_DQ_CODES)["d"].to_list())
        ordered = values.with_columns(pl.Series("_y", y))
        for name in codes:
            col = ordered.select(pl.col(name).alias("value"), "_y")
            stats = col.group_by("value").agg(
                pl.len().cast(pl.Int64).alias("count"),
                pl.col("_y").is_not_nan().sum().cast(pl.Int64).alias("inspected"),
                (pl.col("_y") == 1).sum().cast(pl.Int64).alias("hits"),
            ).drop_nulls("value")
            enc.tables[name] = stats.with_columns(pl.lit(enc.prior).alias("te"))
            few = stats.height <= MAX_NATIVE
            if few and name not in ("importer", "exporter", "hs_code", "hs6", "heading", "origin_hs6", "importer_hs6"):
                enc.native[name] = sorted(stats["value"].to_list())
        oof = np.full((frame.height, len(codes)), np.nan)
        if known.sum() >= 2 * TE_FOLDS and 0 < y[known].sum() < known.sum():
            X = values.filter(pl.Series(known)).select(pl.all().fill_null("\x00")).to_numpy().astype(object)
            from sklearn.model_selection import StratifiedKFold

            folds = StratifiedKFold(TE_FOLDS, shuffle=True, random_state=seed)
            te = TargetEncoder(target_type="binary", cv=folds)
            oof_known = te.fit_transform(X, y[known].astype(np.int64))
            # A value absent from a fold's other folds is unknown there, as an unseen value is
            # at scoring (NaN, not the overall rate the encoder would give it).
            for _, (fit_idx, out_idx) in enumerate(folds.split(X, y[known].astype(np.int64))):
                for j in range(X.shape[1]):
                    unseen = ~np.isin(X[out_idx, j], X[fit_idx, j])
                    oof_known[out_idx[unseen], j] = np.nan
            enc.prior = float(te.target_mean_)
            for j, name in enumerate(codes):
                full = pl.DataFrame({"value": np.asarray(te.categories_[j], dtype=object).astype(str),
                                     "te_fit": np.asarray(te.encodings_[j], dtype=np.float64)})
                enc.tables[name] = (
                    enc.tables[name].drop("te").join(full, on="value", how="left")
                    .select("value", pl.col("te_fit").fill_null(enc.prior).alias("te"), "count", "inspected", "hits")
                    .cast(_TABLE_SCHEMA).sort("value")
                )
            oof[known] = oof_known
        else:
            enc.tables = {k: t.select(list(_TABLE_SCHEMA)).cast(_TABLE_SCHEMA).sort("value") for k, t in enc.tables.items()}
        matrix = enc.transform(frame)
        te_at = len(NUMERIC) + (0 if enc.dq is None else 1 + len(enc.dq))
        null_code = values.select(pl.all().is_null()).to_numpy()
        in_fold = np.where(null_code, np.nan, oof)
        matrix[known, te_at : te_at + len(codes)] = in_fold[known]
        return enc, matrix

    # -- applying ------------------------------------------------------------------------
    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        """The line inputs of ``frame`` (rows x :attr:`names`), from the training tables only."""
        _check(frame)
        missing = [c for c in self.extras if c not in frame.columns]
        if missing:
            from models.errors import ModelError

            raise ModelError(f"the input lacks the pass-through column(s) {', '.join(missing)} the ranker was trained with",
                             hint="score with the same mapping (its [extra] section) the model was trained with")
        base = amounts(frame).with_row_index("_row")
        price = self.price_norms
        specific = price.filter(pl.col("_origin").is_not_null())
        general = price.filter(pl.col("_origin").is_null()).select("_hs6", pl.col("norm").alias("norm_hs6"))
        base = (
            base.join(specific.select("_hs6", "_origin", "norm"), on=["_hs6", "_origin"], how="left")
            .join(general, on="_hs6", how="left")
            .join(self.unit_norms.select("_hs6", "_unit", pl.col("norm").alias("unit_norm")), on=["_hs6", "_unit"],
                  how="left", nulls_equal=True)
            .sort("_row")
        )
        numeric = base.select(
            *NUMERIC[:8],
            (pl.col("line_log_usd_kg") - pl.coalesce("norm", "norm_hs6")).alias("line_price_vs_norm"),
            (pl.col("line_log_kg_unit") - pl.col("unit_norm")).alias("line_unit_weight_vs_norm"),
        )
        parts = [numeric.cast(pl.Float64).fill_null(float("nan")).to_numpy()]
        if self.dq is not None:
            if DQ in frame.columns:
                listed = frame.select(dq_list(frame).alias("d"))
                dq = listed.select(
                    pl.col("d").list.len().cast(pl.Float64).fill_null(0.0).alias("dq_count"),
                    *(pl.col("d").list.contains(c).cast(pl.Float64).fill_null(0.0).alias(f"dq_{c}") for c in self.dq),
                )
            else:  # trained with data-quality codes, scored without: none known
                dq = pl.DataFrame({n: np.full(frame.height, np.nan) for n in ["dq_count", *(f"dq_{c}" for c in self.dq)]})
            parts.append(dq.to_numpy().astype(np.float64))
        values = frame.select(**code_exprs(frame.columns, self.extras)).select(self.codes).with_row_index("_row")
        te_cols, n_cols, cat_cols = [], [], []
        for name in self.codes:
            table = self.tables[name]
            got = values.select("_row", pl.col(name).alias("value")).join(table, on="value", how="left").sort("_row")
            null = got["value"].is_null()
            te = got["te"].set(null, None).fill_null(float("nan"))  # unseen or null: unknown
            te_cols.append(te.to_numpy())
            if name not in PARTY_CODES:
                n_cols.append(got["count"].fill_null(0).cast(pl.Float64).to_numpy())
        for name, categories in self.native.items():
            lookup = pl.DataFrame({"value": categories, "_code": np.arange(len(categories), dtype=np.float64)},
                                  schema={"value": pl.String, "_code": pl.Float64})
            got = values.select("_row", pl.col(name).alias("value")).join(lookup, on="value", how="left").sort("_row")
            cat_cols.append(got["_code"].fill_null(float("nan")).to_numpy())
        for cols in (te_cols, n_cols, cat_cols):
            if cols:
                parts.append(np.column_stack(cols))
        return np.hstack(parts) if parts else np.zeros((frame.height, 0))

    # -- what a reason says ----------------------------------------------------------------
    def usual_price(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Per row: ``usd_kg`` declared, ``usual_usd_kg`` (the norm it is compared with) and
        ``norm_origin`` (the origin of that norm, null = any origin)."""
        base = amounts(frame).with_row_index("_row")
        price = self.price_norms
        specific = price.filter(pl.col("_origin").is_not_null()).select("_hs6", "_origin", "norm")
        general = price.filter(pl.col("_origin").is_null()).select("_hs6", pl.col("norm").alias("norm_hs6"))
        got = base.join(specific, on=["_hs6", "_origin"], how="left").join(general, on="_hs6", how="left").sort("_row")
        return got.select(
            pl.col("line_log_usd_kg").exp().alias("usd_kg"),
            pl.coalesce("norm", "norm_hs6").exp().alias("usual_usd_kg"),
            pl.when(pl.col("norm").is_not_null()).then(pl.col("_origin")).otherwise(None).alias("norm_origin"),
            pl.col("_hs6"),
            (pl.col("line_log_kg_unit")).exp().alias("kg_unit"),
            pl.col("_unit"),
        )

    def unit_norm(self, frame: pl.DataFrame) -> pl.Series:
        base = amounts(frame).with_row_index("_row")
        got = base.join(self.unit_norms.select("_hs6", "_unit", "norm"), on=["_hs6", "_unit"], how="left",
                        nulls_equal=True).sort("_row")
        return got["norm"].exp().alias("usual_kg_unit")

    def code_stats(self, frame: pl.DataFrame, name: str) -> pl.DataFrame:
        """Per row: the row's value of code ``name`` and its training ``inspected`` / ``hits``."""
        values = frame.select(code_exprs(frame.columns, self.extras)[name].alias("value"))
        got = values.with_row_index("_row").join(
            self.tables[name], on="value", how="left").sort("_row")
        return got.select("value", pl.col("inspected").fill_null(0), pl.col("hits").fill_null(0))

    # -- saving --------------------------------------------------------------------------
    def to_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(self.codes):
            self.tables[name].write_parquet(path / f"code_{i:03d}.parquet", statistics=False)
        self.price_norms.write_parquet(path / "price_norms.parquet", statistics=False)
        self.unit_norms.write_parquet(path / "unit_norms.parquet", statistics=False)
        meta = {"codes": self.codes, "extras": self.extras, "native": self.native, "prior": self.prior, "dq": self.dq}
        (path / "encoder.json").write_text(json.dumps(meta, indent=1) + "\n")

    @classmethod
    def from_dir(cls, path: Path) -> "LineEncoder":
        meta = json.loads((path / "encoder.json").read_text())
        tables = {}
        for i, name in enumerate(meta["codes"]):
            table = pl.read_parquet(path / f"code_{i:03d}.parquet")
            if dict(table.schema) != _TABLE_SCHEMA:
                raise ValueError(f"{path / f'code_{i:03d}.parquet'}: not a code table")
            tables[name] = table
        return cls(codes=meta["codes"], extras=meta["extras"], native=meta["native"], tables=tables,
                   prior=float(meta["prior"]), price_norms=pl.read_parquet(path / "price_norms.parquet"),
                   unit_norms=pl.read_parquet(path / "unit_norms.parquet"), dq=meta["dq"])


def _check(frame: pl.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        from models.errors import ModelError

        raise ModelError(f"the input lacks the contract column(s) {', '.join(missing)} the ranker reads",
                         hint="score a frame built by features.pipeline.build from contract rows")


def _norms(base: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Median log USD/kg per HS6 x origin (pairs of at least MIN_NORM_LINES lines) and per HS6
    (origin null), and median log kg per unit per HS6 x unit."""
    lines = base.drop_nulls("line_log_usd_kg")
    pair = lines.group_by("_hs6", "_origin").agg(pl.col("line_log_usd_kg").median().alias("norm"), pl.len().alias("lines"))
    pair = pair.filter(pl.col("lines") >= MIN_NORM_LINES)
    hs6 = lines.group_by("_hs6").agg(pl.col("line_log_usd_kg").median().alias("norm"), pl.len().alias("lines")).select(
        "_hs6", pl.lit(None, pl.String).alias("_origin"), "norm", "lines")
    price = pl.concat([pair.select("_hs6", "_origin", "norm", "lines"), hs6]).cast(
        {"lines": pl.Int64, "norm": pl.Float64}).sort("_hs6", "_origin", nulls_last=True)
    units = base.drop_nulls("line_log_kg_unit").group_by("_hs6", "_unit").agg(
        pl.col("line_log_kg_unit").median().alias("norm"), pl.len().cast(pl.Int64).alias("lines")
    ).sort("_hs6", "_unit", nulls_last=True)
    return price, units

