"""translate on corpus manifests: How2Sign rows are segments of the full videos, a missing video is one line."""

from pathlib import Path

import signmusketeers.parsing
from signmusketeers.cli import main
from tests.translate.test_inference import FakeParser, demo_checkpoint

HEADER = "VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART_REALIGNED\tEND_REALIGNED\tSENTENCE\n"


def test_translate_how2sign_rows_cut_the_full_videos(tmp_path: Path, monkeypatch, capsys) -> None:
    checkpoint = demo_checkpoint(tmp_path)
    parsers = []
    monkeypatch.setattr(
        signmusketeers.parsing, "FrameParser", lambda **kwargs: parsers.append(FakeParser(**kwargs)) or parsers[-1]
    )
    manifest = tmp_path / "how2sign_realigned_test.csv"
    manifest.write_text(
        HEADER
        + "v\tfull-rgb_front\ts0\tfull_0-rgb_front\t61.5\t64.25\tThe first.\n"
        + "w\tgone-rgb_front\ts1\tgone_0-rgb_front\t1.0\t2.0\tNo video.\n"
    )
    videos = tmp_path / "raw_videos"
    videos.mkdir()
    (videos / "full-rgb_front.mp4").write_bytes(b"x")  # FakeParser never opens it
    (tmp_path / "full_0-rgb_front.mp4").write_bytes(b"x")  # a pre-cut clip beside the CSV: not used
    assert main(["translate", str(manifest), "--checkpoint", str(checkpoint), "--videos", str(videos)]) == 1
    err = capsys.readouterr().err
    (line,) = [text for text in err.splitlines() if "gone-rgb_front" in text]
    assert "full video gone-rgb_front.* not found in" in line and "line 3" in line
    (call,) = parsers[-1].calls
    assert call == (str(videos / "full-rgb_front.mp4"), {"clip_id": "full_0-rgb_front", "start": 61.5, "end": 64.25})
