"""Input manifests: single files, folders, SynthSign/JSONL manifests and How2Sign's CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signmusketeers.data.manifests import InputClip, ManifestError, read_inputs, read_manifest


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_files_and_folders(tmp_path: Path) -> None:
    touch(tmp_path / "videos" / "a.mp4")
    touch(tmp_path / "videos" / "sub" / "b.webm")
    touch(tmp_path / "videos" / "notes.txt")
    single = touch(tmp_path / "c.gif")
    clips = read_inputs([tmp_path / "videos", single])
    assert [c.clip_id for c in clips] == ["a", "sub/b", "c"]
    assert clips[2] == InputClip(clip_id="c", video=str(single))


def test_jsonl_manifest_resolves_relative_paths(tmp_path: Path) -> None:
    lines = [
        {"clip_id": "s0", "video": "videos/s0.mp4", "landmarks": "landmarks/s0.npz", "start": None, "end": None,
         "text": "Hello.", "split": "train", "fps": 25},
        {"clip_id": "s1", "video": "/abs/s1.mp4", "start": 1.5, "end": "3", "text": "Bye.", "split": "test"},
    ]  # fmt: skip
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    first, second = read_inputs([tmp_path])  # a folder with manifest.jsonl is read through it
    assert first.video == str(tmp_path / "videos/s0.mp4") and first.landmarks == str(tmp_path / "landmarks/s0.npz")
    assert first.text == "Hello." and first.split == "train" and first.start is None
    assert second.video == "/abs/s1.mp4" and (second.start, second.end) == (1.5, 3.0) and second.landmarks is None


def test_how2sign_csv(tmp_path: Path) -> None:
    header = "VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART_REALIGNED\tEND_REALIGNED\tSENTENCE\n"
    rows = [
        "v1\t--7E2sU6zP4-5-rgb_front\ts1\t--7E2sU6zP4_10-5-rgb_front\t129.06\t142.48\tAnd I call them decorative elements.\n",
        "v1\t--7E2sU6zP4-5-rgb_front\ts2\t--7E2sU6zP4_11-5-rgb_front\t142.5\t150.0\tSo they're nice.\n",
    ]
    manifest = tmp_path / "how2sign_realigned_val.csv"
    manifest.write_text(header + "".join(rows))
    touch(tmp_path / "--7E2sU6zP4_10-5-rgb_front.mp4")  # a pre-cut clip: used whole
    cut, segment = read_manifest(manifest)
    assert cut.clip_id == "--7E2sU6zP4_10-5-rgb_front" and cut.start is None and cut.split == "val"
    assert cut.text == "And I call them decorative elements."
    # no pre-cut clip: the segment of the full video
    assert segment.video == str(tmp_path / "--7E2sU6zP4-5-rgb_front.mp4") and (segment.start, segment.end) == (142.5, 150.0)


def test_our_csv_columns(tmp_path: Path) -> None:
    manifest = tmp_path / "clips.csv"
    manifest.write_text("clip_id,video,start,end,text,split\nx,x.mp4,,,\"Hi, there.\",val\n")
    (clip,) = read_manifest(manifest)
    assert clip.video == str(tmp_path / "x.mp4") and clip.text == "Hi, there." and clip.start is None


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"clip_id": "a"}\n', "line 1: missing video"),
        ("not json\n", "line 1: not valid JSON"),
        ('{"clip_id": "a", "video": "a.mp4", "start": "soon"}\n', "start 'soon' is not a number"),
        ("", "lists no clips"),
    ],
)
def test_bad_manifests_name_the_file_and_line(tmp_path: Path, content: str, reason: str) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(content)
    with pytest.raises(ManifestError, match=reason) as error:
        read_inputs([manifest])
    assert str(error.value).startswith(str(manifest))


def test_duplicate_clip_ids_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="clip id 'a' is also used"):
        read_inputs([touch(tmp_path / "one" / "a.mp4"), touch(tmp_path / "two" / "a.mp4")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no video files"):
        read_inputs([tmp_path / "empty"])
