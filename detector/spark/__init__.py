"""waypoint on Apache Spark: ``waypoint score --engine spark`` and ``waypoint train --engine spark``.

Spark reads, maps and validates the files (the single-machine reader runs on each Arrow
batch of lines), sums each source of history per key and period (integers, so the sums
are exact in any order), and builds the features of each arrival month with the
single-machine ``features.pipeline.build`` against a state holding everything before that
month: the same rule ``features.pipeline.build_chunked`` follows on one machine. Scores
come from the same model artifact, loaded once per Python worker; ranks and flags are
file-wide (``models.detector.Detector.rank`` over every line's scores on the driver).

Nothing here is imported by ``waypoint --help``: pyspark is an optional extra
(``pip install 'waypoint[spark]'``) and is imported only when a Spark job runs.
See ``docs/spark.md``.
"""
