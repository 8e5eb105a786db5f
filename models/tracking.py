"""MLflow tracking and registry: where trained detectors are recorded, versioned and found.

With ``models.mlflow_model`` this is the only module importing ``mlflow``, so nothing
else pays its import cost (1-3 s). The embedded store is SQLite at
``$WAYPOINT_HOME/mlflow.db`` with artifacts in ``$WAYPOINT_HOME/mlartifacts`` (absolute
URIs, so nothing lands relative to the working directory); ``MLFLOW_TRACKING_URI``
replaces it. A fresh SQLite store runs its migrations on first use and concurrent
first uses break each other (``duplicate column name``), so opening the embedded store
takes an exclusive file lock.

Model versions are registered under one name (default ``waypoint``); the alias
``champion`` is set only while the model has none (its first version). Later versions are promoted on purpose
(``promote``), so a retrain never silently changes what ``waypoint score`` uses.
"""
from __future__ import annotations

import fcntl
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

# Telemetry is on by default in mlflow; it must be off before the import. Its INFO
# logs (table creation, migrations) are noise in a CLI that prints its own summary.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

import mlflow  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from models.artifact import ArtifactError  # noqa: E402
from models.errors import ModelError  # noqa: E402

CHAMPION = "champion"
#: The code file MLflow stores with each model ("model from code": nothing pickled).
MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
#: Where the saved detector directory lives inside a logged pyfunc model.
DETECTOR_ARTIFACT = "detector"
#: Distributions we record as requirements of a logged model (explicit: inference costs ~3.6 s).
_REQUIREMENTS = ("mlflow", "numpy", "pandas", "polars", "pyarrow", "scikit-learn", "skops", "numba")


class TrackingError(ModelError):
    """The tracking store or registry cannot do what was asked (unknown model, version, run)."""


@dataclass(frozen=True)
class Store:
    """Where runs and models are kept: a tracking URI, an artifact root, and whether we own it."""

    tracking_uri: str
    artifact_root: Path
    registry_uri: str | None = None
    embedded: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> "Store":
        """Build from ``detector.config.Settings`` (duck-typed: models does not import detector)."""
        return cls(
            tracking_uri=settings.tracking_uri,
            artifact_root=Path(settings.artifact_root),
            registry_uri=settings.registry_uri,
            embedded=settings.embedded_store,
        )

    @property
    def location(self) -> str:
        """Human-readable place of the store (the SQLite file for the embedded one)."""
        return _sqlite_path(self.tracking_uri) or self.tracking_uri

    @property
    def ui_command(self) -> str:
        """The exact command that browses this store in the MLflow UI."""
        cmd = f"mlflow ui --backend-store-uri {self.tracking_uri}"
        if self.embedded:
            cmd += f" --default-artifact-root {self.artifact_root.as_uri()}"
        return cmd

    def client(self) -> MlflowClient:
        """A client on this store; initialises a fresh embedded store once, under a file lock."""
        if self.embedded:
            db = _sqlite_path(self.tracking_uri)
            if db is not None:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
                self.artifact_root.mkdir(parents=True, exist_ok=True)
                with _locked(Path(db + ".lock")):
                    client = MlflowClient(self.tracking_uri, self.registry_uri)
                    # Touching both stores runs the migrations (once) while we hold the lock.
                    client.search_experiments(max_results=1)
                    client.search_registered_models(max_results=1)
                    return client
        return MlflowClient(self.tracking_uri, self.registry_uri)

    def experiment_id(self, client: MlflowClient, name: str) -> str:
        """Get or create an experiment, with an explicit (absolute) artifact location."""
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = (self.artifact_root / name).as_uri() if self.embedded else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by a concurrent run
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id


