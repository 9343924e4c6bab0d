"""``signmusketeers captions``: YouTube-style folders of videos + .vtt/.srt/.json3 captions → clip manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signmusketeers.cli import main
from signmusketeers.data.caption_files import read_captions
from signmusketeers.data.captions import select_cues
from signmusketeers.data.manifests import read_manifest

# YouTube's automatic captions as yt-dlp writes them: rolling lines, inline word timings, 10 ms repeat cues, and
# lines holding one space (\x20, so that no editor strips them).
AUTO_VTT = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.350 align:start position:0%
\x20
hello<00:00:00.480><c> everyone</c><00:00:00.960><c> welcome</c>

00:00:02.350 --> 00:00:02.360 align:start position:0%
hello everyone welcome
\x20

00:00:02.360 --> 00:00:05.000 align:start position:0%
hello everyone welcome
to<00:00:02.800><c> my</c><00:00:03.100><c> channel</c>

00:00:05.000 --> 00:00:05.010 align:start position:0%
to my channel
\x20

NOTE written by hand

00:00:05.010 --> 00:00:07.000 align:start position:0%
to my channel
[Music]

00:00:07.000 --> 00:00:09.500 align:start position:0%
[Music]
today<00:00:07.400><c> we</c><00:00:07.700><c> learn</c><00:00:08.000><c> signs</c>
"""

# Hand-made SubRip: byte-order mark, CRLF, index lines, comma decimals, formatting tags, a sound cue, an empty cue,
# a cue of 0.1 s and a 70 s cue.
SRT = (
    "\ufeff1\r\n00:00:01,000 --> 00:00:03,500\r\nHow are <i>you</i> today?\r\n\r\n"
    "2\r\n00:00:04,000 --> 00:00:05,000\r\n[Applause]\r\n\r\n"
    "3\r\n00:00:05,500 --> 00:00:07,000\r\nI&#39;m fine,\r\nthank you.\r\n\r\n"
    "4\r\n00:00:07,000 --> 00:00:07,100\r\nOK\r\n\r\n"
    "5\r\n00:00:08,000 --> 00:01:18,000\r\nA very long cue\r\n\r\n"
    "6\r\n00:01:20,000 --> 00:01:21,000\r\n   \r\n\r\n"
)

