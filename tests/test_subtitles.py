"""Long videos → segments → subtitles: segmentation on synthetic and real signing, SRT/WebVTT, translate --srt."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from signmusketeers.cli import main
from signmusketeers.subtitles import Segment, SegmentOptions, segment_frames, signing_frames, to_srt, to_vtt

RATE = 12.5  # kept frames per second: 25 fps at stride 2


def body_pose(t: float, signing: bool) -> np.ndarray:
    """Normalised 14-d pose: shoulders, elbows fixed; wrists below the elbows at rest, above them and circling when
    signing."""
    nose, shoulders, elbows = (0.5, 0.15), [(0.58, 0.27), (0.42, 0.27)], [(0.62, 0.48), (0.38, 0.48)]
    if signing:
        wrists = [(0.55 + 0.05 * np.sin(4 * t), 0.33 + 0.04 * np.cos(4 * t)), (0.45 - 0.05 * np.sin(3 * t), 0.35)]
    else:
        wrists = [(0.6, 0.53), (0.4, 0.53)]
    return np.array([nose, *shoulders, *elbows, *wrists], dtype=np.float32).reshape(-1)


def synthetic_track(seconds: float, signing: list[tuple[float, float]], no_pose: list[tuple[float, float]] = ()):
    times = np.arange(0, seconds, 1 / RATE)
    active = [any(a <= t < b for a, b in signing) for t in times]
    pose = np.stack([body_pose(t, s) for t, s in zip(times, active)])
    found = np.array([not any(a <= t < b for a, b in no_pose) for t in times])
    return pose, times, found


def covered(segments: list[Segment], a: float, b: float) -> float:
    """Fraction of [a, b) inside some segment."""
    grid = np.arange(a, b, 0.01)
    return float(np.mean([any(s.start <= x < s.end for s in segments) for x in grid]))


def assert_in_order(segments: list[Segment]) -> None:
    for before, after in zip(segments, segments[1:]):
        assert before.start < before.end <= after.start < after.end
        assert before.last <= after.first


def test_segments_follow_the_signing_and_respect_the_lengths():
    signing = [(5, 12), (20, 24), (30, 50), (55, 55.4)]  # the last is a blip, shorter than min_length
    pose, times, found = synthetic_track(70, signing, no_pose=[(60, 70)])
    segments = segment_frames(pose, times, found, 1 / RATE)
    assert_in_order(segments)
    activity = [s for s in segments if s.method == "activity"]
    for a, b in signing[:3]:
        assert covered(activity, a, b) > 0.97
    for a, b in [(0, 4.5), (13, 19.5), (25, 29.5), (51, 59.5)]:  # rest, still hands, the blip
        assert covered(segments, a, b) == 0
    assert len([s for s in activity if s.start >= 29]) == 2  # 20 s of signing cut into two parts <= 12 s
    assert all(s.end - s.start <= SegmentOptions.max_length + 2 * SegmentOptions.padding for s in activity)
    windows = [s for s in segments if s.method == "window"]  # no pose from 60 s on: 8 s windows
    assert [(round(s.start, 1), round(s.end, 1)) for s in windows] == [(59.8, 68.0), (68.0, 70.0)]


def test_short_pauses_are_bridged_and_still_raised_hands_are_not_signing():
    pose, times, found = synthetic_track(20, [(2, 6), (6.3, 10)])
    (segment,) = segment_frames(pose, times, found, 1 / RATE)
    assert segment.start == pytest.approx(1.8, abs=0.1) and segment.end == pytest.approx(10.2, abs=0.1)
    frozen = np.repeat(body_pose(1.0, True)[None], len(times), axis=0)  # hands up, never moving
    assert not signing_frames(frozen, times, found).any()
    assert segment_frames(frozen, times, found, 1 / RATE) == []


def test_window_method_tiles_the_whole_video():
    pose, times, found = synthetic_track(20, [(2, 6)])
    segments = segment_frames(pose, times, found, 1 / RATE, SegmentOptions(method="window", window=8))
    assert [(s.first, s.last) for s in segments] == [(0, 100), (100, 200), (200, 250)]
    assert segments[-1].end == pytest.approx(20, abs=0.01) and {s.method for s in segments} == {"window"}
    with pytest.raises(ValueError, match="'activity' or 'window'"):
        SegmentOptions(method="pauses")


def test_srt_and_webvtt_text():
    segments = [
        Segment(0, 10, 1.2, 4.5, "activity", "Hello there."),
        Segment(10, 20, 5, 5.5, "activity", "\x14 \x00"),
        Segment(20, 40, 3599.9994, 3725.25, "window", "A -->\n\nB"),
    ]
    assert to_srt(segments) == (
        "1\n00:00:01,200 --> 00:00:04,500\nHello there.\n\n2\n00:59:59,999 --> 01:02:05,250\nA --> B\n\n"
    )  # one line; no empty cue
    assert to_vtt(segments) == (
        "WEBVTT\n\n00:00:01.200 --> 00:00:04.500\nHello there.\n\n00:59:59.999 --> 01:02:05.250\nA -> B\n\n"
    )


# ------------------------------------------------------------------------------------------ translate --srt


def _pixel_pose(t: float, signing: bool, width: int, height: int) -> np.ndarray:
    """33 MediaPipe pose points in pixels for :func:`body_pose` (head unit 8 px), hands' points at the wrists."""
    head = 8.0
    normalised = body_pose(t, signing).reshape(7, 2)
    x0, y0 = width / 2 - 3 * head, 12.0
    points = np.zeros((33, 3), np.float32)
    points[:, 2] = 1
    pixels = normalised * np.array([6 * head, 7 * head]) + np.array([x0, y0])
    points[0, :2] = pixels[0]
    points[1:11, :2] = pixels[0] + np.linspace(-4, 4, 10)[:, None]  # eyes, ears, mouth around the nose
    points[2, :2] = (pixels[0][0], y0 + 0.5 * head)  # the left eye sets the top of the signing space
    for point, row in zip((11, 12, 13, 14, 15, 16), pixels[1:]):
        points[point, :2] = row
    for wrist, hand in ((15, (17, 19, 21)), (16, (18, 20, 22))):
        points[list(hand), :2] = points[wrist, :2] + 2
    return points


