"""Process settings: allocator options made when ``features`` is imported (in a fresh
process each), and the priority of background threads.

Polars puts its own jemalloc defaults first and whatever ``_RJEM_MALLOC_CONF`` held after
them (later options win), so what ends the variable once Polars is loaded is what applies.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from features._runtime import BACKGROUND_NICE, CONF, background_priority


def _conf(code: str, env: dict[str, str] | None = None) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF" and not k.startswith("MALLOC_")}
    run = subprocess.run([sys.executable, "-c", f"import os; {code}; print(os.environ['_RJEM_MALLOC_CONF'])"],
                         env=clean | (env or {}), capture_output=True, text=True, check=True)
    return run.stdout.strip()


def test_importing_features_first_gives_polars_our_allocator_options():
    assert _conf("import features, polars").endswith("," + CONF)
    assert "narenas:1" in CONF and "oversize_threshold:0" in CONF


def test_allocator_options_the_user_set_are_kept():
    conf = _conf("import features, polars", {"_RJEM_MALLOC_CONF": "narenas:4"})
    assert conf.endswith(",narenas:4") and CONF not in conf


def test_polars_loaded_first_is_left_alone():
    assert CONF not in _conf("import polars, features")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a nice value per thread is Linux's")
def test_background_priority_lowers_only_the_calling_thread():
    seen: dict[str, int] = {}

    def background():
        assert background_priority()
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=background)
    t.start()
    t.join()
    assert seen["thread"] == BACKGROUND_NICE > before
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # this thread is untouched
