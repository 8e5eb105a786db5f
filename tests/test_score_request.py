"""A score run as one request: how the keyword forms build it, what is refused before the
model is looked up, and that the job leaves the process as it found it."""
from __future__ import annotations

import gc

import polars as pl
import pytest

from detector.errors import InputError
from detector.jobs.requests import Flags, ScoreFiles, ScoreRequest


def test_score_request_of_puts_flag_options_in_flags_and_files_by_role():
    request = ScoreRequest.of("a.csv", "out.parquet", inputs=["i1.csv", "i2.csv"], parties="p.csv", budget=0.02,
                              explore=0.1, strict=True, chunk_rows=500)
    assert request.files == ScoreFiles(("a.csv",), inputs=("i1.csv", "i2.csv"), parties=("p.csv",))
    assert request.flags == Flags(budget=0.02, explore=0.1)
    assert request.strict and request.chunk_rows == 500
    assert request.options(500) == {"budget": 0.02, "top": None, "threshold": False, "explore": 0.1, "rank_by": "risk",
                                    "importing_country": None, "chunk_rows": 500, "strict": True,
                                    "max_reject_share": None}


def test_score_request_of_refuses_an_unknown_option_by_name():
    with pytest.raises(TypeError, match="budgett"):
        ScoreRequest.of(["a.csv"], "out.parquet", budgett=0.02)


def test_python_score_refuses_an_output_over_its_party_list_before_looking_up_the_model(small_world, tmp_path):
    from detector import score

    parties = tmp_path / "parties.csv"
    parties.write_text("party_id,role\nX1,exporter\n")
    with pytest.raises(InputError, match="it would be overwritten"):
        score([small_world["holdout"]], parties.with_suffix(".csv"), parties=[parties], model="no-such-model@champion")
    assert parties.read_text() == "party_id,role\nX1,exporter\n"


def test_score_job_leaves_the_garbage_collector_as_it_found_it(small_world, trained_model, tmp_path):
    """Process tuning is the entry point's (detector.runtime): the job neither pauses the
    collector while it reads nor freezes the objects alive once the model is in."""
    from detector.jobs.score import run

    seen = []

    def load():  # called on the job's thread while the shipments are read
        seen.append(gc.isenabled())
        return trained_model

    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    out = tmp_path / "scored.parquet"
    result = run(ScoreRequest.of([small_world["holdout"]], out, inputs=[small_world["inputs"]],
                                 events=[small_world["events"]]), load)
    assert seen == [True]
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    assert pl.read_parquet(out).height == result.rows_scored
