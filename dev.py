#!/usr/bin/env python3
"""Set up waypoint in ./.venv and run it: the only script a fresh clone needs.

    python3 dev.py demo     # install, then run `waypoint demo` on a generated sample world
    python3 dev.py test     # install (with test and Spark extras, Chromium and Java), then run the test suite
    python3 dev.py waypoint ARGS...   # install, then run any waypoint command

Needs only Python 3.11+. Installs pinned versions from constraints.txt; re-installs
only when pyproject.toml or constraints.txt change.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
CHROMIUM = "/usr/bin/chromium"


def _say(msg: str) -> None:
    print(f"[dev] {msg}", file=sys.stderr, flush=True)


def _run(*cmd: str | Path, **kw) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def ensure_venv(extras: str = "") -> None:
    if sys.version_info < (3, 11):
        sys.exit("waypoint needs Python 3.11 or newer")
    stamp_src = (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    stamp = hashlib.sha256(stamp_src + extras.encode()).hexdigest()
    marker = VENV / ".waypoint-installed"
    if marker.exists() and marker.read_text() == stamp:
        return
    if not (BIN / "python").exists():
        _say(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    _say("installing waypoint and its pinned dependencies (first run takes a few minutes)")
    target = f".[{extras}]" if extras else "."
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", ROOT / "constraints.txt", "-e", target, cwd=ROOT)
    marker.write_text(stamp)


def ensure_debian_packages(present: dict[str, bool]) -> None:
    """Install the Debian packages the tests drive (Chromium for the browser tests, Java for
    the Spark tests) that are missing, in one apt-get run, when we are allowed to."""
    missing = [name for name, here in present.items() if not here]
    if not missing:
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        _say(f"installing Debian's {', '.join(missing)} for the browser and Spark tests")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run("apt-get", "update", "-qq", env=env)
        _run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env, stdout=subprocess.DEVNULL)
    else:
        _say(f"{', '.join(missing)} missing and apt-get is not usable: the browser or Spark tests will fail")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if cmd == "test":
        ensure_venv("test,spark")
        ensure_debian_packages({"chromium": Path(CHROMIUM).exists(),
                                "openjdk-17-jre-headless": shutil.which("java") is not None})
        return subprocess.call([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
    if cmd == "demo":
        ensure_venv()
        return subprocess.call([str(BIN / "waypoint"), "demo", *rest])
    if cmd == "waypoint":
        ensure_venv()
        return subprocess.call([str(BIN / "waypoint"), *rest])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
