"""Decoding as corpora need it: segments of long videos by seeking (same frames as decoding from the first),
display rotation, and folders of frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signmusketeers.parsing import video_seek
from signmusketeers.parsing.video import VideoError, probe_video, read_frames
from tests.parsing.corpus_media import clip_frames, encode, frame_folder

FPS, GOP = 25, 50  # a keyframe every 2 s, B-frames: as real encoders write


@pytest.fixture(scope="module")
def small_frames(shared_clips: Path) -> list[np.ndarray]:
    return clip_frames(shared_clips, 96, 72)


@pytest.fixture(scope="module")
def long_video(small_frames, tmp_path_factory) -> Path:
    """40 s of real signing (the shared clips looped), keyframes every 2 s, B-frames."""
    return encode(tmp_path_factory.mktemp("long") / "full.mp4", small_frames, 40 * FPS, fps=FPS, gop=GOP)


@pytest.fixture(scope="module")
def vfr_video(small_frames, tmp_path_factory) -> Path:
    """Variable frame rate: frame durations 30, 55 and 40 ms in turn, keyframes every 50 frames, B-frames."""
    return encode(tmp_path_factory.mktemp("vfr") / "vfr.mp4", small_frames, 900, gop=GOP, durations_ms=[30, 55, 40])


def same(seeked: list, decoded: list) -> None:
    assert [f.index for f in seeked] == [f.index for f in decoded]
    assert [f.time for f in seeked] == [f.time for f in decoded]
    for a, b in zip(seeked, decoded):
        assert np.array_equal(a.image, b.image), f"frame {a.index} differs"


SEGMENTS = [
    (4.0, 5.0),  # starts exactly on a keyframe (frame 100)
    (4.04, 5.0),  # just after a keyframe
    (3.99, 4.5),  # just before one: needs the previous GOP
    (17.3, 22.3),  # 5 s in the middle
    (38.5, 45.0),  # runs past the end of the video
    (39.96, None),  # the very last frame
    (0.0, 0.5),  # from the start
]


@pytest.mark.parametrize("start, end", SEGMENTS)
@pytest.mark.parametrize("stride", [1, 2])
def test_seeking_gives_the_frames_of_decoding_from_the_start(long_video: Path, start, end, stride) -> None:
    seeked = list(read_frames(long_video, start=start, end=end, stride=stride))
    decoded = list(read_frames(long_video, start=start, end=end, stride=stride, seek=False))
    assert seeked, "no frames in the segment"
    same(seeked, decoded)
    assert seeked[0].index == int(np.ceil(round(start * FPS, 6)))  # constant rate: index = time x fps


@pytest.mark.parametrize("start, end", [(4.0, 6.0), (4.001, 6.0), (13.37, 18.0), (36.0, None), (0.03, 1.0)])
def test_seeking_in_variable_frame_rate_video(vfr_video: Path, start, end) -> None:
    seeked = list(read_frames(vfr_video, start=start, end=end))
    decoded = list(read_frames(vfr_video, start=start, end=end, seek=False))
    assert seeked
    same(seeked, decoded)
    assert len({round(b.time - a.time, 3) for a, b in zip(seeked, seeked[1:])}) > 1  # really variable


@pytest.mark.parametrize(
    "name, codec, durations",
    [("vp8.webm", "libvpx", None), ("vp9.webm", "libvpx-vp9", None), ("vfr.mkv", "libx264", [30, 55, 40])],
)
def test_seeking_in_matroska_and_webm(small_frames, tmp_path: Path, name, codec, durations) -> None:
    # Matroska's cues list keyframes only: the frames before a keyframe are counted in one pass over the packets
    path = encode(tmp_path / name, small_frames, 300, gop=GOP, codec=codec, durations_ms=durations)
    import av

    with av.open(str(path)) as container:
        anchor = video_seek.seek_to_keyframe(container, container.streams.video[0], 9.3)
    assert anchor is not None and anchor.before > 160  # decoding starts near the segment, not at the file's start
    for start, end in [(4.0, 5.0), (4.04, 5.0), (9.3, 10.0), (0.01, 0.5), (10.5, None)]:
        seeked = list(read_frames(path, start=start, end=end))
        assert seeked
        same(seeked, list(read_frames(path, start=start, end=end, seek=False)))


def test_a_segment_starts_decoding_at_the_keyframe_before_it(long_video: Path) -> None:
    import av

    with av.open(str(long_video)) as container:
        anchor = video_seek.seek_to_keyframe(container, container.streams.video[0], 37.3)
    # the last keyframe at or before frame 933 (37.32 s): within a GOP of it, not the file's start
    assert anchor is not None and anchor.packet.is_keyframe and 933 - GOP <= anchor.before <= 933
    frames = list(read_frames(long_video, start=37.3, end=37.8))
    assert [f.index for f in frames] == list(range(933, 945))  # 37.32 s up to 37.76 s


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("mirror", [False, True])
def test_display_rotation_is_applied(tmp_path: Path, rotation: int, mirror: bool) -> None:
    upright = np.zeros((64, 48, 3), dtype=np.uint8)
    upright[:16, :8] = 255  # a white mark top left, a green one bottom right: any turn or mirror moves them
    upright[40:, 30:, 1] = 200
    shown = upright[:, ::-1] if mirror else upright
    stored = np.ascontiguousarray(np.rot90(shown, -rotation // 90))  # what a phone writes: sideways + the matrix
    path = encode(tmp_path / "phone.mp4", [stored], 4, bframes=0, rotation=rotation, mirror=mirror)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (48, 64, rotation)
    for frame in read_frames(path):
        assert frame.image.shape == upright.shape and frame.image.flags["C_CONTIGUOUS"]
        assert np.abs(frame.image.astype(int) - upright).mean() < 8  # lossy H.264, but the right way up


def test_a_sideways_phone_video_of_real_signing_reads_upright(small_frames, tmp_path: Path) -> None:
    upright = small_frames[:20]
    sideways = [np.ascontiguousarray(np.rot90(image, 1)) for image in upright]  # stored turned a quarter left
    path = encode(tmp_path / "sideways.mp4", sideways, 20, bframes=0, rotation=-90)  # shown turned back right
    info = probe_video(path)
    assert (info.width, info.height) == (96, 72)
    frames = list(read_frames(path, start=0.2))
    assert [f.image.shape for f in frames] == [(72, 96, 3)] * 15
    assert np.mean([np.abs(f.image.astype(int) - upright[f.index]).mean() for f in frames]) < 6


def test_folder_of_frames_reads_like_a_video(small_frames, tmp_path: Path) -> None:
    folder = frame_folder(tmp_path / "01April_2010_Thursday_heute-6694", small_frames[:12])
    (folder / "images0010.png").rename(folder / "images10.png")  # unpadded numbers still sort as numbers
    info = probe_video(folder, fps=25)
    assert (info.width, info.height, info.frames, info.fps) == (96, 72, 12, 25.0)
    frames = list(read_frames(folder, fps=25))
    assert [f.index for f in frames] == list(range(12)) and frames[3].time == 3 / 25
    assert np.abs(frames[9].image.astype(int) - small_frames[9]).max() == 0  # PNG: lossless, in order
    segment = list(read_frames(folder, fps=25, start=0.1, end=0.3, stride=2))
    assert [f.index for f in segment] == [3, 5, 7]  # 0.12, 0.20, 0.28 s
    with pytest.raises(VideoError, match="needs its frame rate"):
        probe_video(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no image files"):
        list(read_frames(tmp_path / "empty", fps=25))
