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


H2S_HEADER = "VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART_REALIGNED\tEND_REALIGNED\tSENTENCE\n"


def test_how2sign_rows_cut_the_full_video_even_with_a_precut_clip_beside_the_csv(tmp_path: Path) -> None:
    rows = [
        "v1\t--7E2sU6zP4-5-rgb_front\ts1\t--7E2sU6zP4_10-5-rgb_front\t129.06\t142.48\t"
        "And I call them decorative elements.\n",
        "v1\t--7E2sU6zP4-5-rgb_front\ts2\t--7E2sU6zP4_11-5-rgb_front\t142.5\t150.0\tSo they're nice.\n",
    ]
    manifest = tmp_path / "how2sign_realigned_val.csv"
    manifest.write_text(H2S_HEADER + "".join(rows))
    full = touch(tmp_path / "--7E2sU6zP4-5-rgb_front.mp4")
    touch(tmp_path / "--7E2sU6zP4_10-5-rgb_front.mp4")  # a pre-cut clip: not aligned with these times, not used
    first, second = read_manifest(manifest)
    assert first.clip_id == "--7E2sU6zP4_10-5-rgb_front" and first.split == "val" and not first.problem
    assert first.video == str(full) and (first.start, first.end) == (129.06, 142.48)
    assert first.text == "And I call them decorative elements."
    assert second.video == str(full) and (second.start, second.end) == (142.5, 150.0)


def test_how2sign_precut_clips_only_when_named(tmp_path: Path) -> None:
    manifest = tmp_path / "how2sign_realigned_test.csv"
    manifest.write_text(
        H2S_HEADER + "v\tV-rgb_front\ts\tV_0-rgb_front\t1.0\t2.0\tHi.\n"
        "v\tV-rgb_front\ts\tV_1-rgb_front\t2.0\t3.0\tBye.\n"
    )
    clips = tmp_path / "test_rgb_front_clips"
    precut = touch(clips / "V_0-rgb_front.mp4")
    first, second = read_inputs([manifest], how2sign_clips=clips)
    assert first.video == str(precut) and first.start is None and first.end is None and not first.problem
    assert "V_1-rgb_front.* not found" in second.problem and "line 3" in second.problem


def test_how2sign_official_layout_and_videos_option(tmp_path: Path) -> None:
    root = tmp_path / "How2Sign"
    text = root / "sentence_level" / "test" / "text" / "en" / "raw_text" / "re_aligned"
    manifest = text / "how2sign_realigned_test.csv"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        H2S_HEADER + "v\tA-rgb_front\ts\tA_0-rgb_front\t1.0\t2.0\tHi.\n"
        "v\tB-rgb_front\ts\tB_0-rgb_front\t1.0\t2.0\tBye.\n"
    )
    full = touch(root / "video_level" / "test" / "rgb_front" / "raw_videos" / "A-rgb_front.mp4")
    a, b = read_inputs([manifest])
    assert a.video == str(full) and a.split == "test" and not a.problem
    # a missing full video: kept, with a one-line problem naming it and where it was looked for
    assert b.problem.startswith("full video B-rgb_front.* not found in ") and "raw_videos" in b.problem
    assert "how2sign_realigned_test.csv line 3" in b.problem and "\n" not in b.problem
    elsewhere = touch(tmp_path / "disk2" / "B-rgb_front.mp4")
    a, b = read_inputs([manifest], videos=[tmp_path / "disk2"])
    assert b.video == str(elsewhere) and not b.problem and "A-rgb_front.* not found" in a.problem


def test_how2sign_quotes_stay_as_written(tmp_path: Path) -> None:
    # an unbalanced quote opening a field would, with CSV quoting, swallow the tabs and lines after it
    manifest = tmp_path / "how2sign_realigned_train.csv"
    manifest.write_text(
        H2S_HEADER
        + 'v\tV\ts\tV_0\t1.0\t2.0\t"Hold it, he said.\n'
        + 'v\tV\ts\tV_1\t2.0\t3.0\tThe "good" one.\n'
        + 'v\tV\ts\tV_2\t3.0\t4.0\t""\n'
        + "v\tV\ts\tV_3\t4.0\t5.0\t\n"
    )
    clips = read_manifest(manifest)
    assert [c.text for c in clips] == ['"Hold it, he said.', 'The "good" one.', '""', ""]
    assert [c.start for c in clips] == [1.0, 2.0, 3.0, 4.0] and {c.split for c in clips} == {"train"}


