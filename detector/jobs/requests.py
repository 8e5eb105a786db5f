"""What a run is asked, as one value: the command line, the Python API and Spark build it.

A request is plain data (paths as given, options by the CLI's names) and imports nothing
heavy, so ``waypoint score`` builds it from its options at once, before any file is read
or any model is loaded. The jobs read it; they never change it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from models.params import ForestParams

#: A path as given: a local name, a glob, or for Spark any URL it reads (``s3a://...``).
PathLike = str | Path


def _paths(value: PathLike | Sequence[PathLike] | None) -> tuple[PathLike, ...] | None:
    """One path or several as a tuple (a single name is one file, not its characters)."""
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class ScoreFiles:
    """What a score run reads: the shipment files, and the side tables that replace the model's own."""

    shipments: tuple[PathLike, ...]
    inputs: tuple[PathLike, ...] | None = None  # component imports of the transit countries
    events: tuple[PathLike, ...] | None = None  # tariff events replacing the model's own
    parties: tuple[PathLike, ...] | None = None  # a known-party list replacing the model's own
    mapping: PathLike | None = None  # TOML column mapping for foreign files

    def named(self) -> list[PathLike | None]:
        """Every path the run reads, for the check that no output lands on one."""
        return [*self.shipments, *(self.inputs or ()), *(self.events or ()), *(self.parties or ()), self.mapping]


@dataclass(frozen=True)
class Flags:
    """How the lines are ranked and which are flagged (see ``detector.jobs.score.flag_rule``).

    ``top`` (a count), else ``budget`` (a share, e.g. 0.01), else with ``threshold`` the
    lines above the model's threshold, else the model's own inspection budget.
    ``explore``: the share of the flags kept for the forest's picks the ranker ranks low.
    ``rank_by``: ``risk`` (the risk score) or ``recovery`` (the expected recovery).
    """

    budget: float | None = None
    top: int | None = None
    threshold: bool = False
    explore: float = 0.0
    rank_by: str = "risk"


@dataclass(frozen=True)
class ScoreRequest:
    """One ``waypoint score`` run: the files read, the file written, the flag rule and the
    reading rules. The rejects (``OUT.rejects.csv``) and the lineage sidecar are named
    after ``output``.

    ``importing_country``: what a line stating none is taken as (default: the model's).
    ``strict``: reject every line breaking a rule instead of scoring it with data-quality codes.
    ``max_reject_share``: fail when more than this share of the lines is rejected.
    ``chunk_rows``: the memory bound, in lines (None: ``models.detector.CHUNK_ROWS``).
    """

    files: ScoreFiles
    output: PathLike
    flags: Flags = field(default_factory=Flags)
    importing_country: str | None = None
    strict: bool = False
    max_reject_share: float | None = None
    chunk_rows: int | None = None

    @classmethod
    def of(cls, shipments: PathLike | Sequence[PathLike], output: PathLike, *,
           inputs: PathLike | Sequence[PathLike] | None = None, events: PathLike | Sequence[PathLike] | None = None,
           parties: PathLike | Sequence[PathLike] | None = None, mapping: PathLike | None = None,
           **options: Any) -> ScoreRequest:
        """The request of the keyword form (``detector.score``, ``detector.jobs.score.score``):
        the files by role, then any option of :class:`Flags` or of the request by name
        (an unknown name is a ``TypeError``, as for a function)."""
        flags = Flags(**{name: options.pop(name) for name in FLAG_OPTIONS if name in options})
        files = ScoreFiles(_paths(shipments), inputs=_paths(inputs), events=_paths(events), parties=_paths(parties),
                           mapping=mapping)
        return cls(files, output, flags, **options)

    def options(self, chunk_rows: int) -> dict[str, Any]:
        """The run's options by their CLI names, as the lineage records them (the memory bound as used)."""
        return {**asdict(self.flags), "importing_country": self.importing_country, "chunk_rows": chunk_rows,
                "strict": self.strict, "max_reject_share": self.max_reject_share}


#: The keyword options :meth:`ScoreRequest.of` puts in :class:`Flags`.
FLAG_OPTIONS = tuple(f.name for f in fields(Flags))


@dataclass(frozen=True)
class TrainFiles:
    """What a training run reads. ``labels``: known outcomes (``shipment_id,label``), for the
    supervised ranker and the held-out figures; ``parties``: a known-party list the model keeps."""

    shipments: tuple[PathLike, ...]
    inputs: tuple[PathLike, ...] | None = None  # component imports of the transit countries
    events: tuple[PathLike, ...] | None = None  # tariff events (default: the table shipped with waypoint)
    parties: tuple[PathLike, ...] | None = None
    labels: PathLike | None = None
    mapping: PathLike | None = None  # TOML column mapping for foreign files


@dataclass(frozen=True)
class Registration:
    """The MLflow experiment the run is recorded in and the registered model that gains a
    version (the first version of a model becomes its ``champion``; later ones are promoted
    on purpose, with ``waypoint models promote``)."""

    experiment: str = "waypoint"
    model_name: str = "waypoint"


@dataclass(frozen=True)
class TrainRequest:
    """One ``waypoint train`` run: the files read, the forest's knobs, the registration and the
    fitting and reading rules.

    ``budget``: the inspection budget (a share of the lines) the model flags by default.
    ``baseline``: with labels, also measure the plain gradient-boosted baseline held out.
    ``force``: train even on fewer valid lines than the forest draws per tree.
    ``importing_country``, ``strict``, ``max_reject_share``: as in :class:`ScoreRequest`.
    ``engine``: ``local`` or ``spark`` (Spark reads, builds the features and the state, at ``master``).
    """

    files: TrainFiles
    forest: ForestParams = field(default_factory=ForestParams)
    registration: Registration = field(default_factory=Registration)
    budget: float = 0.01
    baseline: bool = False
    force: bool = False
    importing_country: str | None = None
    strict: bool = False
    max_reject_share: float | None = None
    engine: str = "local"
    master: str | None = None

    @classmethod
    def of(cls, shipments: PathLike | Sequence[PathLike], *,
           inputs: PathLike | Sequence[PathLike] | None = None, events: PathLike | Sequence[PathLike] | None = None,
           parties: PathLike | Sequence[PathLike] | None = None, labels: PathLike | None = None,
           mapping: PathLike | None = None, **options: Any) -> TrainRequest:
        """The request of the keyword form (``detector.train``, ``detector.jobs.train.train``):
        the files by role, then any option of :class:`models.params.ForestParams`
        (``n_estimators``, ``contamination``, ``seed``, ``max_samples``), of
        :class:`Registration` or of the request by name (an unknown name is a ``TypeError``)."""
        forest = ForestParams(**{name: options.pop(name) for name in FOREST_OPTIONS if name in options})
        registration = Registration(**{name: options.pop(name) for name in REGISTRATION_OPTIONS if name in options})
        files = TrainFiles(_paths(shipments), inputs=_paths(inputs), events=_paths(events), parties=_paths(parties),
                           labels=labels, mapping=mapping)
        return cls(files, forest, registration, **options)


#: The keyword options :meth:`TrainRequest.of` puts in the forest's knobs and the registration.
FOREST_OPTIONS = tuple(f.name for f in fields(ForestParams))
REGISTRATION_OPTIONS = tuple(f.name for f in fields(Registration))
