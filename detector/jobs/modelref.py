"""Load the model a reference the user typed names: a loaded, verified detector.

References: ``NAME@ALIAS`` (``waypoint@champion``), ``NAME/VERSION`` (``waypoint/2``),
``models:/...``, a bare ``NAME`` (its champion), a run id, or a local directory
written by ``models.artifact.save``. Errors of the model layer (``ArtifactError``,
``TrackingError``) become ``ModelError`` here, so the CLI prints one line and
exits 3.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from detector.config import Settings
from detector.errors import ModelError


@dataclass(frozen=True)
class LoadedModel:
    """A detector with the registry name and version that produced it (for output columns)."""

    detector: Any  # models.detector.Detector
    name: str
    version: str
    ref: str
    run_id: str | None = None


@contextmanager
def model_errors() -> Iterator[None]:
    """Turn the model layer's own exceptions into ``ModelError`` (exit 3) with their hint.

    ``ArtifactError`` and ``TrackingError`` derive from ``ModelError``: catching the base
    keeps this from importing ``models.tracking`` (and so mlflow).
    """
    try:
        yield
    except ModelError as exc:
        raise ModelError(str(exc), hint=exc.hint) from None


def store(settings: Settings | None = None):
    """The MLflow store of ``settings`` (default: from the environment)."""
    from models.tracking import Store

    return Store.from_settings(settings or Settings.from_env())


#: What ``waypoint score`` uses when no --model is given.
DEFAULT_REF = "waypoint@champion"


def saved_dir(ref: str) -> Path | None:
    """``ref`` as a saved model's folder, or None for a registry reference.

    A folder holding a manifest, or anything written as a path; a bare name such as
    "bench" stays a registry name even when the working directory holds a folder of that name.
    """
    path = Path(ref)
    if path.is_dir() and ((path / "manifest.json").is_file() or "/" in ref or ref.startswith(".")):
        return path
    return None


def resolver(ref: str | None = None, settings: Settings | None = None) -> Callable[[], LoadedModel]:
    """A function loading the model of ``ref`` (for ``score``'s background load), after
    checking now that the reference exists when that is cheap.

    In waypoint's embedded store the registry is read without MLflow in milliseconds, so
    a missing model is reported before any input is read. For other stores the check
    would cost MLflow's import in the foreground: it is left to the returned function.
    """
    ref = ref or DEFAULT_REF
    settings = settings or Settings.from_env()
    if saved_dir(ref) is None:
        where = store(settings)
        if where.sqlite() is not None:
            from models.tracking import find_version

            with model_errors():
                find_version(where, ref)
    return lambda: load_model_ref(ref, settings)


def load_model_ref(ref: str | None = None, settings: Settings | None = None) -> LoadedModel:
    """Load the detector ``ref`` points to (default ``waypoint@champion``), verifying its files."""
    ref = ref or DEFAULT_REF
    path = saved_dir(ref)
    if path is not None:
        from models import artifact

        with model_errors():
            detector = artifact.load(path)
        return LoadedModel(detector, name=path.name, version="local", ref=str(path))

    from models.tracking import load_detector

    with model_errors():
        detector, resolved = load_detector(store(settings), ref)
    return LoadedModel(
        detector,
        name=resolved.name or ref,
        version=str(resolved.version) if resolved.version is not None else "",
        ref=ref,
        run_id=resolved.run_id,
    )