@pytest.mark.parametrize(
    "row, reason",
    [
        ("v\tV\ts\tV_0\t1.0\t2.0\tHi.\textra\n", "line 2: 8 fields, the header has 7"),
        ("v\tV\ts\tV_0\tsoon\t2.0\tHi.\n", "line 2: START_REALIGNED 'soon' is not a number"),
        ("v\tV\ts\t\t1.0\t2.0\tHi.\n", "line 2: empty SENTENCE_NAME"),
    ],
)
def test_bad_how2sign_rows_name_the_line(tmp_path: Path, row: str, reason: str) -> None:
    manifest = tmp_path / "how2sign_realigned_val.csv"
    manifest.write_text(H2S_HEADER + row)
    with pytest.raises(ManifestError, match=reason):
        read_inputs([manifest])


def test_how2sign_segment_ending_before_it_starts_is_a_problem(tmp_path: Path) -> None:
    manifest = tmp_path / "how2sign_realigned_val.csv"
    manifest.write_text(H2S_HEADER + "v\tV\ts\tV_0\t5.0\t4.0\tHi.\n")
    touch(tmp_path / "V.mp4")
    (clip,) = read_manifest(manifest)
    assert "END_REALIGNED 4.0 is not after START_REALIGNED 5.0" in clip.problem


def test_phoenix_corpus_file(tmp_path: Path) -> None:
    release = tmp_path / "PHOENIX-2014-T"
    corpus = release / "annotations" / "manual" / "PHOENIX-2014-T.dev.corpus.csv"
    corpus.parent.mkdir(parents=True)
    corpus.write_text(
        "name|video|start|end|speaker|orth|translation\n"
        "11August_2010_Wednesday_tagesschau-2|11August_2010_Wednesday_tagesschau-2/1/*.png|-1|-1|Signer08|"
        "DRUCK TIEF KOMMEN|tiefer luftdruck bestimmt in den nächsten tagen unser wetter\n"
        "11August_2010_Wednesday_tagesschau-3|11August_2010_Wednesday_tagesschau-3/1/*.png|-1|-1|Signer08|"
        "ES-BEDEUTET VIEL WOLKE|das bedeutet viele wolken\n"
    )
    frames = release / "features" / "fullFrame-210x260px" / "dev"
    touch(frames / "11August_2010_Wednesday_tagesschau-2" / "images0001.png")  # the 2014T release: no 1/ level
    touch(frames / "11August_2010_Wednesday_tagesschau-3" / "1" / "images0001.png")  # the 2014 layout: 1/
    first, second = read_inputs([corpus])
    assert first.video == str(frames / "11August_2010_Wednesday_tagesschau-2") and first.fps == 25.0
    assert first.text == "tiefer luftdruck bestimmt in den nächsten tagen unser wetter" and first.split == "val"
    assert second.video == str(frames / "11August_2010_Wednesday_tagesschau-3" / "1") and not second.problem
    (frames / "11August_2010_Wednesday_tagesschau-3" / "1" / "images0001.png").unlink()
    (frames / "11August_2010_Wednesday_tagesschau-3" / "1").rmdir()
    (frames / "11August_2010_Wednesday_tagesschau-3").rmdir()
    _, missing = read_inputs([corpus])
    assert "frame folder 11August_2010_Wednesday_tagesschau-3/1 not found" in missing.problem
    elsewhere = touch(tmp_path / "disk2" / "dev" / "11August_2010_Wednesday_tagesschau-3" / "images0001.png").parent
    _, found = read_inputs([corpus], videos=[tmp_path / "disk2"])  # above the split folders
    assert found.video == str(elsewhere) and not found.problem


def test_folders_of_frames_are_clips(tmp_path: Path) -> None:
    touch(tmp_path / "frames" / "a" / "images0001.png")
    touch(tmp_path / "frames" / "b" / "0001.jpg")
    (single,) = read_inputs([tmp_path / "frames" / "a"], frame_rate=30)
    assert single == InputClip(clip_id="a", video=str(tmp_path / "frames" / "a"), fps=30)
    assert [(c.clip_id, c.fps) for c in read_inputs([tmp_path / "frames"])] == [("a", None), ("b", None)]


def test_our_csv_columns(tmp_path: Path) -> None:
    manifest = tmp_path / "clips.csv"
    manifest.write_text('clip_id,video,start,end,text,split\nx,x.mp4,,,"Hi, there.",val\n')
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