def write_synthetic_talk(folder: Path, seconds: float, signing: list[tuple[float, float]], fps: int = 10):
    """A small video and its landmark file (SynthSign's layout) of a body signing in the given stretches."""
    from tests.parsing.media import noise_frames, write_video

    width = height = 96
    frames = int(seconds * fps)
    write_video(folder / "talk.mp4", noise_frames(frames, width, height), fps=fps)
    pose = np.stack(
        [_pixel_pose(t / fps, any(a <= t / fps < b for a, b in signing), width, height) for t in range(frames)]
    )
    absent = lambda n: np.full((frames, n, 2), np.nan, np.float32)  # noqa: E731
    np.savez(
        folder / "talk.npz",
        pose=pose,
        face=absent(468),
        left_hand=absent(21),
        right_hand=absent(21),
        present_pose=np.ones(frames, bool),
        present_face=np.zeros(frames, bool),
        present_left_hand=np.zeros(frames, bool),
        present_right_hand=np.zeros(frames, bool),
    )
    manifest = folder / "talk.jsonl"
    manifest.write_text(json.dumps({"clip_id": "talk", "video": "talk.mp4", "landmarks": "talk.npz"}) + "\n")
    return manifest


SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+)\n")


def srt_times(text: str) -> list[tuple[float, float]]:
    cues = SRT_CUE.findall(text)
    assert [int(cue[0]) for cue in cues] == list(range(1, len(cues) + 1))
    seconds = lambda h, m, s, ms: int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000  # noqa: E731
    return [(seconds(*cue[1:5]), seconds(*cue[5:9])) for cue in cues]


def name_segments(monkeypatch) -> None:
    """Random translators emit control characters only (no cue); name each segment by its frames instead."""
    from signmusketeers.inference import Translator

    monkeypatch.setattr(Translator, "generate", lambda self, encoded, first=0, last=None: f"frames {first} to {last}")


