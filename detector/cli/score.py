"""`waypoint score`: rank shipment files with a registered model."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, json_text, results, safe
from detector.cli._options import InputsOption, MappingOption, MasterOption, MaxRejectShareOption
from detector.errors import InputError


def parse_budget(text: str | None) -> float | None:
    """'1%' -> 0.01, '0.02' -> 0.02; None stays None. A bare '1' (no %) is refused with a hint:
    it is 1 % or one line (--top 1), never 100 % of the file."""
    if text is None:
        return None
    from models.calibration import parse_share

    return parse_share(text, what="--budget")


def parse_threshold(text: str | None) -> bool:
    """``--threshold model`` flags the lines above the model's threshold; nothing else is a threshold."""
    if text is None:
        return False
    if text.strip().lower() != "model":
        raise InputError(f"--threshold {text!r}: the only threshold is the model's own",
                         hint="--threshold model, or --budget 1% / --top 100 to flag a number of lines")
    return True


def parse_country(text: str | None, what: str = "--importing-country") -> str | None:
    """An ISO 3166-1 alpha-2 code (upper-cased), as the data contract's country columns."""
    if text is None:
        return None
    code = text.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise InputError(f"{what} {text!r} is not a two-letter country code", hint=f"e.g. {what} US or {what} BR")
    return code


def score(
    shipments: Annotated[list[str], typer.Argument(help="Shipment files or globs (CSV or Parquet).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Scored file to write (.parquet or .csv).")],
    model: Annotated[
        str | None, typer.Option("--model", help="NAME@ALIAS, NAME/VERSION or a run id (default: waypoint@champion).")
    ] = None,
    inputs: InputsOption = None,
    events: Annotated[list[str] | None, typer.Option(
        "--events",
        help="Tariff events replacing the model's own (default: the events the model was trained with); scores then "
             "differ from its training context.",
    )] = None,
    mapping: MappingOption = None,
    parties: Annotated[list[str] | None, typer.Option(
        "--parties",
        help="Known-party list replacing the model's own (default: the list the model was trained with, if any); "
             "flags of listed parties carry KNOWN_PARTY.",
    )] = None,
    rank_by: Annotated[str, typer.Option(
        "--rank-by",
        help="risk (default): rank and flag by risk score; recovery: by expected recovery (probability of fraud x "
             "duty at risk), so the budget takes the lines with the most duty to recover (needs a model trained "
             "with --labels).",
    )] = "risk",
    budget: Annotated[str | None, typer.Option(
        "--budget", help="Flag this share of the file, e.g. 1% (default: the model's inspection budget, 1% unless set at training).",
    )] = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Flag exactly the N most suspicious shipments.")] = None,
    threshold: Annotated[str | None, typer.Option(
        "--threshold", help="`--threshold model`: flag the lines above the model's threshold instead of a budget.",
    )] = None,
    importing_country: Annotated[str | None, typer.Option(
        "--importing-country",
        help="Country whose imports these are, for lines that do not say (default: the model's); only its tariff measures apply.",
    )] = None,
    explore: Annotated[float, typer.Option(
        "--explore", min=0.0, max=0.9,
        help="Share of the flags reserved for shipments the forest finds unusual but the ranker does not rank high "
             "(marked in the `explore` column); no effect on a model without a ranker.",
    )] = 0.1,
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Reject every line that breaks a rule instead of scoring it with data-quality codes, "
                         "and fail when a side table (--inputs, --events) rejects rows.",
    )] = False,
    max_reject_share: MaxRejectShareOption = None,
    chunk_rows: Annotated[int | None, typer.Option(
        "--chunk-rows", min=1,
        help="Memory bound: a file of more lines is built a few arrival months and scored this many lines at a time "
             "(same scores; default 1,000,000).",
    )] = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="`spark`: score on Apache Spark (paths Spark reads; a Parquet dataset partitioned by "
                         "arrival month, OUT.flagged.parquet and OUT.rejects.parquet beside it; needs the spark extra: pip install 'waypoint\\[spark]').",
    )] = "local",
    master: MasterOption = None,
) -> None:
    """Score SHIPMENTS: write a ranked file with risk scores, flags and reasons (rejects beside it)."""
    from detector.config import Settings
    from detector.io.read import parse_share
    from detector.jobs.requests import ScoreRequest

    if sum(x is not None for x in (budget, top, threshold)) > 1:
        raise InputError("give one flag rule: --budget, --top or --threshold model",
                         hint="without any, the model's inspection budget is used")
    flag_threshold = parse_threshold(threshold)
    rank = parse_rank_by(rank_by)
    country = parse_country(importing_country)
    share = parse_share(max_reject_share)
    on_spark = _engine(engine) == "spark"
    # The whole run as one value, before any file is read or the model looked up; paths stay
    # as typed for Spark (``s3a://...``).
    request = ScoreRequest.of(
        shipments, spark_path(output) if on_spark else output, inputs=inputs or None, events=events or None,
        parties=parties or None, mapping=mapping, budget=parse_budget(budget), top=top, threshold=flag_threshold,
        explore=explore, rank_by=rank, importing_country=country, strict=strict, max_reject_share=share,
        chunk_rows=chunk_rows,
    )
    if on_spark:
        from detector.spark.score import run as spark_run

        with err_console.status("starting Spark") as status:
            result = spark_run(request, model, settings=Settings.from_env(), master=master,
                               say=lambda msg: status.update(safe(msg)))
    else:
        from detector.jobs.score import run

        with err_console.status("reading shipments and loading the model") as status:
            result = run(request, model, settings=Settings.from_env(), say=lambda msg: status.update(safe(msg)))
    if json:
        typer.echo(json_text(result.to_dict()))
        return
    render_summary(result)


