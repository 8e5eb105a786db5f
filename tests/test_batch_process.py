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



MMAP_PROBE = """
import ctypes, sys
libc = ctypes.CDLL(None)
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
if sys.argv[1] == "batch":
    from detector.runtime import batch_process
    batch_process().__enter__()
block = libc.malloc(16 << 20); libc.free(block)  # glibc's default then raises its threshold past 16 MiB
mapped = libc.mallinfo2().hblkhd
block = libc.malloc(8 << 20)
print(libc.mallinfo2().hblkhd - mapped >= 8 << 20)
"""


@pytest.mark.tuning
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is Linux's")
def test_a_batch_maps_large_blocks_on_their_own_where_glibc_would_reuse_its_heap():
    """The 10M-line memory target rests on it: after a large block is freed, glibc's default
    serves the next large block from the heap (whose freed memory stays resident); inside a
    batch a block of 4 MiB or more is always mapped on its own."""
    def mapped(mode: str) -> bool:
        out = subprocess.run([sys.executable, "-c", MMAP_PROBE, mode], capture_output=True, text=True, check=True)
        return out.stdout.strip() == "True"

    assert mapped("plain") is False  # the probe can tell: glibc's default reuses the heap
    assert mapped("batch") is True
