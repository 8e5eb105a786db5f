"""waypoint's application layer: CLI, files, mappings, generator, review, reports."""
from importlib.metadata import PackageNotFoundError, version


try:
    __version__ = version("waypoint")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
