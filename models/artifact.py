"""Save and load a ``Detector`` as a plain directory: no pickle, every file checked.

Layout of a saved detector::

    forest.skops      the sklearn IsolationForest (skops: no code runs on load)
    ranker.skops      the supervised ranker's HistGradientBoostingClassifier, when
                      trained with labels (its category map, reference values and
                      calibrations are in detector.json under "ranker")
    ranker/           the ranker's line encodings and the weekly outcome counts of its
                      training labels (Parquet + JSON, ``Ranker.save_tables``)
    detector.json     preprocessing, calibration grid, threshold, feature list,
                      contract version, training parameters and span, and the digest
                      of the tariff events the model was trained with
    state/            the reference state (Parquet tables + state.json), optional
    manifest.json     SHA-256 of every other file

``load`` recomputes every digest before reading anything, so a changed, missing or
added file is refused with an :class:`ArtifactError` naming it. A model trained on
another major version of the data contract is refused too: its features would not
mean the same thing. Floats go through JSON as their shortest repr, which round-trips
exactly, so a loaded detector scores bit-for-bit like the one that was saved.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from features.families.tariff import conform_events, events_digest
from features.schema import CONTRACT_VERSION
from models.errors import ModelError

if TYPE_CHECKING:
    from models.detector import Detector

#: Bumped when the layout of a saved detector changes.
ARTIFACT_FORMAT = 1
MANIFEST = "manifest.json"
FOREST = "forest.skops"
#: The forest's flat arrays (``np.savez``, loaded with ``allow_pickle=False``): scoring
#: needs only these, so loading a model for scoring skips skops and scikit-learn's import.
FLAT = "flat.npz"
RANKER = "ranker.skops"
RANKER_TABLES = "ranker"
META = "detector.json"
STATE_DIR = "state"
#: Types skops may rebuild besides the ones it trusts itself. The only list of them.
#: The HGB ranker adds its tree predictor and, when it has categorical inputs, the
#: ``functools.partial(check_array, ...)`` sklearn's own column transformer holds;
#: ``partial`` can only call functions that are themselves trusted here.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial",
    "sklearn.utils.validation.check_array",
)
#: Detector fields kept outside detector.json: the forest and state have their own
#: files, ``flat`` is derived from the forest on load.
_NOT_IN_JSON = ("forest", "preprocess", "calibration", "state", "flat", "ranker", "forest_source")
_RANKER_NOT_IN_JSON = ("model", "calibration", "forest_calibration", "encoder", "outcomes")


class ArtifactError(ModelError):
    """A saved detector is damaged, tampered with, or does not fit this waypoint (exit 3)."""


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def _encode(value: Any) -> Any:
    """Plain JSON for a field value; arrays and tuples are tagged so they come back as such."""
    if isinstance(value, np.ndarray):
        return {"__array__": [_encode(v) for v in value.tolist()], "dtype": str(value.dtype)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ArtifactError(f"cannot save a value of type {type(value).__name__} as JSON: {value!r}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=value["dtype"])
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _data_fields(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name not in skip}


def contract_major(version: str) -> str:
    return str(version).split(".", 1)[0]


def check_contract(contract_version: str, *, where: str = "the model") -> None:
    """Refuse a model trained on another major version of the data contract."""
    if contract_major(contract_version) != contract_major(CONTRACT_VERSION):
        raise ArtifactError(
            f"{where} was trained on data contract {contract_version}; this waypoint reads contract "
            f"{CONTRACT_VERSION}, and features of another major version do not mean the same thing",
            hint="retrain the model with this waypoint (`waypoint train ...`) or use the waypoint version it was made with",
        )


def save(detector: Detector, path: str | Path) -> Path:
    """Write ``detector`` to the directory ``path`` (created; must be empty if it exists)."""
    import skops.io as sio

    root = Path(path)
    if root.exists() and any(root.iterdir()):
        raise ArtifactError(f"{root}: directory is not empty; a saved detector needs its own directory")
    root.mkdir(parents=True, exist_ok=True)
    sio.dump(detector.sklearn_forest(), root / FOREST)
    flat = {f.name: getattr(detector.flat, f.name) for f in dataclasses.fields(detector.flat)}
    np.savez(root / FLAT, **{k: v for k, v in flat.items() if isinstance(v, np.ndarray)})
    meta = {
        "format": ARTIFACT_FORMAT,
        # Every field of the Detector except the forest (skops), the state (Parquet)
        # and what is derived from them; nested dataclasses field by field.
        "detector": _data_fields(detector, skip=_NOT_IN_JSON),
        "preprocess": _data_fields(detector.preprocess),
        "calibration": _data_fields(detector.calibration),
        "state_digest": detector.state.digest() if detector.state is not None else None,
        # The model's tariff events (in the state) are its context at scoring: their digest
        # is what a run reports and what MLflow records.
        "events_digest": events_digest(detector.state.events) if detector.state is not None else None,
        "flat": {k: v for k, v in flat.items() if not isinstance(v, np.ndarray)},
    }
    if detector.ranker is not None:
        ranker = detector.ranker
        sio.dump(ranker.model, root / RANKER)
        ranker.save_tables(root / RANKER_TABLES)
        meta["ranker"] = {
            "fields": _data_fields(ranker, skip=_RANKER_NOT_IN_JSON),
            "calibration": _data_fields(ranker.calibration),
            "forest_calibration": _data_fields(ranker.forest_calibration),
        }
    (root / META).write_text(json.dumps(meta, indent=1) + "\n")
    if detector.state is not None:
        detector.state.to_dir(root / STATE_DIR)
    manifest = {"format": ARTIFACT_FORMAT, "files": {name: sha256(root / name) for name in _files(root)}}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return root


def verify(path: str | Path) -> dict[str, str]:
    """Check every file of a saved detector against its manifest; returns the manifest's digests."""
    root = Path(path)
    manifest_file = root / MANIFEST
    if not manifest_file.is_file():
        raise ArtifactError(f"{root}: no {MANIFEST}; not a saved waypoint detector (or damaged)")
    try:
        manifest = json.loads(manifest_file.read_text())
        listed: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{manifest_file}: unreadable manifest ({exc})") from None
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{manifest_file}: artifact format {manifest.get('format')!r}, expected {ARTIFACT_FORMAT}")
    present = set(_files(root))
    missing = sorted(set(listed) - present)
    if missing:
        raise ArtifactError(f"{root}: file(s) listed in the manifest are missing: {', '.join(missing)}")
    extra = sorted(present - set(listed))
    if extra:
        raise ArtifactError(f"{root}: file(s) not in the manifest were added: {', '.join(extra)}")
    for name, digest in sorted(listed.items()):
        if sha256(root / name) != digest:
            raise ArtifactError(
                f"{root / name}: SHA-256 does not match the manifest; the model file was changed or damaged",
                hint="do not edit saved models; retrain, or download the model again",
            )
    return listed


