"""MediaPipe's and TF-Lite's own log lines, kept off the terminal unless asked for.

Their C++ code logs straight to file descriptor 2 (absl: ``W0000 00:00:1796213660.25 6780 file.cc:114] ...``;
TF-Lite: ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``), before any logging set-up can reach it:
``GLOG_minloglevel`` and ``TF_CPP_MIN_LOG_LEVEL`` change nothing in mediapipe 0.10.21, and a graph's own threads
keep writing after the call that created the graph has returned (models load in the background, and again after a
``reset``). So while a graph is open, descriptor 2 is a pipe read by a thread that drops those lines (informational
and warning levels only: MediaPipe's errors, ``E...``/``F...``, still show) and passes every other byte on to the
real stderr: Python tracebacks and warnings, our own messages, progress bars.

>>> hold_native_logs()  # doctest: +SKIP
>>> ...  # create the graph, run it, close it
>>> release_native_logs()  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# absl/glog informational and warning lines ("I0000 00:00:..." / "W0512 12:01:02.3456  123 file.cc:12] ") and
# TF-Lite's minimal logging ("INFO: ...", "WARNING: ...", also absl's note that logging is not initialised yet).
NATIVE_LINE = re.compile(rb"(?:[IW]\d{4} [\d:.]+ +\d+ [^\s:\]]+:\d+\] |INFO: |WARNING: )")
_MAY_BE_NATIVE = (b"I", b"W")  # first byte of every line NATIVE_LINE matches


class _StderrFilter:
    """Descriptor 2 → pipe → a thread that forwards all but native log lines to the original descriptor 2."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.original = os.dup(2)
        read, self.write = os.pipe()
        self.thread = threading.Thread(target=self._forward, args=(read,), daemon=True, name="native-log-filter")
        self.thread.start()
        _flush_python_stderr()
        os.dup2(self.write, 2)

    def _forward(self, read: int) -> None:
        pending = b""
        while True:
            chunk = os.read(read, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = re.split(rb"(?<=[\r\n])", pending)  # \r too: progress bars redraw without newlines
            for line in lines:
                if not NATIVE_LINE.match(line):
                    self._write(line)
            # An unfinished line that cannot become a native one goes out now (a prompt, a progress bar's first draw).
            if pending and (
                not pending.startswith(_MAY_BE_NATIVE) or len(pending) > 48 and not NATIVE_LINE.match(pending)
            ):
                self._write(pending)
                pending = b""
        if pending and not NATIVE_LINE.match(pending):
            self._write(pending)
        os.close(read)

    def _write(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self.original, data) :]
        except OSError:
            pass  # the real stderr is gone (a closed pipe): keep draining ours so that writers never block

    def stop(self) -> None:
        """Give descriptor 2 back and forward what is still in the pipe."""
        _flush_python_stderr()
        os.dup2(self.original, 2)
        os.close(self.write)
        # EOF comes once no descriptor writes into the pipe any more; a child process started meanwhile may still
        # hold one, and the thread keeps forwarding for it (it is a daemon thread, it does not keep us alive).
        self.thread.join(timeout=2.0)


_LOCK = threading.Lock()
_HOLDERS = 0
_FILTER: _StderrFilter | None = None


def _flush_python_stderr() -> None:
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def hold_native_logs() -> None:
    """Hide native log lines until the matching :func:`release_native_logs` (calls are counted: one pair per open
    graph, so the last graph to close gives stderr back)."""
    global _HOLDERS, _FILTER
    with _LOCK:
        if _FILTER is not None and _FILTER.pid != os.getpid():  # a forked child: its parent's thread is not here
            _FILTER, _HOLDERS = None, 0
        if _HOLDERS == 0:
            try:
                _FILTER = _StderrFilter()
            except OSError:  # no descriptor 2 to filter (a closed stderr): nothing shows anyway
                return
        _HOLDERS += 1


def release_native_logs() -> None:
    """Undo one :func:`hold_native_logs`; descriptor 2 is the original again once none is left."""
    global _HOLDERS, _FILTER
    with _LOCK:
        if _HOLDERS == 0 or _FILTER is None or _FILTER.pid != os.getpid():
            return
        _HOLDERS -= 1
        if _HOLDERS == 0:
            _FILTER.stop()
            _FILTER = None


@atexit.register
def _give_back_at_exit() -> None:
    # A graph never closed (an exception on its way out, a script that just ends): the traceback printed before
    # exit is in the pipe; forward it and restore descriptor 2 before the interpreter goes.
    global _HOLDERS, _FILTER
    with _LOCK:
        if _FILTER is not None and _FILTER.pid == os.getpid():
            _FILTER.stop()
        _FILTER, _HOLDERS = None, 0
