"""Settings built once at the edge from the environment; nothing else reads os.environ.

``WAYPOINT_HOME`` (default: the user's data dir, e.g. ``~/.local/share/waypoint``) holds
the embedded MLflow store (``mlflow.db`` + ``mlartifacts/``) and the review decisions
(``decisions.db``). ``MLFLOW_TRACKING_URI``, when set, replaces the embedded store.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    tracking_uri: str
    artifact_root: Path
    registry_uri: str | None
    embedded_store: bool  # True when we own the SQLite store (and must initialise it)

    @property
    def decisions_db(self) -> Path:
        return self.home / "decisions.db"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        if env.get("WAYPOINT_HOME"):
            home = Path(env["WAYPOINT_HOME"]).expanduser().resolve()
        else:
            from platformdirs import user_data_dir

            home = Path(user_data_dir("waypoint", appauthor=False)).resolve()
        uri = env.get("MLFLOW_TRACKING_URI")
        embedded = not uri
        if embedded:
            uri = f"sqlite:///{(home / 'mlflow.db').as_posix()}"  # absolute: sqlite:////abs/path
        return cls(
            home=home,
            tracking_uri=uri,
            artifact_root=home / "mlartifacts",
            registry_uri=env.get("MLFLOW_REGISTRY_URI"),
            embedded_store=embedded,
        )
