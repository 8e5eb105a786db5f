"""Lazy queries over scored files: the review queue, one shipment, chart data.

Scored files (Parquet or CSV, as ``waypoint score`` writes them) are scanned, never
loaded whole: each page is ``scan -> filter -> sort -> slice -> collect``, so a queue
over millions of rows costs one pass of the filtered columns, not the whole file in
memory. ``ev_``/``f_`` columns are treated generically and may be absent.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.review.store import Context
from features.schema import Table

#: Columns every scored file must have for review.
REQUIRED = ("shipment_id", "risk_score", "risk_rank", "flagged")
#: Columns shown in the queue table (those present are selected; absent ones are null).
QUEUE_COLUMNS = (
    "shipment_id", "risk_rank", "risk_score", "arrival_date", "importer_id", "exporter_id", "hs_code",
    "origin_country", "export_country", "declared_value_usd", "reason_codes", "reasons", "model_version",
)
#: Text columns read as text from CSV (HS codes keep their leading zeros).
_TEXT = ("shipment_id", "hs_code", "importer_id", "exporter_id", "origin_country", "export_country",
         "reason_codes", "reasons", "model_name", "model_version", "manufacturer_id", "goods_description")
PAGE_SIZE = 50
#: The duty an inspection could recover (``features/revenue.py``): shown, summed and sortable.
DUTY = "duty_at_risk_usd"


@dataclass(frozen=True)
class Filters:
    """Queue filters; empty strings mean "any". ``status`` is a review status, ``open`` or ''."""

    status: str = ""
    origin: str = ""
    hs_chapter: str = ""
    hs: str = ""  # an HS code prefix (a route's product)
    importer: str = ""
    exporter: str = ""
    reason: str = ""
    model_version: str = ""
    sort: str = ""  # "duty": by duty at risk, most first; otherwise by risk rank

    @classmethod
    def from_mapping(cls, values) -> "Filters":
        return cls(**{f.name: str(values.get(f.name) or "").strip() for f in fields(cls)})

    def as_query(self, **changes) -> dict[str, str]:
        """Non-empty filters as query parameters (with ``changes`` applied), for links."""
        return {k: v for k, v in vars(replace(self, **changes)).items() if v}


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    total: int
    page: int
    pages: int
    duty_total: float | None = None  # duty at risk of every shipment the filters match (None: not in the file)


def _scan_one(path: Path) -> pl.LazyFrame:
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return pl.scan_parquet(path)
    if suffix == ".csv":
        header = pl.read_csv(path, n_rows=0).columns
        return pl.scan_csv(path, schema_overrides={c: pl.String for c in _TEXT if c in header}, try_parse_dates=True)
    raise InputError(f"{path}: unknown scored-file format {suffix or '(none)'!r}", hint="pass the .parquet or .csv file `waypoint score` wrote")


class ScoredSet:
    """One or more scored files, queried lazily.

    Review decisions live elsewhere (the decision store); methods that filter by
    status take ``decided`` = ``{shipment_id: current status}``.
    """

    def __init__(self, paths: list[str | Path]) -> None:
        if not paths:
            raise InputError("no scored file given", hint="pass the file `waypoint score` wrote")
        self.paths = [Path(p) for p in paths]
        self._digests: dict[tuple[str, int, int], str] = {}  # SHA-256 by (path, size, mtime): see _digest
        for p in self.paths:
            if not p.is_file():
                raise InputError(f"{p}: scored file not found", hint="run `waypoint score` first or check the path")
        frames = []
        for p in self.paths:
            lf = _scan_one(p)
            try:
                schema = lf.collect_schema()
            except (pl.exceptions.PolarsError, OSError) as exc:
                raise InputError(f"{p}: cannot read scored file ({exc})") from exc
            missing = [c for c in REQUIRED if c not in schema]
            if missing:
                raise InputError(f"{p}: missing column(s) {', '.join(missing)}", hint="pass a file written by `waypoint score`")
            frames.append(lf.with_columns(_normalise(schema)))
        self._lf = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        self.schema = self._lf.collect_schema()
        self.columns = list(self.schema.names())

    @property
    def label(self) -> str:
        return ", ".join(p.name for p in self.paths)

    def lazy(self) -> pl.LazyFrame:
        return self._lf

    def _col(self, name: str) -> pl.Expr:
        return pl.col(name) if name in self.schema else pl.lit(None, dtype=pl.String).alias(name)

    def _filtered(self, filters: Filters, decided: dict[str, str]) -> pl.LazyFrame:
        lf = self._lf.filter(pl.col("flagged"))
        eq = {"origin": "origin_country", "importer": "importer_id", "exporter": "exporter_id", "model_version": "model_version"}
        for attr, col in eq.items():
            value = getattr(filters, attr)
            if value and col in self.schema:
                lf = lf.filter(pl.col(col).cast(pl.String) == value)
        if filters.hs_chapter and "hs_code" in self.schema:
            lf = lf.filter(pl.col("hs_code").str.starts_with(filters.hs_chapter.zfill(2)[:2]))
        if filters.hs and "hs_code" in self.schema:
            lf = lf.filter(pl.col("hs_code").str.starts_with(filters.hs))
        if filters.reason and "reason_codes" in self.schema:
            lf = lf.filter(pl.col("reason_codes").str.split(",").list.contains(filters.reason))
        if filters.status == "open":
            lf = lf.filter(~pl.col("shipment_id").is_in(list(decided)))
        elif filters.status:
            lf = lf.filter(pl.col("shipment_id").is_in([s for s, st in decided.items() if st == filters.status]))
        return lf

    def page(self, filters: Filters, decided: dict[str, str], page: int = 1, per_page: int = PAGE_SIZE) -> Page:
        """One page of flagged shipments by risk rank, with the total that match."""
        lf = self._filtered(filters, decided)
        duty = DUTY in self.schema
        counts = lf.select(pl.len(), *([pl.col(DUTY).sum()] if duty else [])).collect().row(0)
        total = counts[0]
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        cols = [self._col(c) for c in (*QUEUE_COLUMNS, DUTY)]
        order = lf.sort([DUTY, "risk_rank"], descending=[True, False], nulls_last=True) if duty and filters.sort == "duty" \
            else lf.sort("risk_rank")
        rows = order.slice((page - 1) * per_page, per_page).select(cols).collect().to_dicts()
        for r in rows:
            r["status"] = decided.get(r["shipment_id"], "open")
        return Page(rows, total, page, pages, duty_total=counts[1] if duty else None)

    def matching(self, filters: Filters, decided: dict[str, str]) -> pl.DataFrame:
        """Every flagged shipment the filters match, by risk rank, queue columns plus status."""
        cols = [self._col(c) for c in QUEUE_COLUMNS]
        rows = self._filtered(filters, decided).sort("risk_rank").select(cols).collect()
        status = pl.DataFrame({"shipment_id": list(decided), "status": list(decided.values())},
                              schema={"shipment_id": pl.String, "status": pl.String})
        out = rows.with_columns(pl.col("shipment_id").cast(pl.String)).join(status, on="shipment_id", how="left",
                                                                             maintain_order="left")
        return out.with_columns(pl.col("status").fill_null("open")).select("shipment_id", "status", *QUEUE_COLUMNS[1:])

    def open_flagged(self, exporter: str, decided: dict[str, str]) -> list[dict]:
        """Flagged shipments of one exporter without a decision (for bulk decisions)."""
        lf = self._filtered(Filters(exporter=exporter, status="open"), decided)
        return lf.select([self._col(c) for c in ("shipment_id", "risk_score", "model_name", "model_version")]).collect().to_dicts()

    def facets(self) -> dict[str, list[str]]:
        """Distinct values among flagged rows for the filter drop-downs."""
        flagged = self._lf.filter(pl.col("flagged"))
        out: dict[str, list[str]] = {}
        for key, col in (("origin", "origin_country"), ("model_version", "model_version")):
            out[key] = (
                sorted(v for v in flagged.select(pl.col(col).cast(pl.String).unique()).collect().to_series() if v)
                if col in self.schema else []
            )
        out["reason"] = (
            sorted(v for v in flagged.select(pl.col("reason_codes").str.split(",").explode().unique()).collect().to_series() if v)
            if "reason_codes" in self.schema else []
        )
        return out

    def shipment(self, shipment_id: str) -> dict | None:
        """Every column of one shipment, or None."""
        rows = self._lf.filter(pl.col("shipment_id") == shipment_id).head(1).collect().to_dicts()
        return rows[0] if rows else None

    def context(self, shipment_id: str, row: dict | None = None) -> Context:
        """The model and score behind a shipment's flag, stored with a decision.

        Raises ``InputError`` when the shipment is not in these files (a typo in an id
        would otherwise record a decision nobody can find).
        """
        row = row if row is not None else self.shipment(shipment_id)
        if row is None:
            raise InputError(f"shipment {shipment_id!r} is not in {self.label}", hint="check the id, or leave out --scored")
        text = lambda v: None if v is None else str(v)  # noqa: E731
        path = self._file_of(shipment_id)
        return Context(text(row.get("model_name")), text(row.get("model_version")), row.get("risk_score"),
                       str(path.resolve()), self._digest(path))

    def _file_of(self, shipment_id: str) -> Path:
        """The scored file holding ``shipment_id`` (the first, when several do)."""
        if len(self.paths) > 1:
            for path in self.paths:
                if _scan_one(path).filter(pl.col("shipment_id").cast(pl.String) == shipment_id).select(pl.len()).collect().item():
                    return path
        return self.paths[0]

    def _digest(self, path: Path) -> str:
        """SHA-256 of a scored file, computed once per content (a file written again is hashed again)."""
        from models.artifact import sha256

        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = sha256(path)
        return self._digests[key]

    def top(self, n: int) -> list[dict]:
        """The ``n`` most suspicious flagged shipments, all columns."""
        return self._lf.filter(pl.col("flagged")).sort("risk_rank").head(n).collect().to_dicts()

    # --- data for the pictures -------------------------------------------------------------

    def supply_by_origin(self, importer: str, hs6: str) -> pl.DataFrame:
        """Monthly declared value of one importer's imports of one HS6, by origin."""
        if not {"importer_id", "hs_code", "arrival_date", "origin_country", "declared_value_usd"} <= set(self.columns):
            return pl.DataFrame(schema={"month": pl.Date, "origin_country": pl.String, "value": pl.Float64})
        return (
            self._lf.filter((pl.col("importer_id") == importer) & pl.col("hs_code").str.starts_with(hs6))
            .group_by(pl.col("arrival_date").dt.truncate("1mo").alias("month"), "origin_country")
            .agg(pl.col("declared_value_usd").sum().alias("value"))
            .sort("month", "origin_country")
            .collect()
        )

    def exports_by_month(self, exporter: str) -> pl.DataFrame:
        """Monthly declared value of one exporter's shipments (all HS codes)."""
        if not {"exporter_id", "arrival_date", "declared_value_usd"} <= set(self.columns):
            return pl.DataFrame(schema={"month": pl.Date, "value": pl.Float64})
        return (
            self._lf.filter(pl.col("exporter_id") == exporter)
            .group_by(pl.col("arrival_date").dt.truncate("1mo").alias("month"))
            .agg(pl.col("declared_value_usd").sum().alias("value"))
            .sort("month")
            .collect()
        )

    def first_day(self):
        """The first arrival date of the scored files (None without dates): the pictures draw
        the model's history for the months before it."""
        if "arrival_date" not in self.schema:
            return None
        return self._lf.select(pl.col("arrival_date").min()).collect().item()

    def price_by_month(self, hs6: str, origins: list[str]) -> pl.DataFrame:
        """Monthly geometric mean unit value (USD per kg) of one HS6 per origin, lines of
        known positive value and weight only (the state's ``price`` norm, on the scored file)."""
        needed = {"hs_code", "arrival_date", "origin_country", "declared_value_usd", "weight_kg"}
        if not needed <= set(self.columns) or not hs6:
            return pl.DataFrame(schema={"month": pl.Date, "origin_country": pl.String, "uv": pl.Float64})
        uv = pl.col("declared_value_usd") / pl.col("weight_kg")
        return (
            self._lf.filter(pl.col("hs_code").str.starts_with(hs6) & pl.col("origin_country").is_in(origins)
                            & (pl.col("declared_value_usd") > 0) & (pl.col("weight_kg") > 0))
            .group_by(pl.col("arrival_date").dt.truncate("1mo").alias("month"), "origin_country")
            .agg(uv.log().mean().exp().alias("uv"))
            .sort("month", "origin_country")
            .collect()
        )

    def unit_value_norms(self, row: dict) -> dict[str, float | None]:
        """Per-kg unit values: this shipment, declared-origin norm, tariffed-origin norm.

        Taken from ``ev_`` columns when the scorer wrote them; otherwise medians of
        the scored file by HS6 x origin (the tariffed origin defaults to CN).
        """
        value, weight = row.get("declared_value_usd"), row.get("weight_kg")
        own = row.get("ev_unit_value_kg")
        if own is None and value and weight:
            own = value / weight
        declared, tariffed = row.get("ev_norm_uv_declared"), row.get("ev_norm_uv_tariffed")
        tariffed_origin = row.get("ev_tariffed_origin") or "CN"
        hs = row.get("hs_code") or ""
        if (declared is None or tariffed is None) and len(hs) >= 6 and {"weight_kg", "declared_value_usd", "origin_country"} <= set(self.columns):
            wanted = [o for o in (row.get("origin_country"), tariffed_origin) if o]
            med = dict(
                self._lf.filter(pl.col("hs_code").str.starts_with(hs[:6]) & pl.col("origin_country").is_in(wanted))
                .group_by("origin_country")
                .agg((pl.col("declared_value_usd") / pl.col("weight_kg")).median().alias("uv"))
                .collect()
                .iter_rows()
            )
            declared = declared if declared is not None else med.get(row.get("origin_country"))
            tariffed = tariffed if tariffed is not None else med.get(tariffed_origin)
        return {"shipment": own, "declared": declared, "tariffed": tariffed, "tariffed_origin": tariffed_origin}


