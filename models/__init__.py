"""Isolation-forest training and scoring, calibration, reasons, MLflow tracking.

The only package that imports scikit-learn and mlflow; it knows nothing of Typer
or of the files a user named.
"""
