"""MLflow tracking and registry: where trained detectors are recorded, versioned and found.

With ``models.mlflow_model`` this is the only module importing ``mlflow``, and it does so
only inside the functions that need MLflow's client (training, promotion, downloads from
a remote store): importing mlflow takes seconds, which a listing or a score without
MLflow should not pay. The embedded store is SQLite at
``$WAYPOINT_HOME/mlflow.db`` with artifacts in ``$WAYPOINT_HOME/mlartifacts`` (absolute
URIs, so nothing lands relative to the working directory); ``MLFLOW_TRACKING_URI``
replaces it. A fresh SQLite store runs its migrations on first use and concurrent
first uses break each other (``duplicate column name``), so opening the embedded store
takes an exclusive file lock.

Reads (listing versions, resolving a reference, a run's parameters, tags and metrics)
of the embedded store go straight to its SQLite tables (``models.registry_sqlite``),
read-only and without MLflow; any other tracking URI, or a file that reader does not
recognise, is read through MLflow's client. Both give the same answers (tested).

Model versions are registered under one name (default ``waypoint``); the alias
``champion`` is set only while the model has none (its first version). Later versions are promoted on purpose
(``promote``), so a retrain never silently changes what ``waypoint score`` uses.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse
from urllib.request import url2pathname

from models.errors import ModelError
from models.registry_sqlite import RunRow, SqliteRegistry, Unreadable, VersionRow

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def _mlflow():
    """Import mlflow (once) with telemetry off and its INFO logs quiet; returns the module.

    Telemetry is on by default in mlflow and must be off before the import. Its INFO logs
    (table creation, migrations) are noise in a CLI that prints its own summary. Both are
    defaults: a user who set them keeps their choice.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    import mlflow

    return mlflow


def _mlflow_error() -> type[Exception]:
    _mlflow()
    from mlflow.exceptions import MlflowException

    return MlflowException


CHAMPION = "champion"
#: The code file MLflow stores with each model ("model from code": nothing pickled).
MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
#: Where the saved detector directory lives inside a logged pyfunc model.
DETECTOR_ARTIFACT = "detector"
#: Distributions we record as requirements of a logged model (explicit: MLflow's inference of them
#: imports the model's code and is slow).
#: waypoint itself is one: the logged model's code imports it.
_REQUIREMENTS = ("waypoint", "mlflow", "numpy", "pandas", "polars", "pyarrow", "scikit-learn", "skops", "numba")
#: Prefix of the run tags naming each input file of a training run and its SHA-256.
INPUT_TAG = "waypoint.input."
#: MLflow keeps a dataset digest of at most 36 characters: the SHA-256's first 32 hex
#: digits (128 bits) are the dataset's digest, the whole one is an input tag beside it.
_DATASET_DIGEST = 32
#: What each role of input file is to MLflow's datasets panel (the ``mlflow.data.context`` tag).
_DATASET_CONTEXT = {"shipments": "training", "labels": "labels"}
#: Prefix of the metrics ``waypoint evaluate --log`` records on a model's run.
EVAL_PREFIX = "eval_"

T = TypeVar("T")


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

    def sqlite(self) -> SqliteRegistry | None:
        """The direct reader of this store's tables: only for waypoint's own embedded SQLite
        store (tracking and registry in one file); None for any other store."""
        db = _sqlite_path(self.tracking_uri)
        if not self.embedded or db is None or self.registry_uri not in (None, "", self.tracking_uri):
            return None
        return SqliteRegistry(db)

    def client(self) -> MlflowClient:
        """A client on this store; initialises a fresh embedded store once, under a file lock."""
        _mlflow()
        from filelock import FileLock
        from mlflow.tracking import MlflowClient

        if self.embedded:
            db = _sqlite_path(self.tracking_uri)
            if db is not None:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
                self.artifact_root.mkdir(parents=True, exist_ok=True)
                # Exclusive: a second opener waits until the first has run the migrations.
                with FileLock(db + ".lock"):
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
        except _mlflow_error():  # created meanwhile by a concurrent run
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id