# YouTube json3: a window event, word events, a newline-only append event, an append with words, music notes.
JSON3 = {
    "wireMagic": "pb3",
    "events": [
        {"tStartMs": 0, "dDurationMs": 90000, "id": 1, "wpWinPosId": 1, "wsWinStyleId": 1},
        {
            "tStartMs": 500,
            "dDurationMs": 2000,
            "wWinId": 1,
            "segs": [{"utf8": "nice"}, {"utf8": " to", "tOffsetMs": 300}, {"utf8": " meet", "tOffsetMs": 600}],
        },
        {"tStartMs": 2400, "dDurationMs": 100, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": " you"}]},
        {"tStartMs": 2500, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
        {"tStartMs": 3000, "dDurationMs": 2000, "wWinId": 1, "segs": [{"utf8": "♪ ♪"}]},
        {"tStartMs": 5000, "dDurationMs": 3000, "wWinId": 1, "segs": [{"utf8": "see you &amp; bye"}]},
    ],
}


def _video(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")  # only paired by name here; parse decodes it later
    return path


@pytest.fixture
def youtube_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "youtube"
    _video(folder / "a-b_c1234XY.mp4")
    (folder / "a-b_c1234XY.en.vtt").write_text(AUTO_VTT)
    (folder / "a-b_c1234XY.de.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhallo\n")  # another language
    _video(folder / "srtvideo_01.webm")
    (folder / "srtvideo_01.en-US.srt").write_bytes(SRT.encode())
    _video(folder / "sub" / "jsonvid-_Z.mkv")
    (folder / "sub" / "jsonvid-_Z.en.json3").write_text(json.dumps(JSON3))
    return folder


def _captions(*argv: str) -> int:
    return main(["captions", *argv])


def test_youtube_folder_gives_one_clip_per_caption_cue(youtube_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "manifest.jsonl"
    assert _captions(str(youtube_folder), "--out", str(out), "--split", "train") == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    got = {row["clip_id"]: (row["start"], row["end"], row["text"]) for row in rows}
    assert got == {
        "a-b_c1234XY.0001": (0.0, 2.35, "hello everyone welcome"),
        "a-b_c1234XY.0003": (2.36, 5.0, "to my channel"),
        "a-b_c1234XY.0006": (7.0, 9.5, "today we learn signs"),
        "srtvideo_01.0001": (1.0, 3.5, "How are you today?"),
        "srtvideo_01.0003": (5.5, 7.0, "I'm fine, thank you."),
        "jsonvid-_Z.0001": (0.5, 2.5, "nice to meet you"),
        "jsonvid-_Z.0003": (5.0, 8.0, "see you & bye"),
    }
    assert {row["split"] for row in rows} == {"train"}
    # the manifest is one parse reads: videos resolved next to the manifest
    clips = {c.clip_id: c for c in read_manifest(out)}
    assert Path(clips["jsonvid-_Z.0001"].video) == (youtube_folder / "sub" / "jsonvid-_Z.mkv").resolve()
    assert clips["srtvideo_01.0003"].start == 5.5 and clips["srtvideo_01.0003"].end == 7.0
    dropped = [json.loads(line) for line in out.with_suffix(".dropped.jsonl").read_text().splitlines()]
    reasons = {row["clip_id"]: row["reason"] for row in dropped}
    assert reasons == {
        "a-b_c1234XY.0002": "rolling repeat",
        "a-b_c1234XY.0004": "rolling repeat",
        "a-b_c1234XY.0005": "non-speech",
        "srtvideo_01.0002": "non-speech",
        "srtvideo_01.0004": "too short",
        "srtvideo_01.0005": "too long",
        "srtvideo_01.0006": "empty",
        "jsonvid-_Z.0002": "non-speech",
    }
    err = capsys.readouterr().err
    assert "3 videos, 3 caption files read, 15 cues: 7 clips kept (train 7)" in err
    assert "empty 1, non-speech 3, rolling repeat 2, too long 1, too short 1" in err


def test_overlapping_cues_trim_drop_or_keep() -> None:
    from signmusketeers.data.caption_files import Cue

    cues = [Cue(1, 0.0, 3.0, "one"), Cue(2, 2.0, 4.0, "two"), Cue(3, 2.1, 6.0, "three")]
    kept, dropped = select_cues("v", cues, overlap="trim")
    # "one" ends where "two" starts; "two" is then cut to 0.1 s by "three", too short to keep
    assert [(c, s, e) for c, s, e, _ in kept] == [("v.0001", 0.0, 2.0), ("v.0003", 2.1, 6.0)]
    assert [(d.clip_id, d.reason) for d in dropped] == [("v.0002", "overlap")]
    kept, dropped = select_cues("v", cues, overlap="drop")
    assert [c for c, *_ in kept] == ["v.0001"] and [d.reason for d in dropped] == ["overlap", "overlap"]
    kept, _ = select_cues("v", cues, overlap="keep")
    assert [(s, e) for _, s, e, _ in kept] == [(0.0, 3.0), (2.0, 4.0), (2.1, 6.0)]


def test_bad_inputs_are_named_in_one_line_and_the_rest_is_written(youtube_folder: Path, tmp_path: Path, capsys) -> None:
    _video(youtube_folder / "broken.mp4")
    (youtube_folder / "broken.en.srt").write_bytes(b"\xff\xfe\x00garbage")
    _video(youtube_folder / "notvtt.mp4")
    (youtube_folder / "notvtt.vtt").write_text("this is not webvtt\n")
    _video(youtube_folder / "nocaptions.mp4")
    (youtube_folder / "lonely.en.json3").write_text('{"events": []}')
    (youtube_folder / "badjson.mp4").write_bytes(b"")
    (youtube_folder / "badjson.en.json3").write_text("{ nope")
    out = tmp_path / "m.jsonl"
    assert _captions(str(youtube_folder), "--out", str(out)) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    for name, reason in (
        ("broken.en.srt", "not UTF-8"),
        ("notvtt.vtt", "not a WebVTT file"),
        ("nocaptions.mp4", "no en caption file"),
        ("lonely.en.json3", "without a video"),
        ("badjson.en.json3", "not valid JSON"),
    ):
        assert sum(name in line and reason in line for line in lines) == 1, (name, lines)
    assert "5 problems" in lines[-2]
    assert len(out.read_text().splitlines()) == 7  # the good videos are all there


def test_readers_agree_on_the_same_cue(tmp_path: Path) -> None:
    (tmp_path / "x.vtt").write_text(
        "\ufeffWEBVTT\r\n\r\n1\r\n00:01.000 --> 00:02.500 line:90%\r\n<v Ann>Hi &amp; bye</v>\r\n"
    )
    (tmp_path / "x.srt").write_text("1\n00:00:01,000 --> 00:00:02,500\nHi &amp; bye\n")
    (tmp_path / "x.json3").write_text(
        json.dumps({"events": [{"tStartMs": 1000, "dDurationMs": 1500, "segs": [{"utf8": "Hi &amp; bye"}]}]})
    )
    for suffix in ("vtt", "srt", "json3"):
        kept, _ = select_cues("x", read_captions(tmp_path / f"x.{suffix}"))
        assert kept == [("x.0001", 1.0, 2.5, "Hi & bye")], suffix


@pytest.mark.needs_shared_data
def test_a_captions_manifest_parses_into_one_clip_per_cue(shared_clips: Path, tmp_path: Path) -> None:
    """Real signing video named as yt-dlp names downloads; its two cues become two clips that parse reads as is."""
    from signmusketeers.data.shards import open_dataset

    folder = tmp_path / "yt"
    folder.mkdir()
    (folder / "Ab-c_D12345.mp4").symlink_to(shared_clips / "signer_blue_screen.mp4")
    (folder / "Ab-c_D12345.en.vtt").write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:00.400\nFirst sentence.\n\n00:00:00.400 --> 00:00:00.800\nSecond one.\n"
    )
    manifest = tmp_path / "yt.jsonl"
    assert _captions(str(folder), "--out", str(manifest), "--split", "train") == 0
    assert main(["parse", str(manifest), "--out", str(tmp_path / "clips"), "--crop-size", "56"]) == 0
    records = {r["clip_id"]: r for r in open_dataset(tmp_path / "clips", "clips")}
    assert sorted(records) == ["Ab-c_D12345.0001", "Ab-c_D12345.0002"]
    first, second = records["Ab-c_D12345.0001"], records["Ab-c_D12345.0002"]
    assert first["text"] == "First sentence." and second["split"] == "train"
    assert first["timestamps"].max() < 0.4 <= second["timestamps"].min() and second["timestamps"].max() < 0.8


def test_split_videos_draws_whole_videos_the_same_way_every_time(youtube_folder: Path, tmp_path: Path) -> None:
    from signmusketeers.data.captions import video_split

    ids = [f"vid{i:05d}" for i in range(4000)]
    splits = [video_split(i, {"val": 0.1, "test": 0.05}, seed=3) for i in ids]
    assert abs(splits.count("val") / 4000 - 0.1) < 0.02 and abs(splits.count("test") / 4000 - 0.05) < 0.015
    assert splits == [video_split(i, {"val": 0.1, "test": 0.05}, seed=3) for i in ids]
    assert splits != [video_split(i, {"val": 0.1, "test": 0.05}, seed=4) for i in ids]
    out = tmp_path / "m.jsonl"
    assert _captions(str(youtube_folder), "--out", str(out), "--split", "train", "--split-videos", "val=0.5") == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_video: dict[str, set[str]] = {}
    for row in rows:
        by_video.setdefault(row["video"], set()).add(row["split"])
    assert all(len(s) == 1 for s in by_video.values())  # a video's clips stay together
    assert set().union(*by_video.values()) <= {"train", "val"}
