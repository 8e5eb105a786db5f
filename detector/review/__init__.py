"""Reviewing flagged shipments: decision store, lazy queue, web page, charts.

``store`` keeps analysts' decisions (append-only SQLite), ``queue`` reads scored
files lazily, ``charts`` draws inline SVG shared by the page and the HTML report,
``security`` guards the local web page, ``app`` builds the FastAPI application.
"""
