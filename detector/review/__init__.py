"""Reviewing flagged shipments: decision store, lazy queue, web page, charts.

``store`` keeps analysts' decisions (append-only SQLite), ``queue`` reads scored
files lazily, ``charts`` draws the pictures (matplotlib SVG, imported on first use) shared
by the page and the HTML report, ``history`` finds the model's reference state behind them,
``security`` guards the local web page, ``app`` builds the FastAPI application.
"""
