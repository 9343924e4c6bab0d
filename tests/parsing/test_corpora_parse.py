"""`signmusketeers parse` on folders shaped like the official How2Sign and RWTH-PHOENIX-Weather 2014T downloads,
with real signing (the shared clips) and MediaPipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signmusketeers.cli import main
from signmusketeers.data.shard_manifest import read_failures
from signmusketeers.data.shards import open_dataset
from tests.parsing.corpus_media import clip_frames, encode, frame_folder

FPS = 25
HEADER = "VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART_REALIGNED\tEND_REALIGNED\tSENTENCE\n"


@pytest.fixture(scope="module")
def frames(shared_clips: Path) -> list[np.ndarray]:
    return clip_frames(shared_clips, 320, 240)


@pytest.fixture(scope="module")
def how2sign(frames, tmp_path_factory) -> Path:
    """``How2Sign/`` as the official download script lays it out: a 24 s full video (keyframes every 2 s), the
    re-aligned test CSV, and a pre-cut clip beside the CSV that is deliberately shifted by 2 s."""
    root = tmp_path_factory.mktemp("h2s") / "How2Sign"
    videos = root / "video_level" / "test" / "rgb_front" / "raw_videos"
    videos.mkdir(parents=True)
    encode(videos / "fullvid-1-rgb_front.mp4", frames, 24 * FPS, gop=50)
    text = root / "sentence_level" / "test" / "text" / "en" / "raw_text" / "re_aligned"
    text.mkdir(parents=True)
    (text / "how2sign_realigned_test.csv").write_text(
        HEADER
        + 'fullvid\tfullvid-1-rgb_front\tfullvid_0\tfullvid_0-1-rgb_front\t3.0\t3.6\t"Quoted," she signed.\n'
        + "fullvid\tfullvid-1-rgb_front\tfullvid_1\tfullvid_1-1-rgb_front\t23.4\t30.0\tIt ends past the video.\n"
        + "gone\tgone-1-rgb_front\tgone_0\tgone_0-1-rgb_front\t1.0\t2.0\tNo video for this one.\n"
        + "fullvid\tfullvid-1-rgb_front\tfullvid_2\tfullvid_2-1-rgb_front\t10.0\t10.3\t\n"
        + "fullvid\tfullvid-1-rgb_front\tfullvid_3\tfullvid_3-1-rgb_front\t30.0\t31.0\tAfter the end.\n"
    )
    shifted = frames[(5 * FPS) % len(frames) :] + frames  # the clip of 3.0-3.6 s, cut 2 s late
    encode(text / "fullvid_0-1-rgb_front.mp4", shifted, 15, gop=50)
    return root


def test_how2sign_uses_the_full_video_at_the_realigned_times(how2sign: Path, tmp_path: Path, capsys) -> None:
    manifest = next(how2sign.rglob("how2sign_realigned_test.csv"))
    out = tmp_path / "clips"
    assert main(["parse", str(manifest), "--out", str(out), "--crop-size", "32"]) == 1  # one video is missing
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "gone-1-rgb_front" in line]
    assert len(lines) == 1 and "full video gone-1-rgb_front.* not found" in lines[0] and "line 4" in lines[0]
    assert "1 segment ending past the video's end (cut at its end)" in err
    assert "'fullvid_2-1-rgb_front' of split 'test' has an empty transcript" in err
    records = {r["clip_id"]: r for r in open_dataset(out, "clips")}
    assert sorted(records) == ["fullvid_0-1-rgb_front", "fullvid_1-1-rgb_front", "fullvid_2-1-rgb_front"]
    first = records["fullvid_0-1-rgb_front"]
    assert first["text"] == '"Quoted," she signed.' and first["split"] == "test"
    # every second frame of the full video from 3.0 s (frame 75) to before 3.6 s: not the shifted pre-cut clip
    assert list(first["frames"]) == list(range(75, 90, 2))
    assert np.allclose(first["timestamps"], np.arange(75, 90, 2) / FPS)
    past = records["fullvid_1-1-rgb_front"]
    assert past["frames"][0] == 585 and past["frames"][-1] == 599  # 23.4 s up to the last frame (23.96 s)
    (line,) = [line for line in err.splitlines() if "starts at" in line]
    assert "fullvid-1-rgb_front.mp4: the segment starts at 30.000 s, after the video's end (24.000 s)" in line
    assert sorted(f["key"] for f in read_failures(out)) == ["fullvid_3-1-rgb_front", "gone_0-1-rgb_front"]


def test_how2sign_precut_clips_when_asked_warn_why(how2sign: Path, tmp_path: Path, capsys) -> None:
    manifest = next(how2sign.rglob("how2sign_realigned_test.csv"))
    out = tmp_path / "clips"
    assert (
        main(["parse", str(manifest), "--out", str(out), "--crop-size", "32", "--how2sign-clips", str(manifest.parent)])
        == 1
    )  # only one pre-cut clip is there
    err = capsys.readouterr().err
    assert "warning: using How2Sign's pre-cut sentence clips" in err and "not aligned" in err
    (record,) = open_dataset(out, "clips")
    assert record["clip_id"] == "fullvid_0-1-rgb_front" and record["timestamps"][0] == 0.0


def test_phoenix_release_parses(frames, tmp_path: Path, capsys) -> None:
    release = tmp_path / "PHOENIX-2014-T"
    corpus = release / "annotations" / "manual" / "PHOENIX-2014-T.test.corpus.csv"
    corpus.parent.mkdir(parents=True)
    corpus.write_text(
        "name|video|start|end|speaker|orth|translation\n"
        "01April_2010_Thursday_heute-6694|01April_2010_Thursday_heute-6694/1/*.png|-1|-1|Signer04|"
        "REGEN|am tag regnet es im norden\n"
    )
    import cv2

    small = [cv2.resize(image, (210, 260), interpolation=cv2.INTER_AREA) for image in frames[40:56]]
    frame_folder(release / "features" / "fullFrame-210x260px" / "test" / "01April_2010_Thursday_heute-6694", small)
    out = tmp_path / "clips"
    assert main(["parse", str(corpus), "--out", str(out), "--crop-size", "32"]) == 0, capsys.readouterr().err
    (record,) = open_dataset(out, "clips")
    assert record["text"] == "am tag regnet es im norden" and record["split"] == "test"
    assert list(record["frames"]) == list(range(0, 16, 2)) and np.allclose(record["timestamps"], record["frames"] / 25)
    assert list(record["size"]) == [260, 210] and record["fps"][0] == 25


def test_sideways_phone_video_parses_like_the_upright_one(frames, tmp_path: Path) -> None:
    from signmusketeers.parsing import FrameParser

    upright = frames[60:72]
    sideways = [np.ascontiguousarray(np.rot90(image, -1)) for image in upright]  # stored a quarter turn right
    upright_path = encode(tmp_path / "upright.mp4", upright, len(upright), bframes=0)
    phone_path = encode(tmp_path / "phone.mp4", sideways, len(sideways), bframes=0, rotation=90)  # shown turned back
    parser = FrameParser(crop_size=32)
    try:
        reference = parser.parse_video(upright_path)
        phone = parser.parse_video(phone_path)
    finally:
        parser.close()
    assert phone.size == reference.size == (240, 320)
    seen = (reference.pose >= 0).all(axis=1)
    assert seen.sum() >= 6  # MediaPipe found the signer
    assert np.abs(phone.pose[seen] - reference.pose[seen]).mean() < 0.03
