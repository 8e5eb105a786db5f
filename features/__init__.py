"""Pure Polars: the data contract and per-shipment transshipment signals.

Knows nothing of scikit-learn, MLflow or the files a user named.
"""

from features._runtime import configure_allocator as _configure_allocator

_configure_allocator()  # before anything imports Polars: see features/_runtime.py
