"""What a batch run changes in the process: the one place waypoint touches the interpreter.

Nothing in ``features``, ``models`` or ``detector`` changes the process when imported or
called. The ``waypoint`` command applies :func:`batch_process` around the whole command
(``detector.cli.main.run``); a Python caller running a batch of its own (a notebook, a
scheduled job, a script around the MLflow pyfunc model) gets the same behaviour with::

    import detector.runtime

    with detector.runtime.batch_process():
        detector.api.score(...)

Outside the block the process is as Python and the libraries set it up.

The one setting: SIGTERM (what ``kill``, a scheduler or a container stop sends) ends the
run as Ctrl+C does, by an exception that unwinds the stack, so every context manager
(atomic outputs, spill folders) removes what the run left half-written; Python's default
would end the process on the spot and leave them behind. The previous handler is put
back when the block ends. It is set only on the main thread (Python allows no other),
so a block in a server's worker thread changes nothing.

Left at their defaults, each measured with ``bench/score.py`` (figures in CHANGELOG.md):

* Python's cyclic garbage collector: a scoring run makes few objects for it to walk
  (Polars and NumPy buffers are freed by reference counting), so pausing it during the
  run, or freezing what is alive before exit, saves well under a second of a minute's run.
* The memory allocators (glibc's and Polars' jemalloc): tuning them for reuse kept freed
  memory resident and multiplied the peak memory of large runs.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Exit code of a run ended by SIGTERM (128 + the signal's number, as shells report it).
SIGTERM_EXIT = 128 + signal.SIGTERM


def _terminated(signum, frame) -> None:
    """SIGTERM ends a run like Ctrl+C: the exception unwinds the stack, so every context
    manager (atomic outputs, spill folders) removes what the run left half-written."""
    raise SystemExit(SIGTERM_EXIT)


@contextmanager
def batch_process() -> Iterator[None]:
    """Run the ``with`` block as a batch run (see the module docstring): SIGTERM unwinds
    it like Ctrl+C, exiting with :data:`SIGTERM_EXIT`; the previous handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