def _normalise(schema: pl.Schema) -> list[pl.Expr]:
    """Make CSV-read columns look like Parquet ones (bool flag, text ids, dates)."""
    exprs = []
    if schema["flagged"] != pl.Boolean:
        exprs.append(pl.col("flagged").cast(pl.String).str.to_lowercase().is_in(["true", "1", "yes"]).alias("flagged"))
    for c in ("risk_score",):
        if schema[c] != pl.Float64:
            exprs.append(pl.col(c).cast(pl.Float64, strict=False))
    if schema["risk_rank"] not in (pl.Int64, pl.Int32, pl.UInt32, pl.UInt64):
        exprs.append(pl.col("risk_rank").cast(pl.Int64, strict=False))
    if "arrival_date" in schema and schema["arrival_date"] != pl.Date:
        exprs.append(pl.col("arrival_date").cast(pl.String).str.to_date(strict=False))
    return exprs


def read_side_table(paths: str | Path | list | tuple | None, table: Table) -> pl.DataFrame | None:
    """Read component imports or tariff events for the pictures (None when not given).

    ``paths`` is one file or several (globs too). Goes through the validating reader, so
    these files follow the same contract and error messages as everywhere else; rejected
    rows are simply not drawn.
    """
    if paths is None or (isinstance(paths, (list, tuple)) and not paths):
        return None
    from detector.io.read import load

    files = [str(p) for p in paths] if isinstance(paths, (list, tuple)) else [str(paths)]
    return load(files, table).valid


