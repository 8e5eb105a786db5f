"""waypoint's application layer: CLI, files, mappings, generator, review, reports.

The Python API (``detector.api``) is re-exported here, loaded on first use so that
``import detector`` (and ``waypoint --help``) imports nothing heavy::

    from detector import load_model, score, train
"""
from importlib.metadata import PackageNotFoundError, version


try:
    __version__ = version("waypoint")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

#: Names of ``detector.api`` available from ``detector`` itself.
_API = ("Model", "load_model", "score", "train", "tracking_uri")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from detector import api

        return getattr(api, name)
    raise AttributeError(f"module 'detector' has no attribute {name!r}")
