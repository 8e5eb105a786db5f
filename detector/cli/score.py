"""`waypoint score`: rank shipment files with a registered model."""
from __future__ import annotations

from pathlib import Path

import typer

from detector.cli._console import err_console, json_text, results, safe
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
    shipments: list[str] = typer.Argument(..., help="Shipment files or globs (CSV or Parquet)."),
    output: Path = typer.Option(..., "-o", "--output", help="Scored file to write (.parquet or .csv)."),
    model: str = typer.Option(None, "--model", help="NAME@ALIAS, NAME/VERSION or a run id (default: waypoint@champion)."),
    inputs: list[str] = typer.Option(None, "--inputs", help="Component imports of the transit countries (files or globs)."),
    events: list[str] = typer.Option(
        None, "--events",
        help="Tariff events replacing the model's own (default: the events the model was trained with); scores then "
             "differ from its training context.",
    ),
    mapping: Path = typer.Option(None, "--mapping", help="TOML column mapping for foreign files."),
    parties: list[str] = typer.Option(
        None, "--parties",
        help="Known-party list replacing the model's own (default: the list the model was trained with, if any); "
             "flags of listed parties carry KNOWN_PARTY.",
    ),
    rank_by: str = typer.Option(
        "risk", "--rank-by",
        help="risk (default): rank and flag by risk score; recovery: by expected recovery (probability of fraud x "
             "duty at risk), so the budget takes the lines with the most duty to recover (needs a model trained "
             "with --labels).",
    ),
    budget: str = typer.Option(
        None, "--budget", help="Flag this share of the file, e.g. 1% (default: the model's inspection budget, 1% unless set at training).",
    ),
    top: int = typer.Option(None, "--top", min=1, help="Flag exactly the N most suspicious shipments."),
    threshold: str = typer.Option(
        None, "--threshold", help="`--threshold model`: flag the lines above the model's threshold instead of a budget.",
    ),
    importing_country: str = typer.Option(
        None, "--importing-country",
        help="Country whose imports these are, for lines that do not say (default: the model's); only its tariff measures apply.",
    ),
    explore: float = typer.Option(
        0.1, "--explore", min=0.0, max=0.9,
        help="Share of the flags reserved for shipments the forest finds unusual but the ranker does not rank high "
             "(marked in the `explore` column); no effect on a model without a ranker.",
    ),
    json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    strict: bool = typer.Option(
        False, "--strict", help="Reject every line that breaks a rule instead of scoring it with data-quality codes, "
                                "and fail when a side table (--inputs, --events) rejects rows.",
    ),
    max_reject_share: str = typer.Option(None, "--max-reject-share", help="Fail (exit 2) when more than this share of the lines is rejected, e.g. 5%."),
    chunk_rows: int = typer.Option(
        None, "--chunk-rows", min=1,
        help="Memory bound: a file of more lines is built a few arrival months and scored this many lines at a time "
             "(same scores; default 1,000,000).",
    ),
    engine: str = typer.Option(
        "local", "--engine", help="`spark`: score on Apache Spark (paths Spark reads; a Parquet dataset partitioned by "
                                  "arrival month, OUT.flagged.parquet and OUT.rejects.parquet beside it; needs the spark extra: pip install 'waypoint\\[spark]').",
    ),
    master: str = typer.Option(None, "--master", help="With --engine spark: the Spark master URL (default: the active session, else local[*])."),
) -> None:
    """Score SHIPMENTS: write a ranked file with risk scores, flags and reasons (rejects beside it)."""
    from detector.config import Settings
    from detector.jobs.modelref import resolver

    if sum(x is not None for x in (budget, top, threshold)) > 1:
        raise InputError("give one flag rule: --budget, --top or --threshold model",
                         hint="without any, the model's inspection budget is used")
    flag_threshold = parse_threshold(threshold)
    rank_by = rank_by.strip().lower()
    if rank_by not in ("risk", "recovery"):
        raise InputError(f"--rank-by {rank_by!r}: rank by risk or by recovery", hint="--rank-by risk or --rank-by recovery")
    country = parse_country(importing_country)
    from detector.io.read import parse_share, rejects_path

    share = parse_share(max_reject_share)
    if _engine(engine) == "spark":
        from detector.spark.score import score as spark_score

        if parties or rank_by != "risk":
            raise InputError("--parties and --rank-by recovery are not available with --engine spark yet",
                             hint="score without them on Spark, or on one machine (--engine local)")

        with err_console.status("starting Spark") as status:
            result = spark_score(
                shipments, spark_path(output), model=model, settings=Settings.from_env(), inputs=inputs or None,
                events=[Path(p) for p in events] if events else None, mapping=mapping, budget=parse_budget(budget),
                top=top, threshold=flag_threshold, explore=explore, importing_country=country, strict=strict,
                max_reject_share=share, master=master, progress=lambda msg: status.update(safe(msg)),
            )
        if json:
            typer.echo(json_text(result.to_dict()))
        else:
            render_summary(result)
        return
    from detector.io.write import check_output
    from detector.lineage import sidecar_path

    # Before any work: the scored file and its rejects must not land on an input, nor on a folder.
    check_output(output, [*shipments, *(inputs or []), *(events or []), *(parties or []), mapping],
                 beside=[rejects_path(output), *(rejects_path(output, role) for role in ("inputs", "events", "parties")),
                         sidecar_path(output)])
    settings = Settings.from_env()
    load_model = resolver(model, settings)  # a missing model is reported now, before any file is read
    from detector.jobs.score import score as run_score  # the scoring stack's imports: after that answer
    with err_console.status("reading shipments and loading the model") as status:
        result = run_score(
            [Path(s) for s in shipments], output, model=load_model,
            inputs=[Path(p) for p in inputs] if inputs else None,
            events=[Path(p) for p in events] if events else None,
            mapping=mapping, budget=parse_budget(budget), top=top, explore=explore,
            parties=[Path(p) for p in parties] if parties else None, rank_by=rank_by,
            threshold=flag_threshold, importing_country=country, strict=strict, max_reject_share=share,
            progress=lambda msg: status.update(safe(msg)),
            **({"chunk_rows": chunk_rows} if chunk_rows else {}),
        )
    if json:
        typer.echo(json_text(result.to_dict()))
        return
    render_summary(result)


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
