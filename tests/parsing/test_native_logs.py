"""MediaPipe's and TF-Lite's own log lines stay off stderr unless asked for; everything else still gets through."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.parsing.media import SHARED_CLIPS

REPOSITORY = Path(__file__).resolve().parents[2]
BLUE_SCREEN = SHARED_CLIPS / "signer_blue_screen.mp4"
NATIVE_MARKS = (
    "W0000 ",
    "I0000 ",
    "INFO: Created TensorFlow Lite",
    "gl_context",
    "absl::InitializeLog",
    "inference_feedback_manager",
)


def run_python(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (MediaPipe writes to file descriptor 2, which only a subprocess shows)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=REPOSITORY,
    )


def native_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(mark in line for mark in NATIVE_MARKS)]


def test_the_filter_drops_native_lines_and_passes_everything_else() -> None:
    """No MediaPipe needed: native-looking lines written to descriptor 2 while held are dropped; Python's own
    writes, an unfinished progress line, an error line of MediaPipe's and a traceback at exit all come through."""
    result = run_python(r"""
        import os, sys
        from signmusketeers.parsing.native_logs import hold_native_logs, release_native_logs
        hold_native_logs()
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"W0000 00:00:1796213660.250794    6780 inference_feedback_manager.cc:114] Feedback\n")
        os.write(2, b"I0000 00:00:1796213660.250794    6780 gl_context.cc:357] GL version: 3.2\n")
        os.write(2, b"E0000 00:00:1796213660.250794    6780 calculator_graph.cc:887] a real error\n")
        print("signmusketeers parse: clip.mp4: 1 frame decoded", file=sys.stderr, flush=True)
        print(" 40%|####      |\r", end="", file=sys.stderr, flush=True)
        release_native_logs()
        os.write(2, b"W0000 00:00:1.2 1 after.cc:1] shown: nothing is held any more\n")
        hold_native_logs()
        raise RuntimeError("boom")
    """)
    assert result.returncode == 1
    lines = result.stderr.replace("\r", "\n").splitlines()
    assert not [line for line in lines if "inference_feedback" in line or "gl_context" in line or "INFO:" in line]
    assert "signmusketeers parse: clip.mp4: 1 frame decoded" in lines
    assert " 40%|####      |" in lines
    assert any("calculator_graph.cc:887] a real error" in line for line in lines)
    assert any("shown: nothing is held any more" in line for line in lines)
    assert "RuntimeError: boom" in lines and "Traceback (most recent call last):" in lines


PARSE_A_CLIP = """
    import sys
    from signmusketeers.parsing import FrameParser
    parser = FrameParser(crop_size=32, stride=4, verbose={verbose})
    for frame in parser.stream_video({video!r}, end=1.5):
        print(f"ours: frame {{frame.index}}", file=sys.stderr)
    parser.close()
    for frame in parser.stream_video({video!r}, start=1.5, end=2.5):  # a second graph
        pass
    raise RuntimeError("our error after the last frame")
"""


@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.needs_shared_data
@pytest.mark.skipif(not BLUE_SCREEN.exists(), reason=f"shared clips not found at {SHARED_CLIPS}")
def test_parsing_a_real_clip_shows_mediapipe_lines_only_when_verbose(verbose: bool) -> None:
    result = run_python(PARSE_A_CLIP.format(video=str(BLUE_SCREEN), verbose=verbose))
    assert "RuntimeError: our error after the last frame" in result.stderr
    assert "ours: frame 0" in result.stderr and "ours: frame 32" in result.stderr
    if verbose:
        assert any("INFO: Created TensorFlow Lite" in line for line in native_lines(result.stderr))
        assert any(line.startswith("W0000 ") for line in native_lines(result.stderr))
    else:
        assert native_lines(result.stderr) == []


WORKERS = """
    import multiprocessing, sys
    from concurrent import futures
    from signmusketeers.parsing import FrameParser

    def frames(segment):
        parser = FrameParser(crop_size=32, stride=4)
        return len(parser.parse_video({video!r}, start=segment, end=segment + 1.0))

    if __name__ == "__main__":
        with futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            print("ours: frames", list(pool.map(frames, [0.0, 2.0])), file=sys.stderr)
"""


@pytest.mark.needs_shared_data
@pytest.mark.skipif(not BLUE_SCREEN.exists(), reason=f"shared clips not found at {SHARED_CLIPS}")
def test_worker_processes_each_hide_their_graphs_lines(tmp_path: Path) -> None:
    script = tmp_path / "workers.py"  # spawned workers import the main module: it must be a file
    script.write_text(textwrap.dedent(WORKERS.format(video=str(BLUE_SCREEN))))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=environment, cwd=REPOSITORY
    )
    assert result.returncode == 0, result.stderr
    assert "ours: frames [7, 6]" in result.stderr  # every 4th frame of [0, 1) s and [2, 3) s at 24.17 fps
    assert native_lines(result.stderr) == []
