"""Real scored files whose most suspicious shipments carry ids as customs systems write them."""
from __future__ import annotations

from pathlib import Path

import polars as pl

#: Printable ids that break naive URL handling, HTML or the terminal: path separators and
#: dot segments, percent signs, query and fragment marks, spaces, plus, unicode, markup.
HOSTILE_IDS = (
    "NEN/2026/000123",
    "../../etc/passwd",
    "..",
    ".",
    "A%2FB%",
    "Q?x=1&y=2#frag",
    "ENTRY 12 34",
    "名古屋-税関/7",
    "a+b=c;d",
    "[red]x[/red] [/b]",
    '<b>x</b>"\'',
    "ends/with/decide",
)


def score_with_hostile_ids(world: dict, model, out_dir: Path, *, budget: float = 0.02) -> tuple[Path, dict[str, str]]:
    """Score the world's holdout with its top flags renamed to ``HOSTILE_IDS``.

    The holdout is scored once to find its most suspicious shipments; their ids are
    replaced in the input file, which is scored again (ids do not enter the features, so
    the same shipments stay on top). Returns the scored file and ``{old id: new id}``.
    """
    from detector.jobs.score import score

    out_dir.mkdir(parents=True, exist_ok=True)
    first = out_dir / "first.parquet"
    score([world["holdout"]], first, model=model, inputs=[world["inputs"]], events=[world["events"]], budget=budget)
    top = pl.read_parquet(first).sort("risk_rank")["shipment_id"].head(len(HOSTILE_IDS)).to_list()
    renamed = dict(zip(top, HOSTILE_IDS))
    holdout = pl.read_csv(world["holdout"], infer_schema=False)
    holdout = holdout.with_columns(pl.col("shipment_id").replace(renamed))
    hostile_input = out_dir / "holdout-hostile.csv"
    holdout.write_csv(hostile_input)
    scored = out_dir / "scored-hostile.parquet"
    score([hostile_input], scored, model=model, inputs=[world["inputs"]], events=[world["events"]], budget=budget)
    return scored, renamed
