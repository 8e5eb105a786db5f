"""What a batch run changes in the process: the one place waypoint touches the interpreter.

Nothing in ``features``, ``models`` or ``detector`` changes the process when imported or
called. The ``waypoint`` command applies :func:`batch_process` around the whole command
(``detector.cli.main.run``); a Python caller running a batch of its own (a notebook, a
scheduled job, a script around the MLflow pyfunc model) gets the same behaviour with::

    import detector.runtime

    with detector.runtime.batch_process():
        detector.api.score(...)

Outside the block the process is as Python and the libraries set it up, but for the
allocator setting, which glibc cannot undo (it stays, and does no harm after).

Settings:

* glibc's malloc maps every block of at least :data:`MMAP_THRESHOLD` bytes on its own and
  returns it to the system when freed; by default the threshold grows with the blocks
  freed, so the NumPy arrays of the history lookups end up in the heap, whose freed
  memory stays resident and adds up across a chunked build's chunks (the peak memory of
  a 10M-line score). Where malloc is not glibc's, nothing is changed.
* SIGTERM (what ``kill``, a scheduler or a container stop sends) ends the run as Ctrl+C
  does, by an exception that unwinds the stack, so every context manager (atomic
  outputs, spill folders) removes what the run left half-written; Python's default would
  end the process on the spot and leave them behind. The previous handler is put back
  when the block ends. It is set only on the main thread (Python allows no other), so a
  block in a server's worker thread changes nothing.

Left at their defaults, each measured with ``bench/score.py`` (figures in CHANGELOG.md):

* Python's cyclic garbage collector: a scoring run makes few objects for it to walk
  (Polars and NumPy buffers are freed by reference counting), so pausing it during the
  run, or freezing what is alive before exit, saves well under a second of a minute's run.
* Polars' jemalloc, and glibc's other options: tuning them for reuse kept freed memory
  resident and multiplied the peak memory of large runs.
"""
from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Exit code of a run ended by SIGTERM (128 + the signal's number, as shells report it).
SIGTERM_EXIT = 128 + signal.SIGTERM
#: Blocks of at least this many bytes are mapped on their own (glibc's ``M_MMAP_THRESHOLD``).
MMAP_THRESHOLD = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def _map_large_blocks() -> bool:
    """Set glibc's mmap threshold to :data:`MMAP_THRESHOLD`; False where malloc is not glibc's."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def _terminated(signum, frame) -> None:
    """SIGTERM ends a run like Ctrl+C: the exception unwinds the stack, so every context
    manager (atomic outputs, spill folders) removes what the run left half-written."""
    raise SystemExit(SIGTERM_EXIT)


@contextmanager
def batch_process() -> Iterator[None]:
    """Run the ``with`` block as a batch run (see the module docstring): large blocks are
    mapped on their own, and SIGTERM unwinds the block like Ctrl+C, exiting with
    :data:`SIGTERM_EXIT` (the previous handler is restored after)."""
    _map_large_blocks()  # freed arrays go back to the system: the peak of a chunked run stays one chunk's
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
