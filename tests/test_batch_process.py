"""detector.runtime.batch_process: SIGTERM unwinds a batch like Ctrl+C, and the process is as it was after.

Each check runs in a fresh interpreter: it sends itself a signal and reads the handlers.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import gc, json, os, signal, threading
from detector.runtime import SIGTERM_EXIT, batch_process
before = signal.getsignal(signal.SIGTERM)
enabled, frozen = gc.isenabled(), gc.get_freeze_count()
seen = {}
try:
    with batch_process():
        os.kill(os.getpid(), signal.SIGTERM)
        seen["after_kill"] = "still running"  # not reached: the signal unwinds the block
except SystemExit as exc:
    seen["exit"] = exc.code
seen["handler_restored"] = signal.getsignal(signal.SIGTERM) is before
seen["collector_untouched"] = gc.isenabled() == enabled and gc.get_freeze_count() == frozen

def in_thread():
    with batch_process():
        seen["thread_handler_unchanged"] = signal.getsignal(signal.SIGTERM) is before
t = threading.Thread(target=in_thread); t.start(); t.join()
print(json.dumps({**seen, "expected_exit": SIGTERM_EXIT}))
"""


def _probe() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sigterm_in_a_batch_exits_with_128_plus_the_signal_and_the_handler_is_restored_after():
    seen = _probe()
    assert "after_kill" not in seen
    assert seen["exit"] == seen["expected_exit"] == 143
    assert seen["handler_restored"]
    assert seen["collector_untouched"]


def test_a_batch_in_a_worker_thread_leaves_the_signal_handlers_alone():
    assert _probe()["thread_handler_unchanged"]


@pytest.mark.tuning
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt exists on Linux only")
def test_a_batch_maps_large_blocks_on_their_own_on_glibc():
    """The 10M-line memory target rests on glibc mapping blocks of 4 MiB and more on their
    own; mallopt answers 1 when it took the setting (0 for an unknown parameter)."""
    import detector.runtime as runtime

    assert runtime._map_large_blocks() is True