def _sqlite_path(uri: str) -> str | None:
    prefix = "sqlite:///"
    return uri[len(prefix):] if uri.startswith(prefix) else None


@contextmanager
def _fluent_uri(store: Store) -> Iterator[None]:
    """Point mlflow's fluent API (``start_run``, ``log_model``) at ``store``'s tracking URI, then put it back.

    Only the tracking URI: the fluent calls made here never read the registry URI (versions are
    registered through the store's own client, which is given both). ``mlflow.set_tracking_uri``
    writes its URI into ``MLFLOW_TRACKING_URI`` too, so the variable is what holds a URI set
    before (by the environment or by ``set_tracking_uri``): restoring it and clearing mlflow's
    own setting gives back the same resolution, and no later ``Settings`` of this process is
    redirected to ``store``.
    """
    mlflow = _mlflow()
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(store.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)  # also unsets the variable
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved


# --- reading the registry: one set of rules over two readers ---------------------------------


class _ClientRegistry:
    """The reads of :class:`~models.registry_sqlite.SqliteRegistry`, through MLflow's client
    (any tracking URI). Unknown names, versions and runs are None, as there."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.missing = _mlflow_error()

    def _or_none(self, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except self.missing:
            return None

    @staticmethod
    def _row(mv) -> VersionRow:
        return VersionRow(mv.name, int(mv.version), mv.run_id or None, int(mv.creation_timestamp or 0), None)

    def model_names(self) -> list[str]:
        return sorted(m.name for m in self.client.search_registered_models())

    def aliases(self, name: str) -> dict[str, int] | None:
        found = self._or_none(lambda: self.client.get_registered_model(name))
        return None if found is None else {a: int(v) for a, v in (found.aliases or {}).items()}

    def versions(self, name: str) -> list[VersionRow]:
        found = self.client.search_model_versions(f"name = '{_quote(name)}'")
        return sorted((self._row(mv) for mv in found), key=lambda v: -v.version)

    def version(self, name: str, version: int | str) -> VersionRow | None:
        found = self._or_none(lambda: self.client.get_model_version(name, str(version)))
        return None if found is None else self._row(found)

    def by_alias(self, name: str, alias: str) -> VersionRow | None:
        found = self._or_none(lambda: self.client.get_model_version_by_alias(name, alias))
        return None if found is None else self._row(found)

    def by_run(self, run_id: str) -> list[VersionRow]:
        found = self.client.search_model_versions(f"run_id = '{_quote(run_id)}'")
        return sorted((self._row(mv) for mv in found), key=lambda v: -v.version)

    def download_uri(self, name: str, version: int) -> str | None:
        return self._or_none(lambda: self.client.get_model_version_download_uri(name, str(version)))

    def logged_model_location(self, model_id: str) -> str | None:
        found = self._or_none(lambda: self.client.get_logged_model(model_id))
        return None if found is None else found.artifact_location

    def run(self, run_id: str) -> RunRow | None:
        found = self._or_none(lambda: self.client.get_run(run_id))
        if found is None:
            return None
        data = found.data
        return RunRow(run_id, str(found.info.experiment_id), dict(data.params), dict(data.tags), dict(data.metrics))


def _read(store: Store, fn: Callable[[Any], T]) -> T:
    """``fn(reader)`` on the store's SQLite reader when it has one, else (or when that reader
    does not recognise the file) on MLflow's client."""
    direct = store.sqlite()
    if direct is not None:
        try:
            return fn(direct)
        except Unreadable:
            pass
    return fn(_ClientRegistry(store.client()))


def _download_uri(reader, row: VersionRow) -> str | None:
    if isinstance(reader, SqliteRegistry):
        return row.storage
    return reader.download_uri(row.name, row.version)


# --- training ----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class TrainingRun:
    """What one training run records, for :func:`log_training`.

    ``detector_dir`` is a directory written by ``models.artifact.save``; ``artifacts`` maps an
    artifact sub-directory to a local file or directory (rejects, for example).
    """

    detector_dir: Path
    params: Mapping[str, Any]
    tags: Mapping[str, str]
    metrics: Mapping[str, float]
    artifacts: Mapping[str, Path] | None = None
    run_name: str | None = None


