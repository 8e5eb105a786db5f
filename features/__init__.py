"""Pure Polars: the data contract and per-shipment transshipment signals.

Knows nothing of scikit-learn, MLflow or the files a user named. Importing it changes
nothing in the process.
"""