def test_translate_writes_timed_subtitles_of_a_long_video(tmp_path, capsys, monkeypatch):
    from tests.translate.test_inference import demo_checkpoint

    name_segments(monkeypatch)

    signing = [(2, 7), (10, 16), (19, 23)]
    manifest = write_synthetic_talk(tmp_path, 26, signing)
    checkpoint = demo_checkpoint(tmp_path)
    srt, vtt = tmp_path / "out" / "talk.srt", tmp_path / "out" / "talk.vtt"
    assert (
        main(
            [
                "translate",
                str(manifest),
                "--checkpoint",
                str(checkpoint),
                "--srt",
                str(srt),
                "--vtt",
                str(vtt),
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    segments = result["segments"]
    assert len(segments) == 3 and result["frames"] == 130
    for segment, (a, b) in zip(segments, signing):
        assert segment["start"] <= a + 0.3 and segment["end"] >= b - 0.3 and segment["method"] == "activity"
    assert [s["text"] for s in segments] == [f"frames {s['first']} to {s['last']}" for s in segments]
    assert srt_times(srt.read_text()) == [(s["start"], s["end"]) for s in segments]
    assert [cue[-1] for cue in SRT_CUE.findall(srt.read_text())] == [s["text"] for s in segments]
    assert vtt.read_text().startswith("WEBVTT\n\n") and vtt.read_text().count(" --> ") == 3


def test_translate_srt_refuses_several_videos_and_wrong_suffixes(tmp_path, capsys):
    from tests.translate.test_inference import demo_checkpoint

    checkpoint = demo_checkpoint(tmp_path)
    assert main(["translate", "a.mp4", "b.mp4", "--checkpoint", str(checkpoint), "--srt", "x.srt"]) == 2
    assert "one video; 2 inputs given" in capsys.readouterr().err
    assert main(["translate", "a.mp4", "--checkpoint", str(checkpoint), "--srt", "x.vtt"]) == 2
    assert "x.vtt: a SRT file must end in .srt" in capsys.readouterr().err


def test_translator_streams_a_few_frames_at_a_time(tmp_path):
    """Encoding starts after batch_frames frames: the parser is never more than one batch ahead."""
    from signmusketeers.inference import Translator
    from signmusketeers.parsing import FrameParser
    from tests.translate.test_inference import demo_checkpoint

    manifest = write_synthetic_talk(tmp_path, 8, [(1, 6)])
    translator = Translator(demo_checkpoint(tmp_path), batch_frames=5)
    produced, seen_at_encode = [0], []
    iter_frames = translator.parser.iter_frames

    def counting(*args, **kwargs):
        for frame in iter_frames(*args, **kwargs):
            produced[0] += 1
            yield frame

    encode_crops = translator.encode_crops

    def checking(crops):
        seen_at_encode.append(produced[0])
        return encode_crops(crops)

    translator.parser.iter_frames = counting
    translator.encode_crops = checking
    encoded = translator.encode(tmp_path / "talk.mp4", landmarks=tmp_path / "talk.npz")
    assert len(encoded) == 40 and seen_at_encode == [5, 10, 15, 20, 25, 30, 35, 40]
    # the same features as parsing the whole clip first
    clip = FrameParser(crop_size=56, stride=2).parse_video(tmp_path / "talk.mp4", landmarks=tmp_path / "talk.npz")
    whole = translator.features(torch.from_numpy(clip.crops), torch.from_numpy(clip.pose))
    for name in ("face", "left", "right"):
        np.testing.assert_allclose(encoded.streams[name].float().numpy(), whole[name][0].numpy(), atol=1e-3)
    np.testing.assert_array_equal(encoded.pose.numpy(), clip.pose)
    assert manifest.exists()


# ------------------------------------------------------------------------------------------ real signing, 3 minutes


def write_three_minute_talk(clips: Path, path: Path, pause: float = 4.0, minutes: float = 3.0):
    """The real clips one after the other, each after a pause (the frame before it held still), for ``minutes``;
    returns the video and the [start, end) seconds of every clip in it. 480 × 360 at 25 fps."""
    import av
    import cv2

    from signmusketeers.parsing.video import read_frames

    width, height, fps = 480, 360, 25

    def fit(image: np.ndarray) -> np.ndarray:  # letterbox into the common frame size
        scale = min(width / image.shape[1], height / image.shape[0])
        w, h = int(image.shape[1] * scale) // 2 * 2, int(image.shape[0] * scale) // 2 * 2
        canvas = np.zeros((height, width, 3), np.uint8)
        top, left = (height - h) // 2, (width - w) // 2
        canvas[top : top + h, left : left + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        return canvas

    sources = [
        [fit(f.image) for f in read_frames(clips / name)]
        for name in ("signer_blue_screen.mp4", "signer_and_tv_speaker.mp4")
    ]
    spans, count = [], 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}

        def put(image: np.ndarray) -> None:
            nonlocal count
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            count += 1

        number, held = 0, sources[0][0]
        while count < minutes * 60 * fps:
            frames = sources[number % 2]
            for _ in range(int(pause * fps)):  # the signer freezes as the last clip ended: no cut before the signing
                put(held)
            held = frames[-1]
            spans.append((count / fps, (count + len(frames)) / fps))
            for image in frames:
                put(image)
            number += 1
        for packet in stream.encode():
            container.mux(packet)
    return path, spans, count / fps


@pytest.mark.slow
@pytest.mark.needs_shared_data
def test_three_minutes_of_real_signing_become_subtitles_covering_the_signing(
    shared_clips, tmp_path, capsys, monkeypatch
):
    """MediaPipe on a 3-minute video of the real clips between still pauses: one subtitle per clip, in order."""
    from tests.translate.test_inference import demo_checkpoint

    name_segments(monkeypatch)

    pause = 4.0
    video, spans, duration = write_three_minute_talk(shared_clips, tmp_path / "talk.mp4", pause=pause)
    assert duration >= 180 and len(spans) >= 14
    srt = tmp_path / "talk.srt"
    assert (
        main(["translate", str(video), "--checkpoint", str(demo_checkpoint(tmp_path)), "--srt", str(srt), "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    segments = [Segment(**s) for s in result["segments"]]
    assert_in_order(segments)
    assert {s.method for s in segments} == {"activity"}
    for a, b in spans:
        # the blue-screen clip rests its hands for ~0.2 s at the start and 0.5 s at the end
        assert covered(segments, a + 0.3, b - 0.6) > 0.9, (a, b, [(s.start, s.end) for s in segments])
        # the still pause before it, past the previous segment's padding and motion window
        assert covered(segments, a - pause + 1.0, a - 0.8) == 0, (a, [(s.start, s.end) for s in segments])
    times = srt_times(srt.read_text())
    assert times == sorted(times) and times == [(s.start, s.end) for s in segments]


def test_feature_buffer_grows_and_keeps_every_row():
    from signmusketeers.encoded_video import FeatureBuffer

    buffer, rows = FeatureBuffer(2), [torch.randn(n, 4).half() for n in (1, 3, 5, 2)]
    for batch in rows:
        buffer.append(batch)
    assert torch.equal(buffer.values(), torch.cat(rows)) and buffer.data.shape[0] >= 11
