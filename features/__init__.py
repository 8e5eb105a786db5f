"""Pure Polars: the data contract and per-shipment transshipment signals.

Knows nothing of scikit-learn, MLflow or the files a user named.
"""
