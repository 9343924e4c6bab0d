""".pose files (pose-format, MediaPipe Holistic layout) in and out, checked with the pose-format package itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pose_format import Pose
from pose_format.numpy import NumPyPoseBody
from pose_format.pose_header import PoseHeader, PoseHeaderDimensions
from pose_format.utils.holistic import holistic_components

from signmusketeers.cli import main
from signmusketeers.data.manifests import read_inputs
from signmusketeers.parsing import FrameParser, ParseError
from signmusketeers.parsing.landmarks import ClipLandmarks
from signmusketeers.parsing.posefile import PoseFileError, PoseFileLandmarks, read_pose_file, write_pose_file
from tests.parsing.media import noise_frames, write_video
from tests.parsing.test_parser import synthetic_landmarks

CROP = 32
HOLISTIC = ["POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS", "POSE_WORLD_LANDMARKS"]


def video_to_pose_layout(npz: Path, width: int, height: int, fps: float, z_seed: int = 1) -> Pose:
    """What pose-format's ``video_to_pose`` writes for these landmarks, built with pose-format's own header and body
    classes: zeros with confidence 0 for a missing part, confidence 1 on a found face or hand, the pose's visibility
    as its confidence, z in the third column."""
    data = np.load(npz)
    frames = len(data["pose"])
    rng = np.random.default_rng(z_seed)
    points, confidence = [], []
    for part, count in (("pose", 33), ("face", 468), ("left_hand", 21), ("right_hand", 21)):
        present = data[f"present_{part}"]
        xyz = np.zeros((frames, count, 3), np.float32)
        xyz[present, :, :2] = data[part][present][..., :2]
        xyz[present, :, 2] = rng.uniform(-0.1, 0.1, (present.sum(), count))
        conf = np.zeros((frames, count), np.float32)
        conf[present] = data["pose"][present][..., 2] if part == "pose" else 1.0
        points.append(xyz)
        confidence.append(conf)
    points.append(np.zeros((frames, 33, 3), np.float32))  # world landmarks: not used by the parser
    confidence.append(np.zeros((frames, 33), np.float32))
    header = PoseHeader(
        version=0.2,
        dimensions=PoseHeaderDimensions(width=width, height=height, depth=0),
        components=holistic_components("XYZC", 0),
    )
    body = NumPyPoseBody(
        fps=fps, data=np.concatenate(points, 1)[:, None], confidence=np.concatenate(confidence, 1)[:, None]
    )
    return Pose(header, body)


def save(pose: Pose, path: Path) -> Path:
    with open(path, "wb") as handle:
        pose.write(handle)
    return path


def random_landmarks(frames: int = 5, seed: int = 0) -> ClipLandmarks:
    rng = np.random.default_rng(seed)
    present = {
        "pose": np.array([True, True, False, True, True]),
        "face": np.array([True, False, True, True, True]),
        "left_hand": np.array([False, True, True, False, True]),
        "right_hand": np.zeros(frames, bool),
    }
    sizes = {"pose": (33, 3), "face": (468, 2), "left_hand": (21, 2), "right_hand": (21, 2)}
    arrays, depth = {}, {}
    for part, shape in sizes.items():
        values = rng.uniform(0, 150, (frames, *shape)).astype(np.float32)
        if part == "pose":
            values[..., 2] = rng.uniform(0, 1, (frames, 33))
            values[0, 5, 2] = 0.0  # a point MediaPipe gives with visibility 0 keeps its position
        arrays[part] = np.where(present[part][:, None, None], values, np.nan).astype(np.float32)
        depth[part] = np.where(present[part][:, None], rng.uniform(-1, 1, (frames, shape[0])), np.nan).astype(
            np.float32
        )
    world = rng.uniform(-1, 1, (frames, 33, 4)).astype(np.float32)
    world[..., 3] = rng.uniform(0.1, 1, (frames, 33))
    return ClipLandmarks(**arrays, present=present, depth=depth, pose_world=world)


def test_written_pose_is_read_by_pose_format_with_the_same_values(tmp_path):
    landmarks = random_landmarks()
    path = write_pose_file(tmp_path / "clip.pose", landmarks, width=160, height=120, fps=12.5)
    pose = Pose.read(path.read_bytes())
    assert [c.name for c in pose.header.components] == HOLISTIC
    assert [len(c.points) for c in pose.header.components] == [33, 468, 21, 21, 33]
    assert (pose.header.dimensions.width, pose.header.dimensions.height) == (160, 120)
    assert pose.body.fps == pytest.approx(12.5) and pose.body.data.shape == (5, 1, 576, 3)
    data, conf = np.asarray(pose.body.data.data)[:, 0], np.asarray(pose.body.confidence)[:, 0]
    start = 0
    for part, count in (("pose", 33), ("face", 468), ("left_hand", 21), ("right_hand", 21)):
        block, block_conf, mask = (
            data[:, start : start + count],
            conf[:, start : start + count],
            landmarks.present[part],
        )
        np.testing.assert_array_equal(block[mask][..., :2], getattr(landmarks, part)[mask][..., :2])
        np.testing.assert_array_equal(block[mask][..., 2], landmarks.depth[part][mask])
        expected_conf = getattr(landmarks, part)[mask][..., 2] if part == "pose" else 1.0
        np.testing.assert_array_equal(block_conf[mask], np.broadcast_to(expected_conf, block_conf[mask].shape))
        assert (block[~mask] == 0).all() and (block_conf[~mask] == 0).all()  # missing part: zeros, confidence 0
        start += count
    world = data[:, start:]  # video_to_pose's scaling of the world landmarks: x × width, y × height
    np.testing.assert_allclose(world, landmarks.pose_world[..., :3] * [160, 120, 1], rtol=1e-6)
    # and our reader gives back exactly what was written
    back, info = read_pose_file(path)
    assert info == {"width": 160, "height": 120, "fps": 12.5, "frames": 5}
    for part in ("pose", "face", "left_hand", "right_hand"):
        np.testing.assert_array_equal(back.present[part], landmarks.present[part])
        np.testing.assert_array_equal(getattr(back, part), getattr(landmarks, part))
        np.testing.assert_array_equal(back.depth[part], landmarks.depth[part])
    np.testing.assert_allclose(back.pose_world, landmarks.pose_world, rtol=1e-6)
    # the landmark source the parser uses gives each frame the same values, a missing part as None
    source = PoseFileLandmarks(path)
    for t in range(5):
        frame = source(None, t)
        for part in ("pose", "face", "left_hand", "right_hand"):
            if not landmarks.present[part][t]:
                assert getattr(frame, part) is None and part not in (frame.depth or {})
                continue
            np.testing.assert_array_equal(getattr(frame, part), getattr(landmarks, part)[t])
            np.testing.assert_array_equal(frame.depth[part], landmarks.depth[part][t])
        np.testing.assert_allclose(frame.pose_world, landmarks.pose_world[t], rtol=1e-6)


def test_pose_format_draws_a_written_file(tmp_path):
    from pose_format.pose_visualizer import PoseVisualizer

    path = write_pose_file(tmp_path / "clip.pose", random_landmarks(), width=160, height=120, fps=10)
    frame = next(iter(PoseVisualizer(Pose.read(path.read_bytes())).draw()))
    assert frame.shape == (120, 160, 3) and frame.any()  # something was drawn on the black background


@pytest.mark.parametrize("stride, start", [(1, None), (2, None), (2, 0.25)])
def test_pose_input_gives_the_boxes_and_pose_of_the_landmarks_it_holds(tmp_path, monkeypatch, stride, start):
    import signmusketeers.parsing.posefile as posefile

    monkeypatch.setattr(posefile, "WINDOW", 3)  # frames are read from the file three at a time: windows are crossed
    video = write_video(tmp_path / "clip.mp4", noise_frames(8, 160, 120), fps=10)
    npz = synthetic_landmarks(tmp_path / "clip.npz", 8, 160, 120)
    pose_file = save(video_to_pose_layout(npz, 160, 120, 10.0), tmp_path / "clip.pose")
    parser = FrameParser(crop_size=CROP, stride=stride)
    expected = parser.parse_video(video, landmarks=npz, start=start)
    parsed = parser.parse_video(video, landmarks=pose_file, start=start)
    assert len(parsed) == len(expected) and (parsed.frame_index == expected.frame_index).all()
    np.testing.assert_array_equal(parsed.boxes, expected.boxes)
    np.testing.assert_array_equal(parsed.pose, expected.pose)
    np.testing.assert_array_equal(parsed.provenance, expected.provenance)
    np.testing.assert_array_equal(parsed.crops, expected.crops)
    assert parsed.landmarks.depth is not None  # z carried along for --poses-out


def test_pose_file_that_does_not_fit_the_video_is_refused_in_one_line(tmp_path):
    video = write_video(tmp_path / "clip.mp4", noise_frames(8, 160, 120), fps=10)
    npz = synthetic_landmarks(tmp_path / "clip.npz", 8, 160, 120)
    parser = FrameParser(crop_size=CROP)

    def refused(pose_path: Path, match: str) -> None:
        with pytest.raises(ParseError, match=match) as error:
            parser.parse_video(video, landmarks=pose_path)
        assert "\n" not in str(error.value) and str(error.value).startswith(str(video))

    refused(save(video_to_pose_layout(npz, 320, 240, 10.0), tmp_path / "size.pose"), "made for a 320x240 video")
    refused(save(video_to_pose_layout(npz, 160, 120, 25.0), tmp_path / "fps.pose"), "25 frames/s")
    short = synthetic_landmarks(tmp_path / "short.npz", 4, 160, 120)
    refused(save(video_to_pose_layout(short, 160, 120, 10.0), tmp_path / "short.pose"), "holds 4 frames")
    openpose_like = video_to_pose_layout(npz, 160, 120, 10.0)
    openpose_like = openpose_like.get_components(["POSE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"])
    refused(save(openpose_like, tmp_path / "noface.pose"), "not a MediaPipe Holistic .pose .no FACE_LANDMARKS")
    (tmp_path / "junk.pose").write_bytes(b"\x00\x01 not a pose file")
    refused(tmp_path / "junk.pose", "not a readable .pose file")
    (tmp_path / "empty.pose").write_bytes(b"")
    refused(tmp_path / "empty.pose", "empty file")
    with pytest.raises(PoseFileError, match="no such .pose file"):
        read_pose_file(tmp_path / "absent.pose")


def test_a_pose_file_beside_the_video_or_in_the_manifest_replaces_mediapipe(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "a.mp4", noise_frames(4, 160, 120), fps=10)
    write_video(folder / "b.mp4", noise_frames(4, 160, 120), fps=10)
    (folder / "a.pose").write_bytes(b"")  # only its presence matters here
    clips = {c.clip_id: c for c in read_inputs([folder])}
    assert clips["a"].landmarks == str(folder / "a.pose") and clips["b"].landmarks is None
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"clip_id": "x", "video": "videos/b.mp4", "pose": "poses/b.pose"}) + "\n")
    assert read_inputs([manifest])[0].landmarks == str(tmp_path / "poses/b.pose")


@pytest.mark.parametrize("stride", [1, 2])
def test_parse_poses_out_writes_what_pose_format_reads_and_parse_reads_back(tmp_path, stride):
    video = write_video(tmp_path / "clip.mp4", noise_frames(8, 160, 120), fps=10)
    npz = synthetic_landmarks(tmp_path / "clip.npz", 8, 160, 120)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"clip_id": "group/clip", "video": "clip.mp4", "landmarks": "clip.npz"}) + "\n")
    poses = tmp_path / "poses"
    assert (
        main(
            [
                "parse",
                str(manifest),
                "--out",
                str(tmp_path / "shards"),
                "--poses-out",
                str(poses),
                "--stride",
                str(stride),
                "--crop-size",
                str(CROP),
            ]
        )
        == 0
    )
    written = poses / "group__clip.pose"
    pose = Pose.read(written.read_bytes())
    kept = np.arange(0, 8, stride)
    assert pose.body.data.shape[0] == len(kept) and pose.body.fps == pytest.approx(10.0 / stride)
    expected = np.load(npz)
    np.testing.assert_array_equal(np.asarray(pose.body.data.data)[:, 0, :33, :2], expected["pose"][kept, :, :2])
    np.testing.assert_array_equal(np.asarray(pose.body.confidence)[:, 0, :33], expected["pose"][kept, :, 2])
    left = slice(33 + 468, 33 + 468 + 21)
    np.testing.assert_array_equal(
        np.asarray(pose.body.confidence)[:, 0, left].max(1), expected["present_left_hand"][kept].astype(np.float32)
    )
    if stride == 1:  # a whole video at stride 1: a full .pose, which parse reads back as the video's landmarks
        beside = tmp_path / "again"
        beside.mkdir()
        shutil.copy(video, beside / "clip.mp4")
        shutil.copy(written, beside / "clip.pose")
        clip = read_inputs([beside])[0]
        parser = FrameParser(crop_size=CROP, stride=2)
        np.testing.assert_array_equal(
            parser.parse_video(clip.video, landmarks=clip.landmarks).boxes,
            parser.parse_video(video, landmarks=npz).boxes,
        )
    # a rerun with everything written does nothing and succeeds; a deleted .pose is written again
    mtime = written.stat().st_mtime_ns
    assert (
        main(
            [
                "parse",
                str(manifest),
                "--out",
                str(tmp_path / "shards"),
                "--poses-out",
                str(poses),
                "--stride",
                str(stride),
                "--crop-size",
                str(CROP),
            ]
        )
        == 0
    )
    assert written.stat().st_mtime_ns == mtime
    written.unlink()
    assert (
        main(
            [
                "parse",
                str(manifest),
                "--out",
                str(tmp_path / "shards"),
                "--poses-out",
                str(poses),
                "--stride",
                str(stride),
                "--crop-size",
                str(CROP),
            ]
        )
        == 0
    )
    assert written.exists()


def test_translate_reads_a_pose_beside_the_video_without_mediapipe(tmp_path, monkeypatch, capsys):
    from signmusketeers.parsing import MediaPipeHolistic
    from tests.translate.test_inference import demo_checkpoint

    def no_mediapipe(*args, **kwargs):
        raise AssertionError("MediaPipe ran although every clip has a landmark file")

    monkeypatch.setattr(MediaPipeHolistic, "__call__", no_mediapipe)
    checkpoint = demo_checkpoint(tmp_path)
    video = write_video(tmp_path / "a.mp4", noise_frames(8, 160, 120), fps=10)
    shutil.copy(video, tmp_path / "b.mp4")
    npz = synthetic_landmarks(tmp_path / "a.npz", 8, 160, 120)
    save(video_to_pose_layout(npz, 160, 120, 10.0), tmp_path / "b.pose")  # the same landmarks, beside b.mp4
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"clip_id": "a", "video": "a.mp4", "landmarks": "a.npz"})
        + "\n"
        + json.dumps({"clip_id": "b", "video": "b.mp4"})
        + "\n"
    )
    assert main(["translate", str(manifest), "--checkpoint", str(checkpoint), "--json"]) == 0
    from_npz, from_pose = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert from_pose["text"] == from_npz["text"] and from_pose["frames"] == from_npz["frames"] == 4


@pytest.mark.slow
@pytest.mark.needs_shared_data
def test_real_clip_pose_file_matches_pose_formats_own_holistic_and_parses_the_same(shared_clips, tmp_path):
    from pose_format.utils.holistic import load_holistic

    from signmusketeers.parsing.video import probe_video, read_frames

    video = shared_clips / "signer_blue_screen.mp4"
    info = probe_video(video)
    parser = FrameParser(crop_size=CROP, stride=1)
    clip = parser.parse_video(video)  # MediaPipe Holistic
    ours = Pose.read(
        write_pose_file(tmp_path / "ours.pose", clip.landmarks, info.width, info.height, clip.fps).read_bytes()
    )
    # pose-format's own MediaPipe Holistic run on the same decoded frames: the layout video_to_pose writes
    theirs = load_holistic(
        [frame.image for frame in read_frames(video)],
        fps=clip.fps,
        width=info.width,
        height=info.height,
        additional_holistic_config={"model_complexity": 1},
        reuse=False,
    )
    assert [c.name for c in ours.header.components] == [c.name for c in theirs.header.components]
    assert [c.points for c in ours.header.components] == [c.points for c in theirs.header.components]
    # the same MediaPipe run on the same frames: the same numbers, to the bit, once stored as float32
    np.testing.assert_array_equal(np.asarray(ours.body.confidence), np.asarray(theirs.body.confidence, np.float32))
    np.testing.assert_array_equal(np.asarray(ours.body.data.data), np.asarray(theirs.body.data.data, np.float32))
    # and the file, read back as the clip's landmarks, gives MediaPipe's boxes and pose vector
    save(theirs, tmp_path / "theirs.pose")
    again = parser.parse_video(video, landmarks=tmp_path / "theirs.pose")
    np.testing.assert_array_equal(again.boxes, clip.boxes)
    np.testing.assert_array_equal(again.pose, clip.pose)


def test_written_header_is_pose_formats_holistic_header_byte_for_byte(tmp_path):
    from signmusketeers.parsing.posefile import HEADER_ASSET, write_header_asset

    # the packaged header is what pose-format's holistic_components() gives today
    assert write_header_asset(tmp_path / "header.pose").read_bytes() == HEADER_ASSET.read_bytes()
    path = write_pose_file(tmp_path / "clip.pose", random_landmarks(), width=160, height=120, fps=10)
    ours = Pose.read(path.read_bytes())
    header = PoseHeader(
        version=0.2,
        dimensions=PoseHeaderDimensions(width=160, height=120, depth=0),
        components=holistic_components("XYZC", 0),
    )
    theirs = tmp_path / "theirs.pose"
    save(
        Pose(
            header,
            NumPyPoseBody(fps=10, data=np.asarray(ours.body.data.data), confidence=np.asarray(ours.body.confidence)),
        ),
        theirs,
    )
    assert path.read_bytes() == theirs.read_bytes()