def inputs_by_month(inputs: pl.DataFrame | None, exporter: str, hs_prefix: str = "") -> pl.DataFrame:
    """Monthly value of the component imports of one transit-country firm (its ``importer_id``)."""
    if inputs is None:
        return pl.DataFrame(schema={"month": pl.Date, "value": pl.Float64})
    df = inputs.filter(pl.col("importer_id") == exporter)
    if hs_prefix:
        df = df.filter(pl.col("hs_code").str.starts_with(hs_prefix))
    return (
        df.group_by(pl.col("arrival_date").dt.truncate("1mo").alias("month"))
        .agg(pl.col("declared_value_usd").sum().alias("value"))
        .sort("month")
    )


def events_for(events: pl.DataFrame | None, hs_code: str, importing_country: str | None = None) -> list[tuple]:
    """(effective_date, origin, name) of the tariff events that cover ``hs_code`` (and, when
    the line names its importing country, that country's events and those naming none)."""
    if events is None or not hs_code or not events.height:
        return []
    prefix = pl.col("hs_prefix").fill_null("")
    df = events.filter(pl.lit(hs_code).str.starts_with(prefix))
    if importing_country and "importing_country" in df.columns:
        df = df.filter(pl.col("importing_country").is_null() | (pl.col("importing_country") == importing_country))
    return [(r["effective_date"], r["origin_country"], r["name"]) for r in df.sort("effective_date").iter_rows(named=True)]


__all__ = ["Filters", "Page", "ScoredSet", "events_for", "inputs_by_month", "read_side_table"]