def log_training(store: Store, run: TrainingRun, *, experiment: str = "waypoint",
                 model_name: str = "waypoint") -> TrainingRecord:
    """Record one training run in ``experiment`` and register its model as a new version of ``model_name``.

    ``run.detector_dir`` becomes the ``detector`` artifact of a pyfunc model logged from
    ``models/mlflow_model.py``. NaN metrics (e.g. recall without positives) are left out:
    MLflow cannot chart them and they mean "not measurable". Every input file named in the
    tags (:func:`dataset_tags`) is also logged as an MLflow dataset of the run (its path,
    digest and contract columns: never its rows), so MLflow's datasets panel lists them.
    """
    mlflow = _mlflow()
    client = store.client()
    experiment_id = store.experiment_id(client, experiment)
    clean_metrics = {k: float(v) for k, v in run.metrics.items() if v is not None and math.isfinite(float(v))}
    with _fluent_uri(store):
        with mlflow.start_run(experiment_id=experiment_id, run_name=run.run_name) as active:
            run_id = active.info.run_id
            mlflow.log_params({k: _param(v) for k, v in run.params.items()})
            mlflow.set_tags(dict(run.tags))
            if clean_metrics:
                mlflow.log_metrics(clean_metrics)
            _log_datasets(input_files(run.tags))
            for sub, path in (run.artifacts or {}).items():
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
                    artifacts={DETECTOR_ARTIFACT: str(run.detector_dir)},
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
    missing = _mlflow_error()
    try:
        client.get_registered_model(name)
    except missing:
        try:
            client.create_registered_model(name, description="waypoint transshipment detector")
        except missing:  # created meanwhile by a concurrent run
            client.get_registered_model(name)


def _param(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class InputFile:
    """One input file of a training run: its role (shipments, inputs, ...), path and SHA-256."""

    role: str
    path: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "path": self.path, "sha256": self.sha256}


def input_files(tags: Mapping[str, str]) -> list[InputFile]:
    """The input files named in a run's tags (:func:`dataset_tags`), by role then position."""
    found: dict[tuple[str, int], dict[str, str]] = {}
    for key, value in tags.items():
        if not key.startswith(INPUT_TAG):
            continue
        parts = key[len(INPUT_TAG):].rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in ("path", "sha256"):
            continue
        found.setdefault((parts[0], int(parts[1])), {})[parts[2]] = value
    return [InputFile(role, entry.get("path", ""), entry.get("sha256", ""))
            for (role, _), entry in sorted(found.items())]


def _log_datasets(files: Sequence[InputFile]) -> None:
    """Each input file as an MLflow dataset of the active run (source = the file, digest from
    its SHA-256, schema = its contract table's columns); no row of it is read or logged."""
    if not files:
        return
    mlflow = _mlflow()
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    datasets = []
    for f in files:
        with warnings.catch_warnings():
            # The local file source is registered for "" and "file" alike: one class, two names.
            warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways", category=UserWarning)
            source = resolve_dataset_source(Path(f.path).as_uri())
        datasets.append(MetaDataset(source, name=f"{f.role}: {Path(f.path).name}", digest=f.sha256[:_DATASET_DIGEST] or None,
                                    schema=_contract_schema(f.role)))
    mlflow.log_inputs(datasets, contexts=[_DATASET_CONTEXT.get(f.role, f.role) for f in files],
                      tags_list=[{"waypoint.role": f.role, "waypoint.sha256": f.sha256} for f in files])


