"""`waypoint demo`: the whole loop on a generated world, in one fresh directory.

generate a world -> split it in time (train on the first months, score the last ones)
-> train and register a model in an MLflow store inside the demo directory -> score
the held-out months -> evaluate against the known labels -> write the HTML report.
The user's own ``$WAYPOINT_HOME`` is never touched: the demo keeps its store in
``DIR/home``.
"""
from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from detector.config import Settings
from detector.errors import InputError
from detector.io.write import write_table

MARKER = ".waypoint-demo"
Progress = Callable[[str], None]


#: Share of the demo world's lines that are general customs fraud (detector/synth/fraud.py).
DEMO_FRAUD_MIX = 0.06

@dataclass
class DemoResult:
    directory: Path
    world: dict[str, Path]
    train_file: Path
    holdout_file: Path
    cutoff: dt.date
    settings: Settings
    train: object  # detector.jobs.train.TrainResult
    score: object  # detector.jobs.score.ScoreResult
    evaluation: object  # detector.evaluate.Evaluation
    report: Path
    outcomes_file: Path
    retrained: object  # TrainResult of the model trained with outcomes
    rescored: object  # ScoreResult of the same held-out months with that model
    reevaluation: object  # Evaluation, with forest / ranker / combination figures


def prepare_directory(directory: Path) -> Path:
    """Start from an empty directory; only a previous demo's directory is ever wiped."""
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise InputError(f"{directory} exists and is not a waypoint demo directory",
                             hint="pass --dir with a new or empty directory")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by `waypoint demo`; safe to delete\n")
    return directory


def run_demo(
    directory: Path,
    *,
    shipments: int = 30_000,
    seed: int = 7,
    months: int = 24,
    holdout_months: int = 6,
    n_estimators: int = 200,
    budget: float = 0.01,
    outcome_share: float = 0.3,
    progress: Progress | None = None,
) -> DemoResult:
    from detector.evaluate import evaluate
    from detector.jobs.modelref import load_model_ref
    from detector.jobs.score import score
    from detector.jobs.train import train
    from detector.report import write_report
    from detector.synth import generate_world, write_world
    from detector.synth.world import add_months

    say = progress or (lambda _msg: None)
    directory = prepare_directory(Path(directory))
    settings = Settings.from_env({"WAYPOINT_HOME": str(directory / "home")})

    start = dt.date(2024, 1, 1)
    say(f"generating a world of {shipments:,} shipments over {months} months")
    # Outcomes record every kind of fraud an inspection finds: the demo's world holds general
    # customs fraud beside transshipment, which the outcome-trained version learns.
    world = generate_world(shipments, seed=seed, start=start, months=months, fraud_mix=DEMO_FRAUD_MIX)
    files = write_world(world, directory / "world")

    cutoff = add_months(start, months - holdout_months)
    train_file = write_table(world.shipments.filter(pl.col("arrival_date") < cutoff), directory / "world" / "train.csv")
    holdout_file = write_table(world.shipments.filter(pl.col("arrival_date") >= cutoff),
                               directory / "world" / "holdout.csv")

    say(f"training on shipments before {cutoff} (MLflow store in {settings.home})")
    trained = train([train_file], inputs=[files["inputs"]], events=[files["events"]],
                    n_estimators=n_estimators, seed=seed, settings=settings, say=say)

    model = load_model_ref(f"{trained.model_name}/{trained.model_version}", settings)
    scored_path = directory / "scored.parquet"
    say(f"scoring the {holdout_months} held-out months")
    scored = score([holdout_file], scored_path, model=model, inputs=[files["inputs"]], events=[files["events"]],
                   budget=budget, progress=say)

    say("evaluating against the known labels")
    evaluation = evaluate(scored_path, files["labels"])
    say("writing the HTML report")
    report = write_report([scored_path], directory / "report.html", inputs=files["inputs"],
                          events=files["events"]).path

    # The loop closes: outcomes of past inspections (here: the known labels of a random
    # share of the training months) train a second version with a supervised ranker.
    # It is registered but not promoted: the champion changes only by `models promote`.
    outcomes = world.labels.join(world.shipments.select("shipment_id", "arrival_date"), on="shipment_id")
    outcomes = outcomes.filter(pl.col("arrival_date") < cutoff).sample(fraction=outcome_share, seed=seed)
    outcomes_file = write_table(outcomes.select("shipment_id", "label").sort("shipment_id"),
                                directory / "world" / "outcomes-train.csv")
    say(f"training version 2 with {outcomes.height:,} known outcomes")
    retrained = train([train_file], inputs=[files["inputs"]], events=[files["events"]], labels=outcomes_file,
                      n_estimators=n_estimators, seed=seed, settings=settings, say=say)
    model2 = load_model_ref(f"{retrained.model_name}/{retrained.model_version}", settings)
    rescored_path = directory / "scored-with-outcomes.parquet"
    rescored = score([holdout_file], rescored_path, model=model2, inputs=[files["inputs"]],
                     events=[files["events"]], budget=budget, progress=say)
    reevaluation = evaluate(rescored_path, files["labels"])
    return DemoResult(directory, files, train_file, holdout_file, cutoff, settings, trained, scored, evaluation,
                      Path(report), outcomes_file, retrained, rescored, reevaluation)