def load(path: str | Path) -> Detector:
    """Verify and read a detector saved by :func:`save`."""
    from models.calibration import Calibration
    from models.detector import Detector
    from models.preprocess import Preprocessor

    root = Path(path)
    verify(root)
    meta = json.loads((root / META).read_text())
    fields = _decode(meta["detector"])
    check_contract(fields.get("contract_version", "?"), where=f"the model in {root}")
    if (root / FLAT).exists() and "flat" in meta:
        # verify() has checked the bytes of both files. The forest's bytes are read now (the
        # directory may be a temporary download) and parsed by skops only on first use.
        data = (root / FOREST).read_bytes()
        forest, flat, source = None, _load_flat(root, meta["flat"]), lambda: _load_forest(root, data)
    else:
        forest, flat, source = _load_forest(root), None, None
    ranker = _load_ranker(root, meta) if "ranker" in meta else None
    state = None
    if (root / STATE_DIR).is_dir():
        from features.state import ReferenceState

        try:
            # verify() has checked every state file against the manifest's SHA-256 already
            state = ReferenceState.from_dir(root / STATE_DIR, verify=False)
        except (ValueError, OSError) as exc:
            raise ArtifactError(f"{root / STATE_DIR}: {exc}") from None
        # the files are the ones the manifest lists; their state.json must name the digest the
        # model recorded at training
        stored = json.loads((root / STATE_DIR / "state.json").read_text()).get("digest")
        if meta.get("state_digest") and stored != meta["state_digest"]:
            raise ArtifactError(f"{root / STATE_DIR}: reference state is not the one the model was trained with")
        # A model saved before events had an importing country reads its events as naming none.
        state = dataclasses.replace(state, events=conform_events(state.events))
        if meta.get("events_digest") and events_digest(state.events) != meta["events_digest"]:
            raise ArtifactError(f"{root / STATE_DIR}: tariff events are not the ones the model was trained with")
    try:
        return Detector(
            forest=forest,
            flat=flat,
            forest_source=source,
            preprocess=Preprocessor(**_decode(meta["preprocess"])),
            calibration=Calibration(**_decode(meta["calibration"])),
            state=state,
            ranker=ranker,
            **fields,
        )
    except TypeError as exc:  # a field this waypoint's Detector does not have (or lacks)
        raise ArtifactError(
            f"{root / META}: saved by another waypoint version ({exc})",
            hint="load it with the waypoint version that trained it, or retrain",
        ) from None


def _load_forest(root: Path, data: bytes | None = None):
    import skops.io as sio

    try:
        if data is not None:
            return sio.loads(data, trusted=list(TRUSTED_TYPES))
        return sio.load(root / FOREST, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises several types for untrusted or broken content
        raise ArtifactError(f"{root / FOREST}: cannot load the forest ({type(exc).__name__}: {exc})") from None


def _load_flat(root: Path, scalars: dict):
    from models.fast_forest import FlatForest

    with np.load(root / FLAT, allow_pickle=False) as arrays:
        return FlatForest(**{name: arrays[name] for name in arrays.files}, **scalars)


def _load_ranker(root: Path, meta: dict):
    import skops.io as sio

    from models.calibration import Calibration
    from models.ranker import Ranker

    try:
        model = sio.load(root / RANKER, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises several types for untrusted or broken content
        raise ArtifactError(f"{root / RANKER}: cannot load the ranker ({type(exc).__name__}: {exc})") from None
    section = meta["ranker"]
    try:
        ranker = Ranker(
            model=model,
            calibration=Calibration(**_decode(section["calibration"])),
            forest_calibration=Calibration(**_decode(section["forest_calibration"])),
            **_decode(section["fields"]),
        )
        ranker.load_tables(root / RANKER_TABLES, ranker.params.get("outcome_keys"))
        return ranker
    except (TypeError, KeyError, ValueError, OSError) as exc:
        raise ArtifactError(f"{root / META}: unreadable ranker section ({exc})") from None


def check_input(detector: Detector, columns: list[str] | tuple[str, ...] | set[str]) -> None:
    """Refuse a feature frame lacking any feature column the model uses, naming them all."""
    check_contract(detector.contract_version)
    missing = [name for name in detector.feature_names if name not in set(columns)]
    if missing:
        raise ArtifactError(
            f"the input lacks feature column(s) the model needs: {', '.join(missing)}",
            hint="build features with `features.pipeline.build` using the model's reference state",
        )