def _contract_schema(role: str):
    """The MLflow schema of a contract table's columns (None for files that are no table, e.g. a mapping)."""
    from mlflow.types.schema import ColSpec, Schema

    from features.schema import EVENTS, INPUTS, LABELS, SHIPMENTS, Kind

    table = {"shipments": SHIPMENTS, "inputs": INPUTS, "events": EVENTS, "labels": LABELS}.get(role)
    if table is None:
        return None
    numbers = {Kind.POSITIVE, Kind.NON_NEGATIVE, Kind.NUMBER, Kind.LABEL}
    return Schema([ColSpec("double" if c.kind in numbers else "string", c.name, required=c.required)
                   for c in table.columns])


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

    mlflow = _mlflow()
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
    except _mlflow_error():
        return False
    return True


# --- versions, promotion, references ----------------------------------------------------------


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
    return _read(store, lambda reader: _list_versions(reader, store, name))


def _list_versions(reader, store: Store, name: str) -> list[VersionInfo]:
    aliases = reader.aliases(name)
    if aliases is None:
        raise TrackingError(f"no registered model named {name!r} in {store.location}", hint=_train_hint(reader, name))
    alias_map: dict[int, list[str]] = {}
    for alias, version in aliases.items():
        alias_map.setdefault(version, []).append(alias)
    out = []
    for row in reader.versions(name):
        run = reader.run(row.run_id) if row.run_id else None
        created = datetime.fromtimestamp(row.creation_ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")
        out.append(VersionInfo(
            name, row.version, tuple(sorted(alias_map.get(row.version, []))), row.run_id, created,
            run.tags.get("waypoint.trained_span") if run else None, dict(run.metrics) if run else {},
        ))
    return sorted(out, key=lambda v: -v.version)


def _train_hint(reader, name: str) -> str:
    """What to do when no model of that name is registered: train one, or use one the store holds."""
    others = [n for n in reader.model_names() if n != name]
    if not others:
        return "Nothing is trained in this store yet: train a model with `waypoint train SHIPMENTS...`."
    held = ", ".join(repr(n) for n in others)
    return (f"This store holds {held}, not {name!r}: see `waypoint models list --model-name NAME`, "
            "or train one with `waypoint train SHIPMENTS...`.")


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def promote(store: Store, name: str, version: int | str, alias: str = CHAMPION) -> VersionInfo:
    """Point ``alias`` (default ``champion``) at ``version``; returns that version's info."""
    client = store.client()
    missing = _mlflow_error()
    try:
        client.get_model_version(name, str(version))
    except missing:
        raise TrackingError(
            f"model {name!r} has no version {version} in {store.location}",
            hint="See the versions with `waypoint models list`.",
        ) from None
    try:
        client.set_registered_model_alias(name, alias, str(version))
    except missing as exc:
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


def find_version(store: Store, ref: str) -> ResolvedModel:
    """The registered version (or bare logged model) ``NAME@ALIAS``, ``NAME/VERSION``,
    ``models:/...`` or a run id names; ``TrackingError`` with a hint when none matches.

    A bare name means ``NAME@champion``. Nothing is loaded: see :func:`load_detector`.
    """
    return _read(store, lambda reader: _find_version(reader, store, ref)[0])


def _find_version(reader, store: Store, ref: str) -> tuple[ResolvedModel, VersionRow | None]:
    text = ref[len("models:/"):] if ref.startswith("models:/") else ref
    name: str | None
    if "@" in text:
        name, alias = text.split("@", 1)
        row = reader.by_alias(name, alias)
    elif "/" in text:
        name, version = text.rsplit("/", 1)
        row = reader.version(name, version)
    elif text.startswith("m-") and ref.startswith("models:/"):
        return ResolvedModel(None, None, None, ref), None
    elif _is_run_id(text):
        found = reader.by_run(text)
        if not found:
            raise TrackingError(f"run {text} has no registered model", hint="See `waypoint models list`.")
        name, row = found[0].name, found[0]
    else:
        name, row = text, reader.by_alias(text, CHAMPION)
    if row is None:
        hint = "Use NAME@ALIAS (waypoint@champion), NAME/VERSION (waypoint/2) or a run id"
        if name and reader.aliases(name) is None:
            others = [n for n in reader.model_names() if n != name]
            hint = (f"{hint}. " + _train_hint(reader, name)) if others else _train_hint(reader, name)
        else:
            hint += "; see `waypoint models list`."
        raise TrackingError(f"no model matches {ref!r} in {store.location}", hint=hint)
    return ResolvedModel(row.name, row.version, row.run_id, f"models:/{row.name}/{row.version}"), row


def _is_run_id(text: str) -> bool:
    return len(text) == 32 and all(ch in "0123456789abcdef" for ch in text)


def locate_detector(store: Store, ref: str, dst: Path) -> tuple[Path, ResolvedModel]:
    """The saved detector directory of ``ref`` as a local path, and what ``ref`` resolved to.

    In a local artifact store (``file://``, the embedded store's) this is the store's own
    directory: nothing is copied. Otherwise only that directory is downloaded into
    ``dst``. Either way ``models.artifact.load`` verifies every file against the manifest.
    """
    def find(reader) -> tuple[str | None, ResolvedModel]:
        resolved, row = _find_version(reader, store, ref)
        if row is not None:
            return _download_uri(reader, row), resolved
        return reader.logged_model_location(resolved.model_uri.rsplit("/", 1)[-1]), resolved  # models:/m-...

    root, resolved = _read(store, find)
    if root is None:
        raise TrackingError(f"cannot find the files of {resolved.label} in {store.location}")
    uri = f"{root.rstrip('/')}/artifacts/{DETECTOR_ARTIFACT}"
    detector_dir = _local_path(uri)
    if detector_dir is None:
        mlflow = _mlflow()
        with _fluent_uri(store):
            try:
                detector_dir = Path(mlflow.artifacts.download_artifacts(
                    artifact_uri=uri,
                    dst_path=str(dst),
                    tracking_uri=store.tracking_uri,
                    registry_uri=store.registry_uri or store.tracking_uri,
                ))
            except _mlflow_error() as exc:
                raise TrackingError(f"cannot download {resolved.label}: {exc.message}") from None
    if not detector_dir.is_dir():
        from models.artifact import ArtifactError

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


def run_info(store: Store, run_id: str) -> RunRow:
    """A run's parameters, tags and latest metrics; ``TrackingError`` when the store has no such run."""
    found = _read(store, lambda reader: reader.run(run_id))
    if found is None:
        raise TrackingError(f"no run {run_id} in {store.location}", hint="See the runs of the versions with `waypoint models list`.")
    return found


def log_evaluation(store: Store, run_id: str, metrics: Mapping[str, float], *, tags: Mapping[str, str],
                   report: Mapping[str, Any], name: str) -> dict[str, float]:
    """Record an evaluation on an existing run (the model version's): metrics prefixed
    ``eval_`` (NaN left out, as at training), tags, and the full figures as the JSON artifact
    ``evaluations/NAME.json``. Returns the metrics logged."""
    run_info(store, run_id)  # a clear error for a run that is not in this store
    client = store.client()
    clean = {f"{EVAL_PREFIX}{k}": float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
    _mlflow()
    from mlflow.entities import Metric, RunTag

    stamp = int(datetime.now(timezone.utc).timestamp() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, stamp, 0) for k, v in clean.items()],
                     tags=[RunTag(k, str(v)) for k, v in tags.items()])
    with tempfile.TemporaryDirectory(prefix="waypoint-eval-") as tmp:
        path = Path(tmp) / f"{name}.json"
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        client.log_artifact(run_id, str(path), artifact_path="evaluations")
    return clean


def file_digest(path: Path) -> str:
    """SHA-256 of a file (input datasets are tagged with it)."""
    from models.artifact import sha256

    return sha256(Path(path))


def dataset_tags(role: str, paths: Sequence[Path]) -> dict[str, str]:
    """Tags naming each input file of a role and its SHA-256."""
    tags = {}
    for i, path in enumerate(paths):
        tags[f"{INPUT_TAG}{role}.{i}.path"] = str(Path(path).resolve())
        tags[f"{INPUT_TAG}{role}.{i}.sha256"] = file_digest(Path(path))
    return tags
