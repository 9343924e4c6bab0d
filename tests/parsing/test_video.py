"""PyAV decoding: containers, timestamps (variable frame rate), stride, segments, grayscale, odd sizes, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signmusketeers.parsing.video import VideoError, probe_video, read_frames
from tests.parsing.media import noise_frames, write_video


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mov", ".gif"])
def test_containers_decode_every_frame(tmp_path: Path, suffix: str) -> None:
    path = write_video(tmp_path / f"clip{suffix}", noise_frames(7, 64, 48), fps=10)
    frames = list(read_frames(path))
    assert [f.index for f in frames] == list(range(7))
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    assert probe_video(path).width == 64


def test_variable_frame_rate_keeps_real_timestamps(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.15, 0.5, 0.55]
    path = write_video(tmp_path / "vfr.mkv", noise_frames(5), times=times)
    assert [round(f.time, 3) for f in read_frames(path)] == times


def test_stride_and_segment(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mkv", noise_frames(20), fps=10)
    assert [f.index for f in read_frames(path, stride=2)] == list(range(0, 20, 2))
    assert [f.index for f in read_frames(path, start=0.5, end=1.2, stride=3)] == [5, 8, 11]


def test_grayscale_and_odd_sizes_become_rgb(tmp_path: Path) -> None:
    gray = [np.full((41, 33), 60 + 10 * i, dtype=np.uint8) for i in range(3)]
    path = write_video(tmp_path / "gray.mkv", gray, pix_fmt="gray")
    frames = list(read_frames(path))
    assert frames[0].image.shape == (41, 33, 3)
    assert np.allclose(frames[1].image[..., 0], frames[1].image[..., 2]) and abs(int(frames[1].image.mean()) - 70) <= 2


def test_bad_files_name_the_file_and_the_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    good = write_video(tmp_path / "good.mp4", noise_frames(60, 128, 96), fps=10)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases = {empty: "empty file", text: "not a readable video", tmp_path / "missing.mp4": "no such file"}
    for path, reason in cases.items():
        with pytest.raises(VideoError, match=reason) as error:
            list(read_frames(path))
        assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)
    with pytest.raises(VideoError) as error:
        list(read_frames(truncated))
    assert str(error.value).startswith(str(truncated))


def test_truncated_stream_with_its_header_intact_is_refused(tmp_path: Path) -> None:
    """A 'faststart' mp4 keeps its header (and frame count) at the front: cutting its tail must not pass as a
    shorter clip."""
    import av

    path = tmp_path / "faststart.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for image in noise_frames(60, 128, 96):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoError, match=r"truncated: \d+ of the 60 frames|decoding failed after \d+ frames"):
        list(read_frames(cut))
    assert len(list(read_frames(path))) == 60


def test_prefetch_keeps_order_and_raises_errors_in_the_caller(tmp_path: Path) -> None:
    from signmusketeers.parsing.video import prefetch

    assert list(prefetch(range(50), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise VideoError("x.mp4: decoding failed after 1 frames")

    with pytest.raises(VideoError, match="decoding failed"):
        list(prefetch(failing()))
    early = prefetch(iter(range(1000)), depth=2)
    assert next(early) == 0
    early.close()  # stopping early ends the producer thread