def parse_rank_by(text: str) -> str:
    """What ranks and flags the lines: ``risk`` or ``recovery`` (any case)."""
    rank_by = text.strip().lower()
    if rank_by not in ("risk", "recovery"):
        raise InputError(f"--rank-by {rank_by!r}: rank by risk or by recovery", hint="--rank-by risk or --rank-by recovery")
    return rank_by


def _engine(text: str) -> str:
    engine = text.strip().lower()
    if engine not in ("local", "spark"):
        raise InputError(f"--engine {text!r}: the engines are local and spark", hint="--engine spark")
    return engine


def spark_path(path: Path) -> str:
    """An output path as typed, for Spark: ``s3a://b/x`` survives the Path the option parsed it into."""
    text = str(path)
    scheme, sep, rest = text.partition(":/")
    if sep and scheme.isalnum() and len(scheme) > 1 and not rest.startswith("/"):
        return f"{scheme}://{rest}"
    return text


def score_text(risk_score: float) -> str:
    """A risk score as analysts read it: the percentile, and at the top its rarity among the
    training lines, which tells the first flag of a drifted file from the thousandth."""
    if risk_score < 99.0:
        return f"{risk_score:5.1f}"
    if risk_score >= 100.0:
        return "100.0 (beyond every training line)"
    return f"{risk_score:5.1f} (1 in {100.0 / (100.0 - risk_score):,.0f})"


def render_summary(result, console=None) -> None:
    """The run's summary on stdout (or ``console``); ids, reasons and names from the data print literally."""
    say = (console or results()).print
    say(
        f"[bold]{result.rows_read:,}[/] rows read = [bold]{result.rows_scored:,}[/] scored + "
        f"[bold]{result.rows_rejected:,}[/] rejected · [bold red]{result.flagged:,}[/] flagged · "
        f"model {safe(result.model)} v{safe(result.model_version)} · {result.seconds:.1f}s"
    )
    if getattr(result, "flag_rule", ""):
        say(f"flags: {safe(result.flag_rule)} · {result.above_threshold:,} line(s) above the model's threshold", highlight=False)
        inputs = "--inputs given" if result.inputs_used else "no --inputs (value added from the model's reference state alone)"
        say(f"context: tariff events {safe(result.events)} (digest {safe(result.events_digest[:12])}) · importing country "
            f"{safe(result.importing_country or 'not stated')} · {inputs}", highlight=False, soft_wrap=True)
        if getattr(result, "parties", "") not in ("", "none"):
            say(f"known parties: {safe(result.parties)}", highlight=False, soft_wrap=True)
        if getattr(result, "rank_by", "risk") == "recovery":
            say("ranked by expected recovery (probability of fraud x duty at risk): the flags hold the most duty to recover",
                highlight=False)
    if getattr(result, "explored", 0):
        say(f"{result.explored:,} of the flags explore: unusual to the forest, not ranked high by the ranker (column `explore`)")
    if result.reject_counts:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(result.reject_counts.items(), key=lambda kv: -kv[1]))
        say(f"rejected rows by reason: {safe(reasons)} → {safe(result.rejects)}", highlight=False)
    if getattr(result, "dq_counts", None):
        codes = ", ".join(f"{k} {v:,}" for k, v in result.dq_counts.items())
        say(f"scored with data-quality codes (column dq_codes): {safe(codes)}", highlight=False)
    if result.top:
        say(f"[bold]Top {len(result.top)} suspects[/] (rank · score · shipment · exporter · origin · HS):")
        for row in result.top:
            say(
                f"  [bold]{row['risk_rank']:>3}[/] · {score_text(row['risk_score'])} · {safe(row['shipment_id'])} · "
                f"{safe(row['exporter_id'])} · {safe(row['origin_country'])} · {safe(row['hs_code'])}",
                highlight=False,
            )
            for reason in (row["reasons"] or "").split(" | "):
                if reason:
                    say(f"        – {safe(reason)}", highlight=False, soft_wrap=True)
    if result.top_reason_codes:
        say("top reason codes among flags: " + safe(", ".join(f"{c} ({n})" for c, n in result.top_reason_codes)))
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False)
    say(f"scored file: [bold]{safe(result.output)}[/]", highlight=False)
