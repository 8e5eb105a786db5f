"""The scoring job behind `waypoint score`: files in, a ranked and explained file out.

read + map + validate -> features (with the model's reference state) -> forest score,
calibration, flags, reasons -> atomic write of the scored file and of the rejects.
Nothing read is lost: ``rows_read == rows_scored + rows_rejected`` is checked before
anything is written.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.io.mapping import Mapping
from detector.io.read import load, load_side_tables, rejects_path, write_rejects
from detector.io.write import output_format, write_table
from features.schema import SHIPMENTS

Progress = Callable[[str], None]


@dataclass
class ScoreResult:
    output: str
    rejects: str | None
    model: str
    model_version: str
    rows_read: int
    rows_scored: int
    rows_rejected: int
    reject_counts: dict[str, int]
    flagged: int
    seconds: float
    explored: int = 0  # flags reserved for the forest's picks (explore share)
    top_reason_codes: list[tuple[str, int]] = field(default_factory=list)
    top: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def score(
    shipments: Sequence[Path],
    output: Path,
    *,
    model,
    inputs: Sequence[Path] | None = None,
    events: Sequence[Path] | None = None,
    mapping: Path | None = None,
    budget: float | None = None,
    top: int | None = None,
    explore: float = 0.0,
    progress: Progress | None = None,
) -> ScoreResult:
    """Score shipment files with a loaded model (see ``detector.jobs.modelref``).

    ``model`` carries ``detector`` (a ``models.detector.Detector``), ``name`` and
    ``version``. ``budget`` (a share, e.g. 0.01) or ``top`` (a count) replace the
    model's own flag threshold. ``explore`` is the share of the flags reserved for the
    forest's most unusual shipments the ranker does not rank high (see
    ``models.ranker.explore_flags``); it does nothing for a model without a ranker.
    """
    from features.pipeline import build

    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    output = Path(output)
    output_format(output)  # refuse an unknown extension before doing any work
    if budget is not None and not 0 < budget <= 1:
        raise InputError(f"--budget must be a share between 0 and 1 (got {budget})", hint="e.g. --budget 1%")

    say("reading and validating shipments")
    loaded = load(shipments, SHIPMENTS, mapping=Mapping.from_toml(mapping) if mapping else None)
    inputs_loaded, events_loaded = load_side_tables(inputs, events)
    inputs_valid = inputs_loaded.valid if inputs_loaded is not None else None
    events_valid = events_loaded.valid
    detector = model.detector

    say(f"building features for {loaded.valid.height:,} shipments")
    frame = build(
        loaded.valid.lazy(),
        inputs=inputs_valid.lazy() if inputs_valid is not None else None,
        events=events_valid,
        state=detector.state,
    ).collect(engine="streaming")

    say("scoring")
    scored = detector.score(frame, budget=budget, top=top, explore=explore,
                            model_name=model.name, model_version=str(model.version))
    rows_rejected = loaded.rejects.height
    if scored.height + rows_rejected != loaded.rows_read:  # the promise of the contract: nothing lost
        raise RuntimeError(f"rows read {loaded.rows_read} != scored {scored.height} + rejected {rows_rejected}")

    say(f"writing {output}")
    write_table(scored.drop([c for c in ("_source", "_line") if c in scored.columns]), output)
    rejects_file = rejects_path(output)
    if rows_rejected:
        write_rejects(loaded, output)
    else:
        rejects_file.unlink(missing_ok=True)  # an old rejects file would describe another run

    flagged = scored.filter(pl.col("flagged"))
    codes = (
        flagged.select(pl.col("reason_codes").str.split(",").explode().alias("code"))
        .filter(pl.col("code").is_not_null() & (pl.col("code") != ""))
        .group_by("code").len().sort(["len", "code"], descending=[True, False]).head(8)
    )
    warnings = []
    expected = float(detector.params.get("contamination", 0.0))
    if budget is None and top is None and expected and scored.height >= 100 and flagged.height > 5 * expected * scored.height:
        warnings.append(
            f"{flagged.height / scored.height:.0%} of the rows are above the model's threshold, which flagged "
            f"{expected:.1%} of its training shipments: this file differs from the training span (new events, "
            "other trade); use --budget to flag what the team can inspect, and consider retraining"
        )
    top_rows = flagged.head(10).select(
        "risk_rank", "shipment_id", "risk_score", "exporter_id", "origin_country", "hs_code", "reasons"
    )
    return ScoreResult(
        output=str(output),
        rejects=str(rejects_file) if rows_rejected else None,
        model=model.name,
        model_version=str(model.version),
        rows_read=loaded.rows_read,
        rows_scored=scored.height,
        rows_rejected=rows_rejected,
        reject_counts=dict(loaded.reject_counts),
        flagged=flagged.height,
        explored=int(scored["explore"].sum()) if "explore" in scored.columns else 0,
        seconds=round(time.perf_counter() - started, 2),
        top_reason_codes=[tuple(r) for r in codes.iter_rows()],
        warnings=warnings,
        top=top_rows.to_dicts(),
    )