def _sqlite_path(uri: str) -> str | None:
    prefix = "sqlite:///"
    return uri[len(prefix):] if uri.startswith(prefix) else None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _fluent_uri(store: Store) -> Iterator[None]:
    """Point mlflow's fluent API (needed by ``log_model``) at ``store``, then restore it.

    ``mlflow.set_tracking_uri`` also writes ``MLFLOW_TRACKING_URI`` (and the registry
    URI) into ``os.environ``; left there, it would redirect every later ``Settings``
    of this process, so both the module state and the variables are put back.
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved_env = {name: os.environ.get(name) for name in names}
    saved_tracking = getattr(tracking_utils, "_tracking_uri", None)
    saved_registry = getattr(registry_utils, "_registry_uri", None)
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.registry_uri or store.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking)
        mlflow.set_registry_uri(saved_registry)  # None restores MLflow's default resolution
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class TrainingRecord:
    """What ``log_training`` recorded: enough for the CLI summary."""

    run_id: str
    experiment_id: str
    model_name: str
    version: int
    aliases: tuple[str, ...]
    model_uri: str
    metrics: dict[str, float] = field(default_factory=dict)


def log_training(
    store: Store,
    *,
    detector_dir: Path,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    metrics: Mapping[str, float],
    artifacts: Mapping[str, Path] | None = None,
    experiment: str = "waypoint",
    model_name: str = "waypoint",
    run_name: str | None = None,
) -> TrainingRecord:
    """Record one training run and register its model as a new version of ``model_name``.

    ``detector_dir`` is a directory written by ``models.artifact.save``; it becomes the
    ``detector`` artifact of a pyfunc model logged from ``models/mlflow_model.py``.
    ``artifacts`` maps an artifact sub-directory to a local file or directory (rejects,
    for example). NaN metrics (e.g. recall without positives) are left out: MLflow
    cannot chart them and they mean "not measurable".
    """
    client = store.client()
    experiment_id = store.experiment_id(client, experiment)
    clean_metrics = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
    with _fluent_uri(store):
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            run_id = run.info.run_id
            mlflow.log_params({k: _param(v) for k, v in params.items()})
            mlflow.set_tags(dict(tags))
            if clean_metrics:
                mlflow.log_metrics(clean_metrics)
            for sub, path in (artifacts or {}).items():
                path = Path(path)
                if path.is_dir():
                    mlflow.log_artifacts(str(path), artifact_path=sub)
                else:
                    mlflow.log_artifact(str(path), artifact_path=sub)
            with warnings.catch_warnings():
                # We pass no input example on purpose: it would be stored with the model,
                # and real shipment rows must never be (the signature is explicit instead).
                warnings.filterwarnings("ignore", message=".*input example was not provided", category=UserWarning)
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(MODEL_CODE),
                    artifacts={DETECTOR_ARTIFACT: str(detector_dir)},
                    pip_requirements=pip_requirements(),
                    signature=contract_signature(),
                    input_example=None,
                    tags={"waypoint.model_name": model_name},
                )
        # Still inside the fluent context: mlflow's SQL registry looks the logged model
        # up through a default client, i.e. the global tracking URI.
        _ensure_registered_model(client, model_name)
        mv = client.create_model_version(model_name, source=info.model_uri, run_id=run_id, model_id=info.model_id)
    version = int(mv.version)
    aliases = _aliases_of(client, model_name, version)
    if not _has_alias(client, model_name, CHAMPION):
        client.set_registered_model_alias(model_name, CHAMPION, str(version))
        aliases = (*aliases, CHAMPION)
    return TrainingRecord(run_id, experiment_id, model_name, version, aliases, info.model_uri, clean_metrics)


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    """Create the registered model unless it exists (quietly: mlflow's fluent API prints)."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name, description="waypoint transshipment detector")
        except MlflowException:  # created meanwhile by a concurrent run
            client.get_registered_model(name)


def _param(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def pip_requirements() -> list[str]:
    """Pinned versions of the libraries the logged model needs, read from this environment."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in _REQUIREMENTS:
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            out.append(dist)
    return out


def contract_signature():
    """Model signature from a made-up pandas row of the shipment contract (never real data).

    Built from pandas, not Polars (a Polars frame gives an untyped signature); optional
    contract columns are marked optional so files without them are accepted.
    """
    import pandas as pd
    from mlflow.models import infer_signature
    from mlflow.types.schema import ColSpec, Schema

    from features.schema import SHIPMENTS, Kind

    made_up = {
        Kind.STRING: "X",
        Kind.HS: "850440",
        Kind.COUNTRY: "VN",
        Kind.HS_PREFIX: "85",
        Kind.DATE: "2025-01-01",  # dates travel as ISO text; we parse them with the contract rules
        Kind.POSITIVE: 1.0,
        Kind.NON_NEGATIVE: 1.0,
        Kind.NUMBER: 1.0,
        Kind.LABEL: 0.0,  # float: pandas cannot hold a missing integer in a plain column
    }
    example = pd.DataFrame({c.name: [made_up[c.kind]] for c in SHIPMENTS.columns})
    for c in SHIPMENTS.columns:
        if isinstance(made_up[c.kind], str):
            example[c.name] = example[c.name].astype(object)
    inferred = infer_signature(example).inputs
    optional = {c.name for c in SHIPMENTS.columns if not c.required}
    inputs = Schema(
        [ColSpec(spec.type, spec.name, required=spec.name not in optional) for spec in inferred.inputs]
    )
    return mlflow.models.ModelSignature(inputs=inputs)


def _aliases_of(client: MlflowClient, name: str, version: int) -> tuple[str, ...]:
    return tuple(client.get_model_version(name, str(version)).aliases)


def _has_alias(client: MlflowClient, name: str, alias: str) -> bool:
    try:
        client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return False
    return True


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version as ``waypoint models list`` shows it."""

    name: str
    version: int
    aliases: tuple[str, ...]
    run_id: str | None
    created: str
    trained_span: str | None
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": list(self.aliases),
            "run_id": self.run_id,
            "created": self.created,
            "trained_span": self.trained_span,
            "metrics": self.metrics,
        }


def list_versions(store: Store, name: str = "waypoint") -> list[VersionInfo]:
    """Every version of a registered model, newest first, with its run's metrics and span."""
    client = store.client()
    try:
        registered = client.get_registered_model(name)
    except MlflowException:
        raise TrackingError(
            f"no registered model named {name!r} in {store.location}",
            hint="Train one with `waypoint train SHIPMENTS...` or pass --model-name.",
        ) from None
    alias_map: dict[str, list[str]] = {}
    for alias, version in (registered.aliases or {}).items():
        alias_map.setdefault(str(version), []).append(alias)
    out = []
    for mv in client.search_model_versions(f"name = '{_quote(name)}'"):
        metrics: dict[str, float] = {}
        span = None
        if mv.run_id:
            try:
                run = client.get_run(mv.run_id)
                metrics = dict(run.data.metrics)
                span = run.data.tags.get("waypoint.trained_span")
            except MlflowException:
                pass
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=timezone.utc).isoformat(timespec="seconds")
        out.append(
            VersionInfo(name, int(mv.version), tuple(sorted(alias_map.get(str(mv.version), []))), mv.run_id, created, span, metrics)
        )
    return sorted(out, key=lambda v: -v.version)


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def promote(store: Store, name: str, version: int | str, alias: str = CHAMPION) -> VersionInfo:
    """Point ``alias`` (default ``champion``) at ``version``; returns that version's info."""
    client = store.client()
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        raise TrackingError(
            f"model {name!r} has no version {version} in {store.location}",
            hint="See the versions with `waypoint models list`.",
        ) from None
    try:
        client.set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise TrackingError(f"cannot set alias {alias!r} on {name} version {version}: {exc.message}") from None
    for info in list_versions(store, name):
        if info.version == int(version):
            return info
    raise TrackingError(f"model {name!r} version {version} vanished while promoting")


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference resolved to one registered version (or a bare logged model)."""

    name: str | None
    version: int | None
    run_id: str | None
    model_uri: str

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}" if self.name else self.model_uri


def resolve(store: Store, ref: str) -> ResolvedModel:
    """Resolve ``NAME@ALIAS``, ``NAME/VERSION``, ``models:/...`` or a run id to a model.

    A bare name means ``NAME@champion``.
    """
    return _resolve(store.client(), store, ref)


def _resolve(client: MlflowClient, store: Store, ref: str) -> ResolvedModel:
    text = ref[len("models:/"):] if ref.startswith("models:/") else ref
    try:
        if "@" in text:
            name, alias = text.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        elif "/" in text:
            name, version = text.rsplit("/", 1)
            mv = client.get_model_version(name, version)
        elif text.startswith("m-") and ref.startswith("models:/"):
            return ResolvedModel(None, None, None, ref)
        else:
            found = _by_run_id(client, text)
            if found is not None:
                mv = found
            else:
                mv = client.get_model_version_by_alias(text, CHAMPION)
    except MlflowException:
        raise TrackingError(
            f"no model matches {ref!r} in {store.location}",
            hint="Use NAME@ALIAS (waypoint@champion), NAME/VERSION (waypoint/2) or a run id; "
            "see `waypoint models list`.",
        ) from None
    return ResolvedModel(mv.name, int(mv.version), mv.run_id, f"models:/{mv.name}/{mv.version}")


def _by_run_id(client: MlflowClient, text: str):
    if not (len(text) == 32 and all(ch in "0123456789abcdef" for ch in text)):
        return None
    versions = client.search_model_versions(f"run_id = '{text}'")
    if not versions:
        raise TrackingError(f"run {text} has no registered model", hint="See `waypoint models list`.")
    return max(versions, key=lambda mv: int(mv.version))


def locate_detector(store: Store, ref: str, dst: Path) -> tuple[Path, ResolvedModel]:
    """The saved detector directory of ``ref`` as a local path, and what ``ref`` resolved to.

    In a local artifact store (``file://``, the embedded store's) this is the store's own
    directory: nothing is copied. Otherwise only that directory is downloaded into
    ``dst``. Either way ``models.artifact.load`` verifies every file against the manifest.
    """
    client = store.client()
    resolved = _resolve(client, store, ref)
    try:
        if resolved.version is not None:
            root = client.get_model_version_download_uri(resolved.name, str(resolved.version))
        else:  # models:/m-... : a logged model that was never registered
            root = client.get_logged_model(resolved.model_uri.rsplit("/", 1)[-1]).artifact_location
    except MlflowException as exc:
        raise TrackingError(f"cannot find the files of {resolved.label}: {exc.message}") from None
    uri = f"{root.rstrip('/')}/artifacts/{DETECTOR_ARTIFACT}"
    detector_dir = _local_path(uri)
    if detector_dir is None:
        with _fluent_uri(store):
            try:
                detector_dir = Path(mlflow.artifacts.download_artifacts(
                    artifact_uri=uri,
                    dst_path=str(dst),
                    tracking_uri=store.tracking_uri,
                    registry_uri=store.registry_uri or store.tracking_uri,
                ))
            except MlflowException as exc:
                raise TrackingError(f"cannot download {resolved.label}: {exc.message}") from None
    if not detector_dir.is_dir():
        raise ArtifactError(f"{resolved.label} holds no '{DETECTOR_ARTIFACT}' artifact: not a waypoint model")
    return detector_dir, resolved


def _local_path(uri: str) -> Path | None:
    """The path of a ``file://`` (or scheme-less) URI on this machine; None for any other store."""
    parsed = urlparse(uri)
    if not parsed.scheme:
        return Path(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(url2pathname(parsed.path))
    return None


def load_detector(store: Store, ref: str):
    """Resolve, locate (download if remote) and load (with digest checks) the Detector of ``ref``.

    Returns ``(detector, resolved)``.
    """
    from models import artifact

    with tempfile.TemporaryDirectory(prefix="waypoint-model-") as tmp:
        detector_dir, resolved = locate_detector(store, ref, Path(tmp))
        return artifact.load(detector_dir), resolved


def file_digest(path: Path) -> str:
    """SHA-256 of a file (input datasets are tagged with it)."""
    from models.artifact import sha256

    return sha256(Path(path))


def dataset_tags(role: str, paths: Sequence[Path]) -> dict[str, str]:
    """Tags naming each input file of a role and its SHA-256."""
    tags = {}
    for i, path in enumerate(paths):
        tags[f"waypoint.input.{role}.{i}.path"] = str(Path(path).resolve())
        tags[f"waypoint.input.{role}.{i}.sha256"] = file_digest(Path(path))
    return tags
